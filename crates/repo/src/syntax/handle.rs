//! Handle syntax (atproto handle spec): a DNS hostname with at least two labels.

use super::{SyntaxError, SyntaxKind};

/// Longest handle accepted, in bytes.
pub const MAX_HANDLE_LEN: usize = 253;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Handle, reason)
}

/// Checks handle syntax: ASCII labels of 1 to 63 characters `[A-Za-z0-9-]` that neither start
/// nor end with `-`, at least two labels, a last label (TLD) starting with a letter, and at
/// most [`MAX_HANDLE_LEN`] bytes. Disallowed TLDs are policy, not syntax, and pass here.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Handle`].
pub fn validate_handle(handle: &str) -> Result<(), SyntaxError> {
    if handle.is_empty() {
        return Err(err("empty"));
    }
    if handle.len() > MAX_HANDLE_LEN {
        return Err(err("too long"));
    }
    let mut labels = 0usize;
    let mut last = "";
    for label in handle.split('.') {
        check_label(label)?;
        labels += 1;
        last = label;
    }
    if labels < 2 {
        return Err(err("needs at least two labels"));
    }
    if !last.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return Err(err("top-level domain must start with a letter"));
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), SyntaxError> {
    if label.is_empty() {
        return Err(err("empty label"));
    }
    if label.len() > 63 {
        return Err(err("label longer than 63 characters"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(err("disallowed character"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(err("label starts or ends with '-'"));
    }
    Ok(())
}

/// The normalised (lowercase) form of a handle, as used for comparisons.
pub fn normalize_handle(handle: &str) -> String {
    handle.to_ascii_lowercase()
}
