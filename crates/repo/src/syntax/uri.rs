//! Generic URI syntax (Lexicon `uri` format): a scheme and a non-empty, whitespace-free rest.

use super::{SyntaxError, SyntaxKind};

/// Longest URI accepted, in bytes.
const MAX_URI_LEN: usize = 8 * 1024;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Uri, reason)
}

/// Checks URI syntax loosely: a lowercase scheme `[a-z][a-z.-]{0,80}`, `:`, then at least one
/// printable non-space ASCII character; at most 8 KiB.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Uri`].
pub fn validate_uri(uri: &str) -> Result<(), SyntaxError> {
    if uri.len() > MAX_URI_LEN {
        return Err(err("too long"));
    }
    let (scheme, rest) = uri.split_once(':').ok_or(err("missing scheme"))?;
    let mut scheme_bytes = scheme.bytes();
    if !scheme_bytes.next().is_some_and(|b| b.is_ascii_lowercase()) {
        return Err(err("scheme must start with a lowercase letter"));
    }
    if scheme.len() > 81 || !scheme_bytes.all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'-')
    {
        return Err(err("invalid scheme"));
    }
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err("empty or contains whitespace or non-ASCII"));
    }
    Ok(())
}
