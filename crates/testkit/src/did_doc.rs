//! DIDs and DID documents for fake accounts.

use std::collections::BTreeMap;

use atrelay_repo::cbor::encode_atproto_value;
use atrelay_repo::crypto::PublicKey;
use data_encoding::BASE32_NOPAD;
use ipld_core::ipld::Ipld;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// What a DID document says about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidDocument {
    /// The DID (`id`).
    pub did: String,
    /// The handle, written as `at://<handle>` in `alsoKnownAs`.
    pub handle: String,
    /// The `#atproto` signing key.
    pub signing_key: PublicKey,
    /// The `#atproto_pds` service endpoint, e.g. `http://127.0.0.1:4000`.
    pub pds_endpoint: String,
}

impl DidDocument {
    /// The document as atproto JSON: `id`, `alsoKnownAs`, a `Multikey` `#atproto` verification
    /// method and an `AtprotoPersonalDataServer` `#atproto_pds` service.
    pub fn to_json(&self) -> Value {
        did_document_json(
            &self.did,
            &self.handle,
            &self.signing_key.to_multikey(),
            &self.pds_endpoint,
        )
    }
}

/// A DID document as atproto JSON from its parts as text: `id`, `alsoKnownAs`, a `Multikey`
/// `#atproto` verification method (`multikey` is its `publicKeyMultibase`) and an
/// `AtprotoPersonalDataServer` `#atproto_pds` service at `pds_endpoint`.
pub fn did_document_json(did: &str, handle: &str, multikey: &str, pds_endpoint: &str) -> Value {
    json!({
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
            "https://w3id.org/security/suites/secp256k1-2019/v1"
        ],
        "id": did,
        "alsoKnownAs": [format!("at://{handle}")],
        "verificationMethod": [{
            "id": format!("{did}#atproto"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": multikey,
        }],
        "service": [{
            "id": "#atproto_pds",
            "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": pds_endpoint,
        }],
    })
}

/// A did:plc identifier derived as PLC does it: the first 24 characters of the base32
/// SHA-256 of a DAG-CBOR genesis operation (here unsigned, with a random nonce so two calls
/// with the same inputs give different DIDs).
pub fn new_plc_did(signing_key: &PublicKey, handle: &str, pds_endpoint: &str) -> String {
    let mut op = BTreeMap::new();
    op.insert("type".to_owned(), Ipld::String("plc_operation".into()));
    op.insert(
        "rotationKeys".to_owned(),
        Ipld::List(vec![Ipld::String(signing_key.to_did_key())]),
    );
    op.insert(
        "alsoKnownAs".to_owned(),
        Ipld::List(vec![Ipld::String(format!("at://{handle}"))]),
    );
    op.insert("services".to_owned(), Ipld::String(pds_endpoint.to_owned()));
    op.insert("prev".to_owned(), Ipld::Null);
    op.insert(
        "nonce".to_owned(),
        Ipld::Integer(i128::from(rand::random::<i64>())),
    );
    // Strings, lists, null and a 64-bit integer are always encodable.
    let bytes = encode_atproto_value(&Ipld::Map(op)).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    let text = BASE32_NOPAD.encode(&digest).to_ascii_lowercase();
    // Base32 of a 32-byte digest is 52 characters.
    format!("did:plc:{}", text.get(..24).unwrap_or(&text))
}

/// The did:web DID of a loopback host on `port`: `did:web:localhost%3A<port>`.
pub fn loopback_web_did(port: u16) -> String {
    format!("did:web:localhost%3A{port}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use atrelay_repo::crypto::SigningKey;
    use atrelay_repo::syntax::validate_did;

    #[test]
    fn plc_dids_are_valid_and_distinct() {
        let key = SigningKey::generate_k256().public_key();
        let a = new_plc_did(&key, "a.test", "http://127.0.0.1:1");
        let b = new_plc_did(&key, "a.test", "http://127.0.0.1:1");
        assert_ne!(a, b);
        validate_did(&a).unwrap();
        assert_eq!(a.len(), "did:plc:".len() + 24);
        assert!(a["did:plc:".len()..]
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')));
        validate_did(&loopback_web_did(8080)).unwrap();
    }
}
