//! DID documents: the parts of a document the relay uses, parsed and checked.
//!
//! Rules (atproto DID spec, method-agnostic):
//! - `id` must equal the DID that was resolved;
//! - the signing key is the first `verificationMethod` whose id is `#atproto` (relative) or
//!   `<did>#atproto` (absolute) and whose `controller` is the DID; `Multikey` and the legacy
//!   `EcdsaSecp256k1VerificationKey2019` / `EcdsaSecp256r1VerificationKey2019` types are read;
//! - the PDS is the first `service` whose id is `#atproto_pds` or `<did>#atproto_pds` and whose
//!   type is `AtprotoPersonalDataServer`; its endpoint must be an `http(s)://host[:port]` URL
//!   without path, query, fragment or user info;
//! - the handle is the first `alsoKnownAs` entry of the form `at://<valid handle>`.
//!
//! A document without a usable key or PDS still parses: the account is then effectively
//! broken and the relay decides what to do (the sync spec says to ignore its commits).

use atrelay_repo::crypto::{PublicKey, LEGACY_K256_TYPE, LEGACY_P256_TYPE, MULTIKEY_TYPE};
use atrelay_repo::syntax::{normalize_handle, validate_handle};
use serde::Deserialize;
use serde_json::Value;

use crate::ResolveError;

/// The service type of a PDS entry.
const PDS_SERVICE_TYPE: &str = "AtprotoPersonalDataServer";

/// What the relay needs to know about an account, read from its DID document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The DID (equal to the document's `id`).
    pub did: String,
    /// The claimed handle (lowercase), not verified; `None` when the document names none.
    pub handle: Option<String>,
    /// The `#atproto` signing key; `None` when missing or unparseable.
    pub signing_key: Option<PublicKey>,
    /// The `#atproto_pds` endpoint, normalised to `scheme://host[:port]`.
    pub pds_endpoint: Option<String>,
    /// The PDS host (lowercase, with `:port` when the endpoint has a non-default port): what
    /// the relay compares with the host an event arrived from.
    pub pds_host: Option<String>,
}

/// The raw shape of a DID document; every field the relay does not use is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDocument {
    id: Option<Value>,
    #[serde(default)]
    also_known_as: Option<Vec<Value>>,
    #[serde(default)]
    verification_method: Option<Vec<Value>>,
    #[serde(default)]
    service: Option<Vec<Value>>,
}

impl Identity {
    /// Parses a DID document (JSON bytes) fetched for `did`.
    ///
    /// # Errors
    /// [`ResolveError::Malformed`] when the bytes are not a JSON object with a string `id`,
    /// [`ResolveError::WrongDid`] when `id` differs from `did`.
    pub fn from_document(did: &str, json: &[u8]) -> Result<Identity, ResolveError> {
        let malformed = |reason: String| ResolveError::Malformed {
            did: did.to_owned(),
            reason,
        };
        let raw: RawDocument =
            serde_json::from_slice(json).map_err(|err| malformed(err.to_string()))?;
        let id = match raw.id {
            Some(Value::String(id)) => id,
            Some(_) => return Err(malformed("id is not a string".into())),
            None => return Err(malformed("missing id".into())),
        };
        if id != did {
            return Err(ResolveError::WrongDid {
                did: did.to_owned(),
                found: id,
            });
        }
        let handle = raw
            .also_known_as
            .unwrap_or_default()
            .iter()
            .find_map(|aka| handle_from_aka(aka.as_str()?));
        let signing_key = raw
            .verification_method
            .unwrap_or_default()
            .iter()
            .filter(|method| is_fragment(method, did, "atproto"))
            .find_map(|method| signing_key(method, did));
        let pds = raw
            .service
            .unwrap_or_default()
            .iter()
            .filter(|service| is_fragment(service, did, "atproto_pds"))
            .find_map(pds_endpoint);
        let (pds_endpoint, pds_host) = match pds {
            Some((endpoint, host)) => (Some(endpoint), Some(host)),
            None => (None, None),
        };
        Ok(Identity {
            did: id,
            handle,
            signing_key,
            pds_endpoint,
            pds_host,
        })
    }
}

/// True when the entry's `id` is `#<fragment>` or `<did>#<fragment>`.
fn is_fragment(entry: &Value, did: &str, fragment: &str) -> bool {
    let Some(id) = entry.get("id").and_then(Value::as_str) else {
        return false;
    };
    let Some((prefix, frag)) = id.split_once('#') else {
        return false;
    };
    frag == fragment && (prefix.is_empty() || prefix == did)
}

fn handle_from_aka(aka: &str) -> Option<String> {
    let handle = aka.strip_prefix("at://")?;
    validate_handle(handle).ok()?;
    Some(normalize_handle(handle))
}

fn signing_key(method: &Value, did: &str) -> Option<PublicKey> {
    // A method controlled by another DID does not speak for this account. A missing
    // controller is tolerated, as some older did:web documents omit it.
    match method.get("controller") {
        None => {}
        Some(controller) if controller.as_str() == Some(did) => {}
        Some(_) => return None,
    }
    let method_type = method.get("type")?.as_str()?;
    let multibase = method.get("publicKeyMultibase")?.as_str()?;
    match method_type {
        MULTIKEY_TYPE => PublicKey::from_multikey(multibase).ok(),
        LEGACY_K256_TYPE | LEGACY_P256_TYPE => PublicKey::from_legacy(method_type, multibase).ok(),
        _ => None,
    }
}

