//! CID string syntax (Lexicon `cid` format): a loose, fast check of the text form only.

use super::{SyntaxError, SyntaxKind};

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Cid, reason)
}

/// Checks the text form of a CID: 8 to 256 characters from `[A-Za-z0-9+=]`, and not a
/// CIDv0 (`Qm…`, 46 characters), which atproto does not use. It does not decode the CID;
/// use [`crate::cid`] for that.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Cid`].
pub fn validate_cid_string(cid: &str) -> Result<(), SyntaxError> {
    if cid.len() < 8 {
        return Err(err("too short"));
    }
    if cid.len() > 256 {
        return Err(err("too long"));
    }
    if !cid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'=')
    {
        return Err(err("disallowed character"));
    }
    if cid.len() == 46 && cid.starts_with("Qm") {
        return Err(err("CIDv0 is not supported"));
    }
    Ok(())
}
