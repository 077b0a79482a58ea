//! Validators for atproto identifier strings: DIDs, handles, NSIDs, TIDs, record keys,
//! AT-URIs, and the Lexicon string formats (datetime, language, CID, URI).
//!
//! Scope: syntax only. Nothing here resolves a DID or handle, checks that a DID's method is
//! one a relay supports, or applies registration policy such as disallowed TLDs.
//!
//! Every validator returns `Ok(())` or a [`SyntaxError`] naming the kind of identifier and
//! what was wrong. Lengths are checked before anything else, so an adversarial string costs
//! at most one linear scan. The behaviour follows the atproto specs and the interop test
//! vectors (`syntax/*_syntax_{valid,invalid}.txt`), which the tests run in full.
//!
//! [`Tid`] is also a value type: it parses, compares (numeric order equals string order),
//! prints, and exposes its timestamp so a relay can reject revs from the future.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod at_identifier;
mod aturi;
mod cid_text;
mod datetime;
mod did;
mod handle;
mod language;
mod nsid;
mod record_key;
mod tid;
mod uri;

pub use at_identifier::validate_at_identifier;
pub use aturi::validate_at_uri;
pub use cid_text::validate_cid_string;
pub use datetime::{
    datetime_utc_micros, format_datetime, validate_datetime, validate_datetime_syntax,
};
pub use did::{did_method, validate_did, MAX_DID_LEN};
pub use handle::{normalize_handle, validate_handle, MAX_HANDLE_LEN};
pub use language::{validate_language, validate_language_syntax};
pub use nsid::{validate_nsid, MAX_NSID_LEN};
pub use record_key::{validate_record_key, MAX_RECORD_KEY_LEN};
pub use tid::{tid_timestamp_micros, validate_tid, Tid, TID_LEN};
pub use uri::validate_uri;

/// Which kind of identifier a [`SyntaxError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyntaxKind {
    /// A DID (`did:method:identifier`).
    Did,
    /// A handle (a DNS hostname).
    Handle,
    /// Either a DID or a handle, as in the authority of an AT-URI.
    AtIdentifier,
    /// A Namespaced Identifier such as `app.bsky.feed.post`.
    Nsid,
    /// A timestamp identifier (also the format of a commit `rev`).
    Tid,
    /// A record key.
    RecordKey,
    /// An `at://` URI.
    AtUri,
    /// A Lexicon `datetime` string.
    Datetime,
    /// A BCP-47 language tag.
    Language,
    /// A CID in string form.
    Cid,
    /// A generic URI (Lexicon `uri` format).
    Uri,
}

impl std::fmt::Display for SyntaxKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyntaxKind::Did => "DID",
            SyntaxKind::Handle => "handle",
            SyntaxKind::AtIdentifier => "at-identifier",
            SyntaxKind::Nsid => "NSID",
            SyntaxKind::Tid => "TID",
            SyntaxKind::RecordKey => "record key",
            SyntaxKind::AtUri => "AT-URI",
            SyntaxKind::Datetime => "datetime",
            SyntaxKind::Language => "language tag",
            SyntaxKind::Cid => "CID string",
            SyntaxKind::Uri => "URI",
        })
    }
}

/// An identifier string that does not follow its syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct SyntaxError {
    /// The kind of identifier that was expected.
    pub kind: SyntaxKind,
    /// What was wrong, in a few words.
    pub reason: &'static str,
}

impl SyntaxError {
    pub(crate) fn new(kind: SyntaxKind, reason: &'static str) -> Self {
        SyntaxError { kind, reason }
    }
}