/// Reads and normalises a PDS service endpoint: returns (`scheme://host[:port]`, host).
fn pds_endpoint(service: &Value) -> Option<(String, String)> {
    if service.get("type")?.as_str()? != PDS_SERVICE_TYPE {
        return None;
    }
    let endpoint = service.get("serviceEndpoint")?.as_str()?;
    let url = reqwest::Url::parse(endpoint).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    if !(url.path().is_empty() || url.path() == "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    Some((format!("{}://{host}", url.scheme()), host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use atrelay_repo::crypto::SigningKey;
    use serde_json::json;

    const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

    fn doc(value: serde_json::Value) -> Result<Identity, ResolveError> {
        Identity::from_document(DID, value.to_string().as_bytes())
    }

    #[test]
    fn multikey_document_with_relative_ids() {
        let key = SigningKey::generate_k256().public_key();
        let ident = doc(json!({
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": DID,
            "alsoKnownAs": ["https://not-a-handle.example", "at://Alice.Example.COM"],
            "verificationMethod": [{
                "id": "#atproto", "type": "Multikey", "controller": DID,
                "publicKeyMultibase": key.to_multikey()
            }],
            "service": [{
                "id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": "https://PDS.example.com/"
            }]
        }))
        .unwrap();
        assert_eq!(ident.did, DID);
        assert_eq!(ident.handle.as_deref(), Some("alice.example.com"));
        assert_eq!(ident.signing_key, Some(key));
        assert_eq!(
            ident.pds_endpoint.as_deref(),
            Some("https://pds.example.com")
        );
        assert_eq!(ident.pds_host.as_deref(), Some("pds.example.com"));
    }

    #[test]
    fn absolute_ids_and_ports() {
        let key = SigningKey::generate_p256().public_key();
        let ident = doc(json!({
            "id": DID,
            "verificationMethod": [
                {"id": "did:plc:other#atproto", "type": "Multikey", "controller": DID,
                 "publicKeyMultibase": SigningKey::generate_k256().public_key().to_multikey()},
                {"id": format!("{DID}#atproto"), "type": "Multikey", "controller": DID,
                 "publicKeyMultibase": key.to_multikey()}
            ],
            "service": [
                {"id": format!("{DID}#atproto_pds"), "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": "http://localhost:2583"}
            ]
        }))
        .unwrap();
        assert_eq!(ident.signing_key, Some(key));
        assert_eq!(ident.pds_host.as_deref(), Some("localhost:2583"));
        assert_eq!(ident.pds_endpoint.as_deref(), Some("http://localhost:2583"));
        assert_eq!(ident.handle, None);
    }

    #[test]
    fn legacy_key_forms() {
        // The legacy k256 key from the interop signature fixtures (no multicodec prefix).
        let ident = doc(json!({
            "id": DID,
            "verificationMethod": [{
                "id": "#atproto", "type": "EcdsaSecp256k1VerificationKey2019", "controller": DID,
                "publicKeyMultibase": "z25z9DTpsiYYJKGsWmSPJK2NFN8PcJtZig12K59UgW7q5t"
            }]
        }))
        .unwrap();
        assert_eq!(
            ident.signing_key.map(|k| k.to_did_key()).as_deref(),
            Some("did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc")
        );
    }

    #[test]
    fn rejected_parts_are_absent_not_errors() {
        let ident = doc(json!({
            "id": DID,
            "alsoKnownAs": ["at://not_a_handle", 7],
            "verificationMethod": [
                {"id": "#atproto", "type": "Multikey", "controller": "did:plc:someoneelse",
                 "publicKeyMultibase": SigningKey::generate_k256().public_key().to_multikey()},
                {"id": "#atproto", "type": "Ed25519VerificationKey2020", "controller": DID,
                 "publicKeyMultibase": "z6Mk"},
                {"id": "#atproto", "type": "Multikey", "controller": DID,
                 "publicKeyMultibase": "znotbase58!"}
            ],
            "service": [
                {"id": "#atproto_pds", "type": "Other", "serviceEndpoint": "https://a.example"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": "https://a.example/path"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": "https://user@a.example"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": "ftp://a.example"},
                {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                 "serviceEndpoint": {"uri": "https://a.example"}}
            ]
        }))
        .unwrap();
        assert_eq!(ident.handle, None);
        assert_eq!(ident.signing_key, None);
        assert_eq!(ident.pds_endpoint, None);
        assert_eq!(ident.pds_host, None);
    }

    #[test]
    fn wrong_or_missing_id() {
        assert_eq!(
            doc(json!({"id": "did:plc:another"})),
            Err(ResolveError::WrongDid {
                did: DID.into(),
                found: "did:plc:another".into()
            })
        );
        assert!(matches!(
            doc(json!({})),
            Err(ResolveError::Malformed { .. })
        ));
        assert!(matches!(
            doc(json!({"id": 5})),
            Err(ResolveError::Malformed { .. })
        ));
        assert!(matches!(
            doc(json!([1, 2])),
            Err(ResolveError::Malformed { .. })
        ));
        assert!(matches!(
            Identity::from_document(DID, b"{not json"),
            Err(ResolveError::Malformed { .. })
        ));
        assert!(matches!(
            doc(json!({"id": DID, "service": "nope"})),
            Err(ResolveError::Malformed { .. })
        ));
    }
}
