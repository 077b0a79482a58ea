//! The Merkle Search Tree (MST) that maps repository paths to record CIDs.
//!
//! # Terminology
//!
//! - **key**: a repository path as bytes (`collection/rkey`); **value**: the record's CID.
//! - **layer** (height) of a key: leading zero bits of SHA-256(key), counted in 2-bit chunks
//!   ([`key_height`]). Layer 0 is the bottom.
//! - **node**: one block `{l, e: [{p, k, v, t}]}`. It holds the keys of one layer that fall in
//!   its range, in order, and links (`l` before the first key, `t` after each key) to subtrees
//!   one layer down holding the keys in between. Keys are prefix-compressed against the
//!   previous key of the same node (`p` shared bytes, then suffix `k`).
//! - **stub**: a link whose block was not available. A tree loaded from a firehose diff is
//!   *partial*: most of it is stubs. Any operation that needs to look inside a stub fails with
//!   [`MstError::MissingBlock`], which for a commit proof means "the proof is incomplete".
//!
//! # Tricky bits
//!
//! - The shape is a pure function of the key set, so a root CID can be recomputed after edits.
//! - Inserting a key above the current root layer splits the old root around the key and
//!   wraps each half in single-link nodes up to the new layer.
//! - Inserting a key into a gap that has a subtree splits that subtree recursively.
//! - Removing a key whose neighbours are both links merges those subtrees, recursively along
//!   their facing edges; both sides must be available.
//! - Nodes left with no leaves and a single link stay (layers are never skipped), except at
//!   the root, which is trimmed down to the first node that has leaves (possibly to a stub).
//! - The empty tree is a single node with no entries.
//! - After an error from [`Tree::insert`] or [`Tree::remove`] the tree may be half edited:
//!   it is marked poisoned and every later call fails with [`MstError::Poisoned`].

mod diff;
mod edit;
mod node;
pub(crate) mod out;
mod parse;

use std::collections::HashMap;

pub use diff::{diff, Diff, RecordChange};
pub use node::{common_prefix_len, key_height};

use edit::{open_mut, open_ref, slot, Slot};
use node::{decode_node, Item, Link, Node, Place};

use crate::car::Car;
use crate::cid::Cid;

/// Longest key accepted, in bytes (repository paths are far shorter).
pub const MAX_KEY_LEN: usize = 1024;

/// Why an MST could not be loaded, read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MstError {
    /// A node needed for this operation is not among the available blocks.
    #[error("MST node {0} is not available")]
    MissingBlock(Cid),
    /// A node block is malformed or breaks the MST rules.
    #[error("invalid MST node {cid}: {reason}")]
    InvalidNode {
        /// The node's CID.
        cid: Cid,
        /// What is wrong with it.
        reason: String,
    },
    /// A key is empty or longer than [`MAX_KEY_LEN`].
    #[error("invalid MST key of {len} bytes")]
    InvalidKey {
        /// The key's length.
        len: usize,
    },
    /// An internal invariant did not hold (a bug, reported instead of panicking).
    #[error("MST invariant broken: {0}")]
    Corrupt(String),
    /// An earlier edit failed half way, so the tree can no longer be trusted.
    #[error("MST was left inconsistent by an earlier failed edit")]
    Poisoned,
}

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

/// An MST in memory, complete or partial.
#[derive(Debug, Clone)]
pub struct Tree {
    root: Link,
    height: u32,
    poisoned: bool,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Self {
        Self {
            root: Link::Node(Box::new(Node::new(0, Vec::new()))),
            height: 0,
            poisoned: false,
        }
    }

    /// Builds a tree holding exactly the given keys and values.
    ///
    /// # Errors
    ///
    /// [`MstError::InvalidKey`] for an empty or oversized key.
    pub fn from_entries<K: AsRef<[u8]>>(
        entries: impl IntoIterator<Item = (K, Cid)>,
    ) -> Result<Self, MstError> {
        let mut tree = Self::new();
        for (key, value) in entries {
            tree.insert(key.as_ref(), value)?;
        }
        Ok(tree)
    }

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

