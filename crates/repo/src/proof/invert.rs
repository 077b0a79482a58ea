//! MST operation inversion: undoing a commit's operations on the partial tree to recompute the
//! root before the commit, in the order the message gives or, failing that, in other orders.

use super::{OpAction, ProofError, RepoOp};
use crate::cid::Cid;
use crate::mst::{BlockSource, Tree};

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
pub(super) fn invert_other_orders(
    blocks: &impl BlockSource,
    root: Cid,
    ops: &[RepoOp],
) -> Option<Tree> {
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
