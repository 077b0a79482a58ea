//! Finding the MST nodes a `#commit` must carry beyond the new ones, so that a consumer can
//! check every operation against the new tree and invert it back to `prevData`.
//!
//! The start set is the new nodes plus each op's covering nodes (its lookup path and the facing
//! edges of its neighbours, which other implementations include and may need). The search then
//! runs the consumer's own check on a partial tree made of the blocks chosen so far and, each
//! time it needs a node that is missing, adds that node from the full store and tries again.
//! It ends because the full store holds every node of the new tree. This is
//! `atrelay_repo::proof::proof_blocks` done against the repository's block store, so it never
//! has to encode the whole tree.

use std::collections::{HashMap, HashSet};

use atrelay_repo::cid::Cid;
use atrelay_repo::mst::{MstError, Tree};
use atrelay_repo::proof::{invert_ops, ProofError, RepoOp};

use crate::error::TestkitError;

/// Returns the node CIDs, beyond `start`, that the proof of `ops` against `after` (the
/// complete tree after the commit) needs. `store` must hold every node of that tree.
///
/// # Errors
///
/// [`TestkitError::Mst`] when a needed node is not in `store`, or the inversion fails for a
/// reason other than a missing node (a testkit bug).
pub(crate) fn proof_nodes(
    store: &HashMap<Cid, Vec<u8>>,
    after: &Tree,
    ops: &[RepoOp],
    start: &[Cid],
) -> Result<Vec<Cid>, TestkitError> {
    let root = after.root_cid();
    let mut chosen: HashSet<Cid> = start.iter().copied().collect();
    let mut extra = Vec::new();
    for op in ops {
        for cid in after.covering_cids(op.path.as_bytes())? {
            if store.contains_key(&cid) && chosen.insert(cid) {
                extra.push(cid);
            }
        }
    }
    loop {
        let partial: HashMap<Cid, &[u8]> = chosen
            .iter()
            .filter_map(|cid| store.get(cid).map(|bytes| (*cid, bytes.as_slice())))
            .collect();
        match check(&partial, root, ops) {
            Ok(()) => return Ok(extra),
            Err(ProofError::MissingBlock(cid)) => {
                if !store.contains_key(&cid) || !chosen.insert(cid) {
                    return Err(TestkitError::Mst(MstError::MissingBlock(cid)));
                }
                extra.push(cid);
            }
            Err(other) => {
                return Err(TestkitError::Mst(MstError::Corrupt(format!(
                    "proof of a correct commit failed: {other}"
                ))))
            }
        }
    }
}

#[allow(clippy::result_large_err)] // ProofError is atrelay-repo's type.
/// What a consumer does with the partial tree: look up every op's path, then invert them all.
fn check(partial: &HashMap<Cid, &[u8]>, root: Cid, ops: &[RepoOp]) -> Result<(), ProofError> {
    let mut tree = Tree::load(partial, root)?;
    for op in ops {
        tree.get(op.path.as_bytes())?;
    }
    invert_ops(&mut tree, ops)
}
