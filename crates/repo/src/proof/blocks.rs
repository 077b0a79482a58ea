//! The producer side of a proof: choosing the MST blocks a `#commit` must carry so that a
//! receiver can check and invert its operations (used by test servers to build diffs).

use std::collections::HashMap;

use super::invert::invert_ops;
use super::{ProofError, RepoOp};
use crate::cid::Cid;
use crate::mst::Tree;

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
