//! [`MstError`]: why an MST could not be loaded, read or edited.

use crate::cid::Cid;

/// Why an MST could not be loaded, read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MstError {
    /// A node needed for this operation is not among the available blocks.
    #[error("MST node {0} is not available")]
    MissingBlock(Cid),
    /// A node block is malformed or breaks the MST rules.
    #[error("invalid MST node {cid}: {reason}")]
    InvalidNode {
        /// The node's CID.
        cid: Cid,
        /// What is wrong with it.
        reason: String,
    },
    /// A key is empty or longer than [`MAX_KEY_LEN`](super::MAX_KEY_LEN).
    #[error("invalid MST key of {len} bytes")]
    InvalidKey {
        /// The key's length.
        len: usize,
    },
    /// An internal invariant did not hold (a bug, reported instead of panicking).
    #[error("MST invariant broken: {0}")]
    Corrupt(String),
    /// An earlier edit failed half way, so the tree can no longer be trusted.
    #[error("MST was left inconsistent by an earlier failed edit")]
    Poisoned,
}
