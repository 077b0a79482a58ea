//! Signed repository commits: `{did, version, data, rev, prev, sig}`.
//!
//! Version 3 is current: `rev` is required and `prev` must be present (almost always null).
//! Version 2 (legacy) is decoded too: `rev` may be absent. The signature covers the canonical
//! DAG-CBOR of the commit without `sig` ([`Commit::unsigned_bytes`]), hashed with SHA-256 by
//! the key type. The commit's CID is the dag-cbor CID of the signed encoding.
//!
//! Decoding is strict: unknown fields, a missing `prev`, or a v3 commit without `rev` are
//! errors, so the re-encoded unsigned bytes are exactly what the signer signed.

use serde::{Deserialize, Deserializer};

use crate::cbor::major::{MAP, UNSIGNED};
use crate::cbor::write_head;
use crate::cid::{cid_for_dag_cbor, Cid};
use crate::crypto::{PublicKey, SignatureError, SigningKey};
use crate::mst::out::{bytes, cid_or_null, text};
use crate::syntax::{validate_did, validate_tid, SyntaxError};

/// The current repository format version.
pub const REPO_VERSION: u64 = 3;

/// Why a commit block is unacceptable, or its signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The block is not a DAG-CBOR commit object of the expected shape.
    #[error("invalid commit object: {0}")]
    Decode(String),
    /// The commit has no `prev` field (it must be present, even if null).
    #[error("commit has no prev field")]
    MissingPrev,
    /// A version 3 commit has no `rev`.
    #[error("version 3 commit has no rev")]
    MissingRev,
    /// The version is neither 2 nor 3 (or not 3 where only 3 is accepted).
    #[error("unsupported commit version {0}")]
    UnsupportedVersion(u64),
    /// The `did` field is not a valid DID.
    #[error("commit did is invalid: {0}")]
    BadDid(SyntaxError),
    /// The `rev` field is not a valid TID.
    #[error("commit rev is invalid: {0}")]
    BadRev(SyntaxError),
    /// The signature does not verify with the given key.
    #[error("commit signature is invalid: {0}")]
    BadSignature(SignatureError),
}

/// A decoded, signed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The account DID.
    pub did: String,
    /// Repository format version (3, or legacy 2).
    pub version: u64,
    /// Root CID of the repository's MST.
    pub data: Cid,
    /// Revision (a TID); `None` only in legacy v2 commits.
    pub rev: Option<String>,
    /// The previous commit's CID (virtually always null in v3).
    pub prev: Option<Cid>,
    /// The signature bytes (64-byte compact form when valid).
    pub sig: Vec<u8>,
}

/// A commit before signing (what the signature covers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedCommit {
    /// The account DID.
    pub did: String,
    /// Root CID of the repository's MST.
    pub data: Cid,
    /// Revision (a TID), greater than every earlier rev of the repository.
    pub rev: String,
    /// The previous commit's CID; `None` as the spec recommends.
    pub prev: Option<Cid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitData {
    did: String,
    version: u64,
    data: Cid,
    #[serde(default)]
    rev: Option<String>,
    #[serde(default, deserialize_with = "present")]
    prev: Option<Option<Cid>>,
    #[serde(with = "serde_bytes")]
    sig: Vec<u8>,
}

/// Marks a field as present (even when null), so absence and null can be told apart.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Cid>>, D::Error> {
    Option::<Cid>::deserialize(d).map(Some)
}

impl Commit {
    /// Decodes a commit block (version 2 or 3).
    ///
    /// # Errors
    ///
    /// [`CommitError::Decode`] for malformed or unexpected fields, [`CommitError::MissingPrev`],
    /// [`CommitError::MissingRev`] (v3), [`CommitError::UnsupportedVersion`].
    pub fn decode(block: &[u8]) -> Result<Self, CommitError> {
        let data: CommitData = serde_ipld_dagcbor::from_slice(block)
            .map_err(|e| CommitError::Decode(e.to_string()))?;
        if data.version != 2 && data.version != REPO_VERSION {
            return Err(CommitError::UnsupportedVersion(data.version));
        }
        let prev = data.prev.ok_or(CommitError::MissingPrev)?;
        if data.version == REPO_VERSION && data.rev.is_none() {
            return Err(CommitError::MissingRev);
        }
        Ok(Self {
            did: data.did,
            version: data.version,
            data: data.data,
            rev: data.rev,
            prev,
            sig: data.sig,
        })
    }

    /// Checks what a current (v3) commit must satisfy: version 3, a valid DID and a valid
    /// TID `rev`.
    ///
    /// # Errors
    ///
    /// [`CommitError::UnsupportedVersion`], [`CommitError::MissingRev`],
    /// [`CommitError::BadDid`], [`CommitError::BadRev`].
    pub fn check_v3(&self) -> Result<(), CommitError> {
        if self.version != REPO_VERSION {
            return Err(CommitError::UnsupportedVersion(self.version));
        }
        let rev = self.rev.as_deref().ok_or(CommitError::MissingRev)?;
        validate_did(&self.did).map_err(CommitError::BadDid)?;
        validate_tid(rev).map_err(CommitError::BadRev)?;
        Ok(())
    }

    /// The canonical encoding without `sig`: the bytes the signature covers.
    pub fn unsigned_bytes(&self) -> Vec<u8> {
        encode(
            &self.did,
            self.version,
            &self.data,
            self.rev.as_deref(),
            self.prev.as_ref(),
            None,
        )
    }

