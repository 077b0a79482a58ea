//! The checks of a received message: [`verify_commit`] and [`verify_commit_proof`] for a
//! `#commit` (limits, operation shapes, CAR root and commit, claims, `prevData` inversion), and
//! [`verify_sync`] and [`verify_sync_proof`] for a `#sync`.

use std::collections::HashSet;

use super::invert::{invert_ops, invert_other_orders};
use super::{CommitMessage, OpAction, ProofError, ProofLimits, RepoOp, VerifiedCommit};
use crate::car::Car;
use crate::cid::Cid;
use crate::commit::Commit;
use crate::crypto::PublicKey;
use crate::mst::Tree;
use crate::syntax::{validate_nsid, validate_record_key};

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
    let verified = verify_sync_proof(repo, rev, blocks, limits)?;
    verified
        .commit
        .verify_signature(key)
        .map_err(ProofError::Signature)?;
    Ok(verified)
}

/// Checks everything about a `#sync` message except the signature: what [`verify_sync`]
/// checks before it.
///
/// # Errors
///
/// As [`verify_sync`], except [`ProofError::Signature`].
pub fn verify_sync_proof(
    repo: &str,
    rev: &str,
    blocks: &[u8],
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
    Ok(VerifiedCommit {
        data: commit.data,
        rev: commit.rev.clone().unwrap_or_default(),
        commit,
        cid,
        prev_data: None,
    })
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
