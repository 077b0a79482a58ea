//! The crate's error type.

use atrelay_repo::cbor::CborError;
use atrelay_repo::mst::MstError;

/// Why a testkit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A record path is not `<collection NSID>/<record key>`.
    #[error("invalid record path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A create names a path that already holds a record.
    #[error("record {path} already exists")]
    RecordExists {
        /// The path.
        path: String,
    },
    /// An update or delete names a path that holds no record.
    #[error("record {path} does not exist")]
    RecordMissing {
        /// The path.
        path: String,
    },
    /// One batch names the same path twice.
    #[error("path {path} appears twice in one batch")]
    DuplicatePath {
        /// The path.
        path: String,
    },
    /// A batch is empty or larger than the firehose allows.
    #[error("batch of {count} writes is outside 1..={max}")]
    BadBatchSize {
        /// Number of writes.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A record value could not be encoded as DAG-CBOR.
    #[error("record encoding failed: {0}")]
    Encode(#[from] CborError),
    /// The repository's MST refused an edit (a bug in the testkit or the MST).
    #[error("MST error: {0}")]
    Mst(#[from] MstError),
    /// No account with this DID is hosted here.
    #[error("unknown account {did}")]
    UnknownAccount {
        /// The DID.
        did: String,
    },
    /// The account already exists.
    #[error("account {did} already exists")]
    AccountExists {
        /// The DID.
        did: String,
    },
    /// A second did:web account was asked of a host that can serve only one document.
    #[error("this host already serves the did:web document of {did}")]
    DidWebTaken {
        /// The DID already served.
        did: String,
    },
    /// A did:web account cannot move: its document is served by its current PDS.
    #[error("{did} is a did:web account and cannot migrate")]
    CannotMigrate {
        /// The DID.
        did: String,
    },
    /// Binding or serving a socket failed.
    #[error("IO error: {0}")]
    Io(#[from] std::io::Error),
    /// An HTTP request made by a helper failed.
    #[error("HTTP error: {0}")]
    Http(#[from] reqwest::Error),
    /// A scenario file is not in the expected layout.
    #[error("scenario {path}: {reason}")]
    Scenario {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP request got an unexpected status.
    #[error("HTTP {status} from {url}: {body}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The response body (truncated).
        body: String,
    },
}
