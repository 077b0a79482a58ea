//! Why a DID could not be resolved.

/// Why a DID could not be resolved to an [`crate::Identity`].
///
/// The variants say what a caller should do: `NotFound` and `Tombstoned` mean the account has
/// no usable identity; `Timeout` and `Http` mean it could not be checked now and a later
/// retry may succeed; `Malformed`, `WrongDid` and `TooLarge` mean the host served something
/// unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The string is not a DID, or not one whose document can be fetched (for example a
    /// did:web with a path, or a port outside dev mode).
    #[error("cannot resolve {did:?}: {reason}")]
    InvalidDid {
        /// The DID as given.
        did: String,
        /// Why it cannot be resolved.
        reason: String,
    },
    /// The DID method is neither `plc` nor `web`.
    #[error("DID method of {did} is not supported (only plc and web)")]
    UnsupportedMethod {
        /// The DID as given.
        did: String,
    },
    /// The directory or host says the DID does not exist (HTTP 404).
    #[error("DID {did} not found")]
    NotFound {
        /// The DID.
        did: String,
    },
    /// The PLC directory says the DID was tombstoned (HTTP 410).
    #[error("DID {did} is tombstoned")]
    Tombstoned {
        /// The DID.
        did: String,
    },
    /// The document is not valid JSON or lacks a required field.
    #[error("DID document for {did} is malformed: {reason}")]
    Malformed {
        /// The DID.
        did: String,
        /// What was wrong.
        reason: String,
    },
    /// The document's `id` is a different DID.
    #[error("DID document for {did} has id {found:?}")]
    WrongDid {
        /// The DID that was requested.
        did: String,
        /// The `id` in the document.
        found: String,
    },
    /// The document is larger than the configured limit.
    #[error("DID document for {did} is larger than {limit} bytes")]
    TooLarge {
        /// The DID.
        did: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The request did not finish within the configured timeout.
    #[error("resolving {did} timed out")]
    Timeout {
        /// The DID.
        did: String,
    },
    /// The outbound policy refused the target: a loopback, private or otherwise non-public
    /// address, or a plain-http URL or port outside dev mode. Nothing was fetched.
    #[error("resolving {did} refused: {reason}")]
    Refused {
        /// The DID.
        did: String,
        /// The policy's reason.
        reason: String,
    },
    /// A transport failure or an unexpected HTTP status.
    #[error("resolving {did} failed: {message}")]
    Http {
        /// The DID.
        did: String,
        /// The HTTP status, when a response arrived.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
}

impl ResolveError {
    /// True when the answer is authoritative that the DID has no identity (not found or
    /// tombstoned), as opposed to a failure to check.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ResolveError::NotFound { .. } | ResolveError::Tombstoned { .. }
        )
    }

    /// True for failures that may go away on retry (timeouts and transport or server errors).
    pub fn is_transient(&self) -> bool {
        match self {
            ResolveError::Timeout { .. } => true,
            ResolveError::Http { status, .. } => status.is_none_or(|s| s >= 500 || s == 429),
            _ => false,
        }
    }

    /// The DID the error is about.
    pub fn did(&self) -> &str {
        match self {
            ResolveError::InvalidDid { did, .. }
            | ResolveError::UnsupportedMethod { did }
            | ResolveError::NotFound { did }
            | ResolveError::Tombstoned { did }
            | ResolveError::Malformed { did, .. }
            | ResolveError::WrongDid { did, .. }
            | ResolveError::TooLarge { did, .. }
            | ResolveError::Timeout { did }
            | ResolveError::Refused { did, .. }
            | ResolveError::Http { did, .. } => did,
        }
    }
}
