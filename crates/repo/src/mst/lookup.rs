//! Reading a tree: the value under a key, and the node sets that prove a key's presence or
//! absence ([`Tree::lookup`]) or cover its position ([`Tree::covering_cids`]).

use super::edit::{open_ref, slot, Slot};
use super::node::{key_height, Item, Link};
use super::{MstError, Tree};
use crate::cid::Cid;

impl Tree {
    /// The value stored under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`MstError::MissingBlock`] when the answer depends on a node that is not available;
    /// [`MstError::InvalidKey`], [`MstError::Poisoned`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Cid>, MstError> {
        Ok(self.lookup(key)?.0)
    }

    /// The value stored under `key` and the CIDs of the nodes visited to find it (or to
    /// show it is absent): the node set of an inclusion or exclusion proof.
    ///
    /// # Errors
    ///
    /// As [`Tree::get`].
    pub fn lookup(&self, key: &[u8]) -> Result<(Option<Cid>, Vec<Cid>), MstError> {
        self.check(key)?;
        let key_height = key_height(key);
        let mut path = Vec::new();
        if key_height > self.height {
            if let Link::Stub(cid) = &self.root {
                path.push(*cid);
            } else {
                path.push(self.root.cid());
            }
            return Ok((None, path));
        }
        let mut node = open_ref(&self.root)?;
        loop {
            path.push(node.cid());
            match slot(&node.items, key) {
                Slot::Leaf(idx) => {
                    let value = match node.items.get(idx) {
                        Some(Item::Leaf(leaf)) if key_height == node.height => Some(leaf.value),
                        _ => None,
                    };
                    return Ok((value, path));
                }
                Slot::Gap {
                    child: Some(idx), ..
                } if key_height < node.height => match node.items.get(idx) {
                    Some(Item::Child(link)) => node = open_ref(link)?,
                    _ => return Err(MstError::Corrupt("slot child is not a link".into())),
                },
                Slot::Gap { .. } => return Ok((None, path)),
            }
        }
    }

    /// The nodes that cover `key`'s position: its lookup path, plus the nodes along the
    /// facing edges of the subtrees on either side of it, down to layer 0. Other
    /// implementations include these in commit diffs (the "covering proof" of a mutation).
    ///
    /// # Errors
    ///
    /// As [`Tree::get`].
    pub fn covering_cids(&self, key: &[u8]) -> Result<Vec<Cid>, MstError> {
        self.check(key)?;
        let mut out = Vec::new();
        let mut node = open_ref(&self.root)?;
        loop {
            out.push(node.cid());
            let (left, right) = match slot(&node.items, key) {
                Slot::Leaf(idx) => (idx.checked_sub(1), Some(idx + 1)),
                Slot::Gap {
                    child: Some(idx), ..
                } => match node.items.get(idx) {
                    Some(Item::Child(link)) => {
                        node = open_ref(link)?;
                        continue;
                    }
                    _ => return Err(MstError::Corrupt("slot child is not a link".into())),
                },
                Slot::Gap { at, child: None } => (at.checked_sub(1), Some(at)),
            };
            for (idx, rightmost) in [(left, true), (right, false)] {
                let mut edge = idx.and_then(|i| node.items.get(i));
                while let Some(Item::Child(link)) = edge {
                    out.push(link.cid());
                    let below = open_ref(link)?;
                    edge = if rightmost {
                        below.items.last()
                    } else {
                        below.items.first()
                    };
                }
            }
            return Ok(out);
        }
    }
}
