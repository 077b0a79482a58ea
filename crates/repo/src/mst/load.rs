//! Loading a tree from blocks: the [`BlockSource`] trait and its implementations, and
//! [`Tree::load`], which checks every available node and leaves the others as stubs.

use std::collections::HashMap;

use super::node::{decode_node, Item, Link, Node, Place};
use super::{MstError, Tree};
use crate::car::Car;
use crate::cid::Cid;

/// Where MST node blocks come from when loading a tree.
pub trait BlockSource {
    /// The bytes of block `cid`, if available (already checked against the CID).
    fn block(&self, cid: &Cid) -> Option<&[u8]>;
}

impl BlockSource for Car<'_> {
    fn block(&self, cid: &Cid) -> Option<&[u8]> {
        self.get(cid)
    }
}

impl BlockSource for HashMap<Cid, Vec<u8>> {
    fn block(&self, cid: &Cid) -> Option<&[u8]> {
        self.get(cid).map(Vec::as_slice)
    }
}

impl BlockSource for HashMap<Cid, &[u8]> {
    fn block(&self, cid: &Cid) -> Option<&[u8]> {
        self.get(cid).copied()
    }
}

impl Tree {
    /// Loads the tree rooted at `root` from `blocks`. Nodes that are not available become
    /// stubs, so the result may be partial; every node that is available is checked.
    ///
    /// # Errors
    ///
    /// [`MstError::MissingBlock`] if the root itself is missing, [`MstError::InvalidNode`]
    /// for a malformed node or one that breaks ordering, layer or placement rules.
    pub fn load(blocks: &impl BlockSource, root: Cid) -> Result<Self, MstError> {
        let place = Place {
            height: None,
            lower: None,
            upper: None,
        };
        let node = load_node(blocks, root, place)?.ok_or(MstError::MissingBlock(root))?;
        Ok(Self {
            height: node.height,
            root: Link::Node(Box::new(node)),
            poisoned: false,
        })
    }

    /// Like [`Tree::load`], but every node must be available.
    ///
    /// # Errors
    ///
    /// As [`Tree::load`], and [`MstError::MissingBlock`] for the first missing node.
    pub fn load_complete(blocks: &impl BlockSource, root: Cid) -> Result<Self, MstError> {
        let tree = Self::load(blocks, root)?;
        if let Some(missing) = tree.first_stub() {
            return Err(MstError::MissingBlock(missing));
        }
        Ok(tree)
    }
}

/// Loads node `cid` and, recursively, every available node below it. Returns `None` when
/// the node itself is not available.
fn load_node(
    blocks: &impl BlockSource,
    cid: Cid,
    place: Place<'_>,
) -> Result<Option<Node>, MstError> {
    let Some(bytes) = blocks.block(&cid) else {
        return Ok(None);
    };
    let mut node = decode_node(cid, bytes, place)?;
    let below = node.height.checked_sub(1);
    for idx in 0..node.items.len() {
        let (before, rest) = node.items.split_at_mut(idx);
        let Some((Item::Child(link), after)) = rest.split_first_mut() else {
            continue;
        };
        let lower = match before.last() {
            Some(Item::Leaf(leaf)) => Some(leaf.key.as_slice()),
            _ => place.lower,
        };
        let upper = match after.first() {
            Some(Item::Leaf(leaf)) => Some(leaf.key.as_slice()),
            _ => place.upper,
        };
        let child_place = Place {
            height: below,
            lower,
            upper,
        };
        let child_cid = link.cid();
        if let Some(child) = load_node(blocks, child_cid, child_place)? {
            *link = Link::Node(Box::new(child));
        }
    }
    Ok(Some(node))
}
