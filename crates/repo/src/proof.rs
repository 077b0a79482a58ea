//! Sync-1.1 commit proofs: checking that a firehose `#commit` is internally consistent by
//! MST operation inversion, and checking `#sync` messages.
//!
//! # What a `#commit` proof checks
//!
//! 1. Limits first: `blocks` at most [`ProofLimits::max_blocks_bytes`], at most
//!    [`ProofLimits::max_ops`] operations, each operation well formed (fields match its
//!    action, valid repository path, no path twice).
//! 2. `blocks` is a CAR whose every block hashes to its CID, whose first root is the message's
//!    `commit` CID, and which holds that commit block.
//! 3. The commit is a v3 commit whose `did` and `rev` are the message's `repo` and `rev`.
//! 4. The partial MST at the commit's `data` is loaded from the CAR. Every operation's claim
//!    holds in it: creates and updates have the claimed record CID, deletes are absent
//!    (and, unless disabled, every created or updated record's block is in the CAR).
//! 5. If `prevData` is given, every operation is inverted on the partial tree (a create is
//!    removed, an update set back to `prev`, a delete re-inserted with `prev`) and the
//!    resulting root must be exactly `prevData`. Ops are undone last-first; if that needs a
//!    node the diff lacks, other orders are tried ([`invert_ops_any_order`]), since the
//!    result does not depend on the order but the nodes it touches do.
//!
//! The signature is checked separately ([`verify_commit`] does both), because the key comes
//! from the account's DID document, which the caller resolves.
//!
//! # Telling failures apart
//!
//! [`ProofError::MissingBlock`] means the diff lacks a node the proof needs (an incomplete
//! proof); [`ProofError::ClaimMismatch`] means an operation claims something the new tree
//! does not say (an extra or wrong claim); [`ProofError::PrevDataMismatch`] means the claims
//! hold but do not explain the whole change (a wrong or incomplete op list, or a wrong
//! `prevData`); [`ProofError::CommitCidMismatch`] means the CAR is rooted somewhere else.
//!
//! A `prevData` that differs from the data CID the relay last stored is *not* checked here:
//! that is a discontinuity in the account's history, not an invalid message.

// Errors carry the CIDs involved (about 100 bytes each) so callers can report them; failures
// are the rare path, so their size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};

use crate::car::{Car, CarError, FIREHOSE_BLOCKS_LIMIT};
use crate::cid::Cid;
use crate::commit::{Commit, CommitError};
use crate::crypto::PublicKey;
use crate::mst::{BlockSource, MstError, Tree};
use crate::syntax::{validate_nsid, validate_record_key};

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

/// A commit whose proof (and, from [`verify_commit`] / [`verify_sync`], signature) checked out.
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

/// Checks a `#commit` message's proof and signature (see the module docs).
///
/// # Errors
///
/// Any [`ProofError`]; [`ProofError::Signature`] when everything else holds but the signature
/// does not verify with `key`.
pub fn verify_commit(
    msg: &CommitMessage<'_>,
    key: &PublicKey,
    limits: &ProofLimits,
) -> Result<VerifiedCommit, ProofError> {
    let verified = verify_commit_proof(msg, limits)?;
    verified
        .commit
        .verify_signature(key)
        .map_err(ProofError::Signature)?;
    Ok(verified)
}

/// Checks everything about a `#commit` message except the signature (see the module docs).
///
/// # Errors
///
/// Any [`ProofError`] except [`ProofError::Signature`].
pub fn verify_commit_proof(
    msg: &CommitMessage<'_>,
    limits: &ProofLimits,
) -> Result<VerifiedCommit, ProofError> {
    if msg.blocks.len() > limits.max_blocks_bytes {
        return Err(ProofError::BlocksTooLarge {
            len: msg.blocks.len(),
            limit: limits.max_blocks_bytes,
        });
    }
    if msg.ops.len() > limits.max_ops {
        return Err(ProofError::TooManyOps {
            count: msg.ops.len(),
            limit: limits.max_ops,
        });
    }
    check_ops(msg.ops, limits.check_paths)?;
    let car = Car::read(msg.blocks, limits.max_blocks_bytes).map_err(ProofError::Car)?;
    let (commit, cid) = commit_from_car(&car, msg.commit, msg.repo, msg.rev)?;

    let mut tree = Tree::load(&car, commit.data)?;
    for op in msg.ops {
        let found = tree.get(op.path.as_bytes())?;
        if found != op.cid {
            return Err(ProofError::ClaimMismatch {
                path: op.path.clone(),
                claimed: op.cid,
                found,
            });
        }
        if let (true, Some(record)) = (limits.require_record_blocks, op.cid) {
            if car.get(&record).is_none() {
                return Err(ProofError::MissingRecordBlock {
                    path: op.path.clone(),
                    cid: record,
                });
            }
        }
    }

    let prev_data = match msg.prev_data {
        None => None,
        Some(expected) => {
            let computed = match invert_ops(&mut tree, msg.ops) {
                Ok(()) => tree.root_cid(),
                Err(first @ ProofError::MissingBlock(_)) => {
                    invert_other_orders(&car, commit.data, msg.ops)
                        .ok_or(first)?
                        .root_cid()
                }
                Err(e) => return Err(e),
            };
            if computed != expected {
                return Err(ProofError::PrevDataMismatch { expected, computed });
            }
            Some(expected)
        }
    };
    let rev = commit.rev.clone().unwrap_or_default();
    Ok(VerifiedCommit {
        data: commit.data,
        commit,
        cid,
        rev,
        prev_data,
    })
}

