//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// What can go wrong with the event log; each variant says what the caller should do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call on a log file failed.
    /// During an append this is fatal for the log (see [`Error::Failed`]); elsewhere the
    /// operation can be retried.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation that failed, for example "fsync" or "open segment".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Bytes on disk do not decode where durable data must be: an operator has to look.
    /// (A torn tail of the newest segment is not corruption: it is truncated on open.)
    #[error("corrupt event log file {path} at offset {offset}: {reason}")]
    Corruption {
        /// The file holding the bad bytes.
        path: PathBuf,
        /// Byte offset of the bad record or header.
        offset: u64,
        /// What did not check out.
        reason: String,
    },
    /// The configuration cannot work; the message names the field.
    #[error("invalid event log configuration: {0}")]
    InvalidConfig(String),
    /// Another process (or another `EventLog` in this one) holds the log directory.
    #[error("event log directory {path} is locked by another process")]
    Locked {
        /// The log directory.
        path: PathBuf,
    },
    /// The DID is not storable: empty, longer than 2048 bytes, or containing whitespace or
    /// control characters.
    #[error("invalid DID {did:?}")]
    InvalidDid {
        /// The rejected DID (possibly truncated for display by the caller).
        did: String,
    },
    /// An event body exceeds [`crate::MAX_EVENT_BYTES`].
    #[error("event of {len} bytes exceeds the limit of {max} bytes")]
    EventTooLarge {
        /// The encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An origin note exceeds [`crate::MAX_NOTE_BYTES`] (the seq is not used).
    #[error("origin note of {len} bytes exceeds the limit of {max} bytes")]
    NoteTooLarge {
        /// The note's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The log stopped taking appends after an unrecoverable write or fsync failure; the
    /// events not yet durable are lost and the process should shut down and reopen the log.
    #[error("event log failed and takes no more appends: {reason}")]
    Failed {
        /// The original failure.
        reason: String,
    },
    /// The log was closed; no more appends, and readers have delivered everything durable.
    #[error("event log is closed")]
    Closed,
    /// A replay cursor is ahead of the newest durable event (`FutureCursor` on the wire).
    #[error("cursor {cursor} is ahead of the newest event {newest}")]
    FutureCursor {
        /// The requested cursor.
        cursor: i64,
        /// The newest durable seq at the time of the request.
        newest: i64,
    },
    /// [`EventLog::append_with_seq`](crate::EventLog::append_with_seq) was given a seq that
    /// is not above every seq the log handed out or was given before (the event is not
    /// stored): seqs never go back.
    #[error("seq {seq} is not above the log's newest seq {newest}")]
    SeqNotAfter {
        /// The seq given.
        seq: i64,
        /// The newest seq the log holds or has queued.
        newest: i64,
    },
    /// A replay cursor is negative.
    #[error("invalid cursor {cursor}: must not be negative")]
    InvalidCursor {
        /// The requested cursor.
        cursor: i64,
    },
    /// Retention removed events this reader had not yet read; the reader can no longer
    /// continue without a gap. Reconnect the consumer (it will get `OutdatedCursor`).
    #[error("reader fell behind retention: events after seq {seq} were deleted")]
    FellBehind {
        /// The last seq the reader had read.
        seq: i64,
    },
}

impl Error {
    /// Wraps an [`io::Error`] with the operation and path it came from.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds a [`Error::Corruption`].
    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
