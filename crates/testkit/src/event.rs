//! Turning repository changes and account changes into `subscribeRepos` messages.

use atrelay_repo::proof::RepoOp as ProofOp;
use atrelay_stream::{
    Account, AccountStatus, Commit as CommitMsg, Extra, Identity, Message, RepoOp, Sync, WireStatus,
};
use bytes::Bytes;

use crate::repo::CommitData;

/// The `#commit` message for `commit` at `seq`, stamped with `time`.
pub fn commit_message(commit: &CommitData, seq: i64, time: &str) -> Message {
    Message::Commit(CommitMsg {
        seq,
        rebase: false,
        too_big: false,
        repo: commit.did.clone(),
        commit: commit.cid,
        rev: commit.rev.clone(),
        since: commit.since.clone(),
        blocks: Bytes::from(commit.blocks.clone()),
        ops: commit.ops.iter().map(stream_op).collect(),
        blobs: Vec::new(),
        prev_data: commit.prev_data,
        time: time.to_owned(),
        extra: Extra::new(),
    })
}

/// The `#sync` message declaring `rev` with the commit-only CAR `blocks`.
pub fn sync_message(did: &str, rev: &str, blocks: Vec<u8>, seq: i64, time: &str) -> Message {
    Message::Sync(Sync {
        seq,
        did: did.to_owned(),
        blocks: Bytes::from(blocks),
        rev: rev.to_owned(),
        time: time.to_owned(),
        extra: Extra::new(),
    })
}

/// The `#identity` message for `did`, with the current handle.
pub fn identity_message(did: &str, handle: Option<&str>, seq: i64, time: &str) -> Message {
    Message::Identity(Identity {
        seq,
        did: did.to_owned(),
        time: time.to_owned(),
        handle: handle.map(str::to_owned),
        extra: Extra::new(),
    })
}

/// The `#account` message for `did`: active when `status` is `None`.
pub fn account_message(did: &str, status: Option<AccountStatus>, seq: i64, time: &str) -> Message {
    Message::Account(Account {
        seq,
        did: did.to_owned(),
        time: time.to_owned(),
        active: status.is_none(),
        status: status.map(WireStatus::from),
        extra: Extra::new(),
    })
}

/// A proof op as the stream crate's op.
pub fn stream_op(op: &ProofOp) -> RepoOp {
    RepoOp {
        action: op.action.into(),
        path: op.path.clone(),
        cid: op.cid,
        prev: op.prev,
        extra: Extra::new(),
    }
}

/// A stream op as the proof crate's op; `None` for an action the proof does not know.
pub fn proof_op(op: &RepoOp) -> Option<ProofOp> {
    Some(ProofOp {
        action: op.action.known()?,
        path: op.path.clone(),
        cid: op.cid,
        prev: op.prev,
    })
}
