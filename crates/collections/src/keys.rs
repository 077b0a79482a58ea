//! Key layout of the index partitions and identifier checks.
//!
//! - `listing`: `collection \0 did` → empty, only for visible accounts. A prefix scan in key
//!   order lists a collection's DIDs in DID order, so the cursor is simply the last DID.
//! - `pairs`: `did \0 collection` → exact record count (u64, big-endian), for every account.
//! - `dids`: `did` → per-account state ([`crate::meta::DidMeta`]).
//! - `counts`: `collection` → number of visible DIDs listed (u64, big-endian).
//! - `crawl`: `hostname` → persisted crawl progress (JSON).
//!
//! Neither DIDs nor NSIDs may contain a NUL byte, so `\0` separates the two parts safely.

use atrelay_repo::syntax::{validate_did, validate_nsid};

use crate::error::IndexError;

/// Separator between the two parts of a composite key.
pub(crate) const SEP: u8 = 0;

/// `a \0 b`.
pub(crate) fn join(a: &str, b: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1 + b.len());
    key.extend_from_slice(a.as_bytes());
    key.push(SEP);
    key.extend_from_slice(b.as_bytes());
    key
}

/// `a \0`: the prefix of every key whose first part is `a`.
pub(crate) fn prefix(a: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1);
    key.extend_from_slice(a.as_bytes());
    key.push(SEP);
    key
}

/// `a \x01`: the first key after every key with prefix `a \0`.
pub(crate) fn prefix_end(a: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1);
    key.extend_from_slice(a.as_bytes());
    key.push(SEP + 1);
    key
}

/// The second part of `a \0 b`, as text.
pub(crate) fn second(key: &[u8]) -> Result<&str, IndexError> {
    let at = key
        .iter()
        .position(|b| *b == SEP)
        .ok_or_else(|| corrupt(key, "no separator"))?;
    let rest = key.get(at + 1..).unwrap_or_default();
    std::str::from_utf8(rest).map_err(|_| corrupt(key, "not UTF-8"))
}

/// A u64 value.
pub(crate) fn decode_u64(key: &[u8], value: &[u8]) -> Result<u64, IndexError> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| corrupt(key, "value is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// A corrupt-entry error for `key`.
pub(crate) fn corrupt(key: &[u8], reason: &str) -> IndexError {
    IndexError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_owned(),
    }
}

/// Checks a DID's syntax.
pub(crate) fn check_did(did: &str) -> Result<(), IndexError> {
    validate_did(did).map_err(|source| IndexError::InvalidDid {
        did: did.to_owned(),
        source,
    })
}

/// Checks a collection NSID's syntax.
pub(crate) fn check_collection(collection: &str) -> Result<(), IndexError> {
    validate_nsid(collection).map_err(|source| IndexError::InvalidCollection {
        collection: collection.to_owned(),
        source,
    })
}
