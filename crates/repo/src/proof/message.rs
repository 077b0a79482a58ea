//! What a proof works on: the parts of a `#commit` message and its operations, the limits
//! applied before any parsing, and the result of a check that passed.

use crate::car::FIREHOSE_BLOCKS_LIMIT;
use crate::cid::Cid;
use crate::commit::Commit;

/// The most operations a sync-1.1 `#commit` may carry.
pub const FIREHOSE_MAX_OPS: usize = 200;

/// Size limits applied before any parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofLimits {
    /// Largest accepted `blocks` field, in bytes (2,000,000 on the firehose).
    pub max_blocks_bytes: usize,
    /// Most operations per commit (200 on the firehose).
    pub max_ops: usize,
    /// Whether created and updated records must have their blocks in the CAR (the spec
    /// requires them; a lenient relay may turn this off).
    pub require_record_blocks: bool,
    /// Whether operation paths must be repository paths (`<NSID>/<record key>`); off only
    /// for test vectors whose keys are not real paths.
    pub check_paths: bool,
}

impl Default for ProofLimits {
    fn default() -> Self {
        Self {
            max_blocks_bytes: FIREHOSE_BLOCKS_LIMIT,
            max_ops: FIREHOSE_MAX_OPS,
            require_record_blocks: true,
            check_paths: true,
        }
    }
}

/// What an operation did to its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpAction {
    /// A new record: `cid` set, `prev` absent.
    Create,
    /// A changed record: `cid` and `prev` set.
    Update,
    /// A removed record: `prev` set, `cid` absent.
    Delete,
}

/// One operation of a `#commit` message, as the proof needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoOp {
    /// What happened.
    pub action: OpAction,
    /// The repository path, `collection/rkey`.
    pub path: String,
    /// The new record CID (create, update).
    pub cid: Option<Cid>,
    /// The previous record CID (update, delete); sync 1.1 requires it.
    pub prev: Option<Cid>,
}

/// The parts of a `#commit` message the proof checks.
#[derive(Debug, Clone, Copy)]
pub struct CommitMessage<'a> {
    /// The `repo` field: the account DID.
    pub repo: &'a str,
    /// The `rev` field.
    pub rev: &'a str,
    /// The `commit` field: the commit block's CID.
    pub commit: Cid,
    /// The `blocks` field: CAR bytes.
    pub blocks: &'a [u8],
    /// The `ops` field.
    pub ops: &'a [RepoOp],
    /// The `prevData` field: the MST root before this commit, if sent.
    pub prev_data: Option<Cid>,
}

/// A commit whose proof (and, from [`verify_commit`](super::verify_commit) /
/// [`verify_sync`](super::verify_sync), signature) checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCommit {
    /// The decoded commit.
    pub commit: Commit,
    /// The commit block's CID.
    pub cid: Cid,
    /// The repository's new MST root (`commit.data`).
    pub data: Cid,
    /// The commit's rev.
    pub rev: String,
    /// The MST root before the commit, when the message sent `prevData` and the inversion
    /// reproduced it; `None` when there was nothing to compare against.
    pub prev_data: Option<Cid>,
}
