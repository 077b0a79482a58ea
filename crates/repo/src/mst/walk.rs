//! Walking a whole tree: its entries in key order ([`Tree::iter`], [`Iter`]) and its node
//! blocks ([`Tree::blocks`], [`Tree::fresh_blocks`]).

use super::edit::open_ref;
use super::node::{Item, Link, Node};
use super::{MstError, Tree};
use crate::cid::Cid;

impl Tree {
    /// Iterates over all keys and values in key order. Meeting a stub yields
    /// [`MstError::MissingBlock`] and ends the iteration.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            stack: Vec::new(),
            start: Some(&self.root),
            failed: false,
        }
    }

    /// Every key and value, in key order.
    ///
    /// # Errors
    ///
    /// [`MstError::MissingBlock`] for a partial tree.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Cid)>, MstError> {
        self.iter()
            .map(|entry| entry.map(|(key, value)| (key.to_vec(), value)))
            .collect()
    }

    /// The CIDs and encodings of every available node, root first (pre-order).
    pub fn blocks(&self) -> Vec<(Cid, Vec<u8>)> {
        self.collect_blocks(false)
    }

    /// The CIDs and encodings of the nodes created or changed since the tree was loaded
    /// (for a tree built from scratch: every node). These are the new MST blocks of a commit.
    pub fn fresh_blocks(&self) -> Vec<(Cid, Vec<u8>)> {
        self.collect_blocks(true)
    }

    fn collect_blocks(&self, only_fresh: bool) -> Vec<(Cid, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![&self.root];
        while let Some(link) = stack.pop() {
            let Link::Node(node) = link else { continue };
            if !only_fresh || node.fresh {
                let bytes = node.encode();
                out.push((node.cid(), bytes));
            }
            for item in node.items.iter().rev() {
                if let Item::Child(link) = item {
                    stack.push(link);
                }
            }
        }
        out
    }
}

/// Iterator over a tree's keys and values, in order (see [`Tree::iter`]).
#[derive(Debug)]
pub struct Iter<'t> {
    stack: Vec<(&'t Node, usize)>,
    start: Option<&'t Link>,
    failed: bool,
}

impl<'t> Iterator for Iter<'t> {
    type Item = Result<(&'t [u8], Cid), MstError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if let Some(link) = self.start.take() {
            if let Err(e) = self.descend(link) {
                return Some(Err(e));
            }
        }
        loop {
            let (node, idx) = self.stack.last_mut()?;
            let node: &'t Node = node;
            let Some(item) = node.items.get(*idx) else {
                self.stack.pop();
                continue;
            };
            *idx += 1;
            match item {
                Item::Leaf(leaf) => return Some(Ok((leaf.key.as_slice(), leaf.value))),
                Item::Child(link) => {
                    if let Err(e) = self.descend(link) {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

impl<'t> Iter<'t> {
    fn descend(&mut self, link: &'t Link) -> Result<(), MstError> {
        match open_ref(link) {
            Ok(node) => {
                self.stack.push((node, 0));
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}
