//! At-identifiers: a DID or a handle, as in the authority of an AT-URI.

use super::{validate_did, validate_handle, SyntaxError, SyntaxKind};

/// Checks that the string is a valid DID (when it starts with `did:`) or a valid handle.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::AtIdentifier`].
pub fn validate_at_identifier(ident: &str) -> Result<(), SyntaxError> {
    let res = if ident.starts_with("did:") {
        validate_did(ident)
    } else {
        validate_handle(ident)
    };
    res.map_err(|inner| SyntaxError::new(SyntaxKind::AtIdentifier, inner.reason))
}