/// Checks a `#sync` message: `blocks` is a CAR rooted at a v3 commit for `repo` at `rev`
/// (the commit block is all it needs to hold), signed with `key`.
///
/// # Errors
///
/// [`ProofError::BlocksTooLarge`], [`ProofError::Car`], [`ProofError::MissingCommitBlock`],
/// [`ProofError::Commit`], [`ProofError::RepoMismatch`], [`ProofError::RevMismatch`],
/// [`ProofError::Signature`].
pub fn verify_sync(
    repo: &str,
    rev: &str,
    blocks: &[u8],
    key: &PublicKey,
    limits: &ProofLimits,
) -> Result<VerifiedCommit, ProofError> {
    if blocks.len() > limits.max_blocks_bytes {
        return Err(ProofError::BlocksTooLarge {
            len: blocks.len(),
            limit: limits.max_blocks_bytes,
        });
    }
    let car = Car::read(blocks, limits.max_blocks_bytes).map_err(ProofError::Car)?;
    let (commit, cid) = commit_from_car(&car, car.root(), repo, rev)?;
    commit
        .verify_signature(key)
        .map_err(ProofError::Signature)?;
    Ok(VerifiedCommit {
        data: commit.data,
        rev: commit.rev.clone().unwrap_or_default(),
        commit,
        cid,
        prev_data: None,
    })
}

/// Inverts `ops` on `tree`, last operation first, checking that each one's claim holds as it
/// is undone. Afterwards the tree is the one before the operations.
///
/// # Errors
///
/// [`ProofError::MissingBlock`] when the partial tree lacks a node the inversion needs,
/// [`ProofError::ClaimMismatch`] when an operation's claim does not hold,
/// [`ProofError::BadOp`] for an operation without the CIDs its action needs.
pub fn invert_ops(tree: &mut Tree, ops: &[RepoOp]) -> Result<(), ProofError> {
    invert_in_order(tree, ops, (0..ops.len()).rev())
}

/// Loads the partial tree at `root` from `blocks` and inverts `ops` on it, trying several
/// orders: last-first, then the order indigo uses (deletions first, then by path), then
/// first-last. The tree before the commit does not depend on the order, but which nodes the
/// inversion has to open does, and producers choose their proof blocks with some order in
/// mind. Returns the inverted tree, or the first order's error if no order works.
///
/// # Errors
///
/// As [`invert_ops`], and [`ProofError::MissingBlock`] if the root is not in `blocks`.
pub fn invert_ops_any_order(
    blocks: &impl BlockSource,
    root: Cid,
    ops: &[RepoOp],
) -> Result<Tree, ProofError> {
    let mut tree = Tree::load(blocks, root)?;
    match invert_ops(&mut tree, ops) {
        Ok(()) => Ok(tree),
        Err(first @ ProofError::MissingBlock(_)) => {
            invert_other_orders(blocks, root, ops).ok_or(first)
        }
        Err(e) => Err(e),
    }
}

/// The fallback orders of [`invert_ops_any_order`]; `None` if none works.
fn invert_other_orders(blocks: &impl BlockSource, root: Cid, ops: &[RepoOp]) -> Option<Tree> {
    let mut indigo: Vec<usize> = (0..ops.len()).collect();
    indigo.sort_by(|a, b| {
        let key = |i: usize| {
            ops.get(i)
                .map(|op| (op.action != OpAction::Delete, op.path.as_str()))
        };
        key(*a).cmp(&key(*b))
    });
    let orders: [Vec<usize>; 2] = [indigo, (0..ops.len()).collect()];
    orders.into_iter().find_map(|order| {
        let mut tree = Tree::load(blocks, root).ok()?;
        invert_in_order(&mut tree, ops, order.into_iter()).ok()?;
        Some(tree)
    })
}

fn invert_in_order(
    tree: &mut Tree,
    ops: &[RepoOp],
    order: impl Iterator<Item = usize>,
) -> Result<(), ProofError> {
    for index in order {
        let Some(op) = ops.get(index) else { continue };
        let key = op.path.as_bytes();
        let bad = |reason| ProofError::BadOp {
            index,
            path: op.path.clone(),
            reason,
        };
        let (found, expected) = match op.action {
            OpAction::Create => (tree.remove(key)?, op.cid),
            OpAction::Update => {
                let prev = op.prev.ok_or_else(|| bad("update without prev"))?;
                (tree.insert(key, prev)?, op.cid)
            }
            OpAction::Delete => {
                let prev = op.prev.ok_or_else(|| bad("delete without prev"))?;
                (tree.insert(key, prev)?, None)
            }
        };
        if found != expected {
            return Err(ProofError::ClaimMismatch {
                path: op.path.clone(),
                claimed: expected,
                found,
            });
        }
    }
    Ok(())
}

