//! Error types of the index, the snapshot reader and the backfill crawler.

use atrelay_repo::syntax::SyntaxError;

/// What went wrong in a [`crate::CollectionIndex`] call.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The embedded store failed (IO, corruption, ...).
    #[error("collection index storage: {0}")]
    Storage(#[from] fjall::Error),
    /// The DID is not a syntactically valid DID.
    #[error("invalid DID {did:?}: {source}")]
    InvalidDid {
        /// The offending value.
        did: String,
        /// Why it is invalid.
        source: SyntaxError,
    },
    /// The collection is not a valid NSID.
    #[error("invalid collection NSID {collection:?}: {source}")]
    InvalidCollection {
        /// The offending value.
        collection: String,
        /// Why it is invalid.
        source: SyntaxError,
    },
    /// A record path is not `<collection>/<rkey>`.
    #[error("invalid record path {0:?}")]
    InvalidPath(String),
    /// A commit rev is not a TID.
    #[error("invalid rev {rev:?}: {source}")]
    InvalidRev {
        /// The offending value.
        rev: String,
        /// Why it is invalid.
        source: SyntaxError,
    },
    /// A stored value could not be decoded (the store was written by something else).
    #[error("corrupt index entry for {key:?}: {reason}")]
    Corrupt {
        /// The key whose value is bad.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The limit of a listing is out of range.
    #[error("limit must be between 1 and {max}, got {got}")]
    InvalidLimit {
        /// The largest allowed value.
        max: usize,
        /// What was asked for.
        got: usize,
    },
}

/// Why a `getRepo` CAR could not be turned into per-collection counts.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The CAR is malformed or a block does not hash to its CID.
    #[error("repository CAR: {0}")]
    Car(#[from] atrelay_repo::car::CarError),
    /// The root block is not a valid commit.
    #[error("repository commit: {0}")]
    Commit(#[from] atrelay_repo::commit::CommitError),
    /// The root commit block is missing from the CAR.
    #[error("repository CAR lacks its root commit block")]
    MissingCommit,
    /// The commit is for another account.
    #[error("repository belongs to {found}, expected {expected}")]
    WrongDid {
        /// The DID asked for.
        expected: String,
        /// The DID in the commit.
        found: String,
    },
    /// The commit has no rev (legacy v2 repository).
    #[error("repository commit has no rev")]
    NoRev,
    /// The MST is malformed or incomplete.
    #[error("repository MST: {0}")]
    Mst(#[from] atrelay_repo::mst::MstError),
}

/// What went wrong in the backfill crawler.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The host's base URL is not an http(s) URL.
    #[error("invalid base URL {url:?} for host {hostname:?}")]
    InvalidUrl {
        /// The host.
        hostname: String,
        /// The URL given.
        url: String,
    },
    /// The repository source refuses the base URL (the relay's outbound policy: a loopback or
    /// private address, plain http or a port outside dev mode).
    #[error("refused: {0}")]
    Refused(String),
    /// Persisted crawl progress could not be decoded.
    #[error("corrupt crawl progress for {hostname:?}: {reason}")]
    CorruptProgress {
        /// The host.
        hostname: String,
        /// What was wrong.
        reason: String,
    },
}

/// Why one request to a PDS failed during a crawl.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport failure, timeout or unreadable body (a short reason).
    #[error("http: {0}")]
    Http(String),
    /// The outbound policy refused the target (a non-public address, plain http or a port
    /// outside dev mode); retrying does not help.
    #[error("refused: {0}")]
    Refused(String),
    /// The PDS answered with a non-2xx status (a redirect included: none is followed). Only
    /// the status and the XRPC error name are kept, never the body.
    #[error("HTTP {status}{}", name_suffix(.error))]
    Xrpc {
        /// The HTTP status.
        status: u16,
        /// The XRPC error name (`RepoNotFound`, `RepoDeactivated`, ...), empty when the body
        /// was not an XRPC error.
        error: String,
    },
    /// The response body is larger than allowed (read stopped at the limit).
    #[error("response larger than the {limit}-byte limit")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is not what the lexicon says.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The repository CAR could not be read.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// ` RepoNotFound` for a named XRPC error, nothing otherwise.
fn name_suffix(error: &str) -> String {
    if error.is_empty() {
        String::new()
    } else {
        format!(" {error}")
    }
}
