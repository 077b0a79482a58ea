//! NSID syntax (atproto NSID spec): reversed domain authority plus a name, e.g.
//! `app.bsky.feed.post`.

use super::{SyntaxError, SyntaxKind};

/// Longest NSID accepted, in bytes.
pub const MAX_NSID_LEN: usize = 317;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Nsid, reason)
}

/// Checks NSID syntax: at least three `.`-separated segments of 1 to 63 characters; domain
/// segments are `[A-Za-z0-9-]` without a leading or trailing `-` (the first starts with a
/// letter); the final name segment is a letter followed by letters and digits.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Nsid`].
pub fn validate_nsid(nsid: &str) -> Result<(), SyntaxError> {
    if nsid.len() > MAX_NSID_LEN {
        return Err(err("too long"));
    }
    let (authority, name) = nsid
        .rsplit_once('.')
        .ok_or(err("needs at least three segments"))?;
    let mut segments = 0usize;
    for (idx, segment) in authority.split('.').enumerate() {
        check_domain_segment(segment, idx == 0)?;
        segments += 1;
    }
    if segments < 2 {
        return Err(err("needs at least three segments"));
    }
    if name.is_empty() || name.len() > 63 {
        return Err(err("name segment must be 1 to 63 characters"));
    }
    let mut bytes = name.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return Err(err("name segment must start with a letter"));
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric()) {
        return Err(err("name segment must be letters and digits"));
    }
    Ok(())
}

fn check_domain_segment(segment: &str, first: bool) -> Result<(), SyntaxError> {
    if segment.is_empty() || segment.len() > 63 {
        return Err(err("domain segment must be 1 to 63 characters"));
    }
    if !segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(err("disallowed character in domain segment"));
    }
    if segment.starts_with('-') || segment.ends_with('-') {
        return Err(err("domain segment starts or ends with '-'"));
    }
    if first
        && !segment
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
    {
        return Err(err("first segment must start with a letter"));
    }
    Ok(())
}