/// The MST blocks a `#commit` must carry so that its operations can be checked and
/// inverted: the nodes created or changed by the commit, plus the unchanged nodes that the
/// lookups and the inversion have to look into. `after` is the complete tree after the
/// commit, loaded from storage and then edited (nodes changed since loading count as new;
/// for a tree built from scratch every node is new). Used by test servers to build diffs.
///
/// # Errors
///
/// [`ProofError::MissingBlock`] if `after` itself lacks a node the proof needs, or any
/// error of [`invert_ops`] (operations that do not match the tree).
pub fn proof_blocks(after: &Tree, ops: &[RepoOp]) -> Result<Vec<(Cid, Vec<u8>)>, ProofError> {
    let root = after.root_cid();
    let mut chosen: HashMap<Cid, Vec<u8>> = after.fresh_blocks().into_iter().collect();
    let mut all: Option<HashMap<Cid, Vec<u8>>> = None;
    // What other implementations include (and may need to verify), then whatever else our
    // own inversion turns out to need.
    let mut missing = Vec::new();
    for op in ops {
        missing.extend(after.covering_cids(op.path.as_bytes())?);
    }
    missing.retain(|cid| !chosen.contains_key(cid));
    loop {
        for cid in missing.drain(..) {
            let all = all.get_or_insert_with(|| after.blocks().into_iter().collect());
            let block = all.get(&cid).ok_or(ProofError::MissingBlock(cid))?;
            chosen.insert(cid, block.clone());
        }
        let attempt = Tree::load(&chosen, root)
            .map_err(ProofError::from)
            .and_then(|mut tree| {
                for op in ops {
                    tree.get(op.path.as_bytes())?;
                }
                invert_ops(&mut tree, ops)
            });
        match attempt {
            Ok(()) => break,
            Err(ProofError::MissingBlock(cid)) if !chosen.contains_key(&cid) => missing.push(cid),
            Err(e) => return Err(e),
        }
    }
    let mut blocks: Vec<(Cid, Vec<u8>)> = chosen.into_iter().collect();
    blocks.sort_by_key(|(cid, _)| cid.to_bytes());
    Ok(blocks)
}

/// Finds, decodes and checks the commit at the CAR's root against the message.
fn commit_from_car(
    car: &Car<'_>,
    expected: Cid,
    repo: &str,
    rev: &str,
) -> Result<(Commit, Cid), ProofError> {
    if car.root() != expected {
        return Err(ProofError::CommitCidMismatch {
            car_root: car.root(),
            commit: expected,
        });
    }
    let block = car
        .get(&expected)
        .ok_or(ProofError::MissingCommitBlock(expected))?;
    let commit = Commit::decode(block).map_err(ProofError::Commit)?;
    commit.check_v3().map_err(ProofError::Commit)?;
    if commit.did != repo {
        return Err(ProofError::RepoMismatch {
            commit_did: commit.did,
            repo: repo.to_string(),
        });
    }
    let commit_rev = commit.rev.as_deref().unwrap_or_default();
    if commit_rev != rev {
        return Err(ProofError::RevMismatch {
            commit_rev: commit_rev.to_string(),
            rev: rev.to_string(),
        });
    }
    Ok((commit, expected))
}

/// Checks each operation's shape and path, and that no path appears twice.
fn check_ops(ops: &[RepoOp], check_paths: bool) -> Result<(), ProofError> {
    let mut seen = HashSet::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        let bad = |reason| ProofError::BadOp {
            index,
            path: op.path.clone(),
            reason,
        };
        match (op.action, op.cid.is_some(), op.prev.is_some()) {
            (OpAction::Create, true, false)
            | (OpAction::Update, true, true)
            | (OpAction::Delete, false, true) => {}
            (OpAction::Create, false, _) | (OpAction::Update, false, _) => {
                return Err(bad("create or update without cid"))
            }
            (OpAction::Create, true, true) => return Err(bad("create with prev")),
            (OpAction::Update, true, false) | (OpAction::Delete, false, false) => {
                return Err(bad("update or delete without prev (not a sync 1.1 op)"))
            }
            (OpAction::Delete, true, _) => return Err(bad("delete with cid")),
        }
        if check_paths && !valid_repo_path(&op.path) {
            return Err(bad("invalid repository path"));
        }
        if !seen.insert(op.path.as_str()) {
            return Err(bad("path appears twice"));
        }
    }
    Ok(())
}

/// A repository path is `<NSID>/<record key>`.
fn valid_repo_path(path: &str) -> bool {
    match path.split_once('/') {
        Some((collection, rkey)) => {
            validate_nsid(collection).is_ok() && validate_record_key(rkey).is_ok()
        }
        None => false,
    }
}
