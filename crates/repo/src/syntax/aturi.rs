//! AT-URI syntax (Lexicon `at-uri` format): `at://<did-or-handle>[/<nsid>[/<rkey>]]`, with no
//! query, fragment or trailing slash.

use super::{validate_at_identifier, validate_nsid, validate_record_key, SyntaxError, SyntaxKind};

/// Longest AT-URI accepted, in bytes.
const MAX_AT_URI_LEN: usize = 8 * 1024;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::AtUri, reason)
}

/// Checks AT-URI syntax: the authority must be a DID or handle, an optional collection an NSID
/// and an optional record key a valid record key.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::AtUri`].
pub fn validate_at_uri(uri: &str) -> Result<(), SyntaxError> {
    if uri.len() > MAX_AT_URI_LEN {
        return Err(err("too long"));
    }
    let rest = uri
        .strip_prefix("at://")
        .ok_or(err("must start with \"at://\""))?;
    let mut parts = rest.splitn(3, '/');
    let authority = parts.next().unwrap_or_default();
    validate_at_identifier(authority)
        .map_err(|_| err("authority is neither a DID nor a handle"))?;
    if let Some(collection) = parts.next() {
        validate_nsid(collection).map_err(|_| err("collection is not an NSID"))?;
    }
    if let Some(rkey) = parts.next() {
        validate_record_key(rkey).map_err(|_| err("record key is invalid"))?;
    }
    Ok(())
}
