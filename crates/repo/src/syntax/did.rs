//! DID syntax (atproto DID spec): `did:<method>:<identifier>`.

use super::{SyntaxError, SyntaxKind};

/// Longest DID accepted, in bytes.
pub const MAX_DID_LEN: usize = 2048;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Did, reason)
}

/// Checks DID syntax: `did:`, a lowercase method, `:`, then identifier characters
/// `[A-Za-z0-9._:%-]`, not ending in `:` or `%`, at most [`MAX_DID_LEN`] bytes.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Did`].
pub fn validate_did(did: &str) -> Result<(), SyntaxError> {
    if did.len() > MAX_DID_LEN {
        return Err(err("too long"));
    }
    let rest = did
        .strip_prefix("did:")
        .ok_or(err("must start with \"did:\""))?;
    let (method, identifier) = rest
        .split_once(':')
        .ok_or(err("missing method separator"))?;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(err("method must be lowercase letters"));
    }
    if identifier.is_empty() {
        return Err(err("empty method-specific identifier"));
    }
    if !identifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'%' | b'-'))
    {
        return Err(err("disallowed character"));
    }
    if identifier.ends_with(':') || identifier.ends_with('%') {
        return Err(err("must not end with ':' or '%'"));
    }
    Ok(())
}

/// The method of a syntactically valid DID (`plc` for `did:plc:…`).
///
/// # Errors
/// As [`validate_did`].
pub fn did_method(did: &str) -> Result<&str, SyntaxError> {
    validate_did(did)?;
    did.get(4..)
        .and_then(|rest| rest.split_once(':'))
        .map(|(method, _)| method)
        .ok_or(err("missing method separator"))
}
