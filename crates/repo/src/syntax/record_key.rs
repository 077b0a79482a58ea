//! Record key syntax (atproto record-key spec).

use super::{SyntaxError, SyntaxKind};

/// Longest record key accepted, in bytes.
pub const MAX_RECORD_KEY_LEN: usize = 512;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::RecordKey, reason)
}

/// Checks record key syntax: 1 to 512 characters from `[A-Za-z0-9._~:-]`, and not `.` or `..`.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::RecordKey`].
pub fn validate_record_key(rkey: &str) -> Result<(), SyntaxError> {
    if rkey.is_empty() {
        return Err(err("empty"));
    }
    if rkey.len() > MAX_RECORD_KEY_LEN {
        return Err(err("too long"));
    }
    if rkey == "." || rkey == ".." {
        return Err(err("'.' and '..' are not allowed"));
    }
    if !rkey
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b':' | b'-'))
    {
        return Err(err("disallowed character"));
    }
    Ok(())
}