    /// The root CID, encoding any nodes changed since loading.
    pub fn root_cid(&self) -> Cid {
        self.root.cid()
    }

    /// The layer of the root node.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// True when the tree holds no keys.
    pub fn is_empty(&self) -> bool {
        matches!(&self.root, Link::Node(node) if node.items.is_empty())
    }

    /// True when some node is only known by its CID.
    pub fn is_partial(&self) -> bool {
        self.first_stub().is_some()
    }

    fn first_stub(&self) -> Option<Cid> {
        let mut stack = vec![&self.root];
        while let Some(link) = stack.pop() {
            match link {
                Link::Stub(cid) => return Some(*cid),
                Link::Node(node) => stack.extend(node.items.iter().filter_map(|item| match item {
                    Item::Child(link) => Some(link),
                    Item::Leaf(_) => None,
                })),
            }
        }
        None
    }

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

    /// Sets `key` to `value`, returning the previous value (the tree is unchanged when it
    /// equals `value`).
    ///
    /// # Errors
    ///
    /// [`MstError::MissingBlock`] when the edit needs a node that is not available (the tree
    /// is then poisoned), [`MstError::InvalidKey`], [`MstError::Poisoned`].
    pub fn insert(&mut self, key: &[u8], value: Cid) -> Result<Option<Cid>, MstError> {
        self.check(key)?;
        let res = self.insert_inner(key, value);
        self.poisoned = res.is_err();
        res
    }

    fn insert_inner(&mut self, key: &[u8], value: Cid) -> Result<Option<Cid>, MstError> {
        let key_height = key_height(key);
        if self.is_empty() {
            self.root = Link::Node(Box::new(edit::chain(key_height, key, key_height, value)));
            self.height = key_height;
            return Ok(None);
        }
        if key_height <= self.height {
            return edit::insert(open_mut(&mut self.root)?, key, key_height, value);
        }
        // The key belongs above the root: split the old tree around it.
        let old = std::mem::replace(&mut self.root, Link::Node(Box::new(Node::new(0, vec![]))));
        let (left, right) = edit::split(old, key)?;
        let below = key_height - 1;
        let mut items = Vec::with_capacity(3);
        items.extend(left.map(|l| Item::Child(edit::lift(l, self.height, below))));
        items.push(Item::Leaf(node::Leaf {
            key: key.to_vec(),
            value,
        }));
        items.extend(right.map(|r| Item::Child(edit::lift(r, self.height, below))));
        self.root = Link::Node(Box::new(Node::new(key_height, items)));
        self.height = key_height;
        Ok(None)
    }

    /// Removes `key`, returning its value, or `None` (tree unchanged) if it was absent.
    ///
    /// # Errors
    ///
    /// As [`Tree::insert`].
    pub fn remove(&mut self, key: &[u8]) -> Result<Option<Cid>, MstError> {
        self.check(key)?;
        let res = self.remove_inner(key);
        self.poisoned = res.is_err();
        res
    }

    fn remove_inner(&mut self, key: &[u8]) -> Result<Option<Cid>, MstError> {
        let key_height = key_height(key);
        if key_height > self.height {
            return Ok(None);
        }
        let prev = edit::remove(open_mut(&mut self.root)?, key, key_height)?;
        if prev.is_some() {
            self.trim();
        }
        Ok(prev)
    }

    /// Drops root nodes that hold nothing but a single link.
    fn trim(&mut self) {
        loop {
            let Link::Node(root) = &mut self.root else {
                return;
            };
            if root.items.is_empty() {
                root.height = 0;
                self.height = 0;
                return;
            }
            if root.items.len() != 1 {
                return;
            }
            let Some(Item::Child(_)) = root.items.first() else {
                return;
            };
            let Some(Item::Child(child)) = root.items.pop() else {
                return;
            };
            self.root = child;
            self.height = self.height.saturating_sub(1);
        }
    }

    fn check(&self, key: &[u8]) -> Result<(), MstError> {
        if self.poisoned {
            return Err(MstError::Poisoned);
        }
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(MstError::InvalidKey { len: key.len() });
        }
        Ok(())
    }

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

    pub(crate) fn root_link(&self) -> &Link {
        &self.root
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