    /// The canonical encoding of the signed commit (the block bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(
            &self.did,
            self.version,
            &self.data,
            self.rev.as_deref(),
            self.prev.as_ref(),
            Some(&self.sig),
        )
    }

    /// The CID of the signed commit block.
    pub fn cid(&self) -> Cid {
        cid_for_dag_cbor(&self.to_bytes())
    }

    /// Checks the signature with `key`.
    ///
    /// # Errors
    ///
    /// [`CommitError::BadSignature`] when it does not verify (wrong key, altered commit,
    /// high-S or non-compact signature).
    pub fn verify_signature(&self, key: &PublicKey) -> Result<(), CommitError> {
        key.verify(&self.unsigned_bytes(), &self.sig)
            .map_err(CommitError::BadSignature)
    }
}

impl UnsignedCommit {
    /// The canonical encoding of this unsigned commit (version 3).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(
            &self.did,
            REPO_VERSION,
            &self.data,
            Some(&self.rev),
            self.prev.as_ref(),
            None,
        )
    }

    /// Signs the commit with `key`.
    pub fn sign(self, key: &SigningKey) -> Commit {
        let sig = key.sign(&self.to_bytes());
        Commit {
            did: self.did,
            version: REPO_VERSION,
            data: self.data,
            rev: Some(self.rev),
            prev: self.prev,
            sig: sig.to_vec(),
        }
    }
}

/// Canonical DAG-CBOR of a commit; map keys sorted by length, then bytes:
/// `did, rev, sig, data, prev, version`.
fn encode(
    did: &str,
    version: u64,
    data: &Cid,
    rev: Option<&str>,
    prev: Option<&Cid>,
    sig: Option<&[u8]>,
) -> Vec<u8> {
    let n_fields = 4 + u64::from(rev.is_some()) + u64::from(sig.is_some());
    let mut out = Vec::with_capacity(200);
    write_head(&mut out, MAP, n_fields);
    text(&mut out, "did");
    text(&mut out, did);
    if let Some(rev) = rev {
        text(&mut out, "rev");
        text(&mut out, rev);
    }
    if let Some(sig) = sig {
        text(&mut out, "sig");
        bytes(&mut out, sig);
    }
    text(&mut out, "data");
    cid_or_null(&mut out, Some(data));
    text(&mut out, "prev");
    cid_or_null(&mut out, prev);
    text(&mut out, "version");
    write_head(&mut out, UNSIGNED, version);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_encode_decode_verify_round_trip() {
        let key = SigningKey::generate_k256();
        let unsigned = UnsignedCommit {
            did: "did:plc:abcdefghijklmnopqrstuvwx".into(),
            data: cid_for_dag_cbor(b"\xa0"),
            rev: "3lhhxizu5wr2d".into(),
            prev: None,
        };
        let commit = unsigned.clone().sign(&key);
        let bytes = commit.to_bytes();
        let decoded = Commit::decode(&bytes).unwrap();
        assert_eq!(decoded, commit);
        assert_eq!(decoded.unsigned_bytes(), unsigned.to_bytes());
        decoded.check_v3().unwrap();
        decoded.verify_signature(&key.public_key()).unwrap();
        // The encoder is canonical: the generic encoder agrees on the bytes.
        let generic: ipld_core::ipld::Ipld = serde_ipld_dagcbor::from_slice(&bytes).unwrap();
        assert_eq!(serde_ipld_dagcbor::to_vec(&generic).unwrap(), bytes);

        let mut other = decoded.clone();
        other.rev = Some("3lhhxizu5wr2e".into());
        assert!(matches!(
            other.verify_signature(&key.public_key()),
            Err(CommitError::BadSignature(_))
        ));
        let wrong_key = SigningKey::generate_p256().public_key();
        assert!(decoded.verify_signature(&wrong_key).is_err());
    }

    #[test]
    fn missing_prev_and_unknown_fields_are_rejected() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(
            "did".to_string(),
            ipld_core::ipld::Ipld::String("did:web:a.com".into()),
        );
        map.insert("version".to_string(), ipld_core::ipld::Ipld::Integer(3));
        map.insert(
            "data".to_string(),
            ipld_core::ipld::Ipld::Link(cid_for_dag_cbor(b"\xa0")),
        );
        map.insert(
            "rev".to_string(),
            ipld_core::ipld::Ipld::String("3lhhxizu5wr2d".into()),
        );
        map.insert("sig".to_string(), ipld_core::ipld::Ipld::Bytes(vec![0; 64]));
        let encode = |m: &std::collections::BTreeMap<String, ipld_core::ipld::Ipld>| {
            serde_ipld_dagcbor::to_vec(&ipld_core::ipld::Ipld::Map(m.clone())).unwrap()
        };
        assert_eq!(Commit::decode(&encode(&map)), Err(CommitError::MissingPrev));
        map.insert("prev".to_string(), ipld_core::ipld::Ipld::Null);
        assert!(Commit::decode(&encode(&map)).is_ok());
        map.insert("extra".to_string(), ipld_core::ipld::Ipld::Null);
        assert!(matches!(
            Commit::decode(&encode(&map)),
            Err(CommitError::Decode(_))
        ));
        map.remove("extra");
        map.remove("rev");
        assert_eq!(Commit::decode(&encode(&map)), Err(CommitError::MissingRev));
    }
}
