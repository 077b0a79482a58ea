//! [`ProofError`]: why a commit message or its proof is invalid, one variant per failed check.

use crate::car::CarError;
use crate::cid::Cid;
use crate::commit::CommitError;
use crate::mst::MstError;

/// Why a commit message or its proof is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The CAR is larger than allowed; nothing was parsed.
    #[error("blocks are {len} bytes, over the limit of {limit}")]
    BlocksTooLarge {
        /// Size of `blocks`.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many operations.
    #[error("{count} operations, over the limit of {limit}")]
    TooManyOps {
        /// Number of operations.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An operation's fields do not fit its action, or its path is invalid or repeated.
    #[error("operation {index} ({path}) is malformed: {reason}")]
    BadOp {
        /// Position in `ops`.
        index: usize,
        /// Its path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The CAR itself is malformed or a block does not match its CID.
    #[error("bad CAR: {0}")]
    Car(CarError),
    /// The CAR's first root is not the commit CID the message names.
    #[error("CAR root {car_root} is not the message's commit {commit}")]
    CommitCidMismatch {
        /// The CAR's first root.
        car_root: Cid,
        /// The message's `commit`.
        commit: Cid,
    },
    /// The CAR does not hold the commit block.
    #[error("commit block {0} is not in the CAR")]
    MissingCommitBlock(Cid),
    /// The commit block is malformed, or not a valid v3 commit.
    #[error("bad commit: {0}")]
    Commit(CommitError),
    /// The commit's `did` is not the message's `repo`.
    #[error("commit did {commit_did} does not match the message repo {repo}")]
    RepoMismatch {
        /// The commit's DID.
        commit_did: String,
        /// The message's `repo`.
        repo: String,
    },
    /// The commit's `rev` is not the message's `rev`.
    #[error("commit rev {commit_rev} does not match the message rev {rev}")]
    RevMismatch {
        /// The commit's rev.
        commit_rev: String,
        /// The message's rev.
        rev: String,
    },
    /// An MST node the proof needs is not in the CAR.
    #[error("MST node {0} needed by the proof is not in the CAR")]
    MissingBlock(Cid),
    /// An MST node in the CAR is malformed or misplaced.
    #[error("invalid MST: {0}")]
    InvalidTree(MstError),
    /// An operation's claim does not hold in the new tree.
    #[error("operation on {path} claims {claimed:?}, the new tree has {found:?}")]
    ClaimMismatch {
        /// The operation's path.
        path: String,
        /// The record CID it claims (`None` for a delete).
        claimed: Option<Cid>,
        /// What the new tree holds under the path.
        found: Option<Cid>,
    },
    /// A created or updated record's block is not in the CAR.
    #[error("record block {cid} for {path} is not in the CAR")]
    MissingRecordBlock {
        /// The operation's path.
        path: String,
        /// The record CID.
        cid: Cid,
    },
    /// Inverting the operations does not give back `prevData`.
    #[error("inverted tree root {computed} is not prevData {expected}")]
    PrevDataMismatch {
        /// The message's `prevData`.
        expected: Cid,
        /// The root after inverting every operation.
        computed: Cid,
    },
    /// The signature does not verify with the account's key.
    #[error("bad signature: {0}")]
    Signature(CommitError),
}

impl From<MstError> for ProofError {
    fn from(e: MstError) -> Self {
        match e {
            MstError::MissingBlock(cid) => ProofError::MissingBlock(cid),
            other => ProofError::InvalidTree(other),
        }
    }
}
