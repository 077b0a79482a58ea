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
//!
//! # Where things are
//!
//! This file holds [`Tree`] itself; `load` reads a tree from blocks ([`BlockSource`]),
//! `lookup` answers queries and builds proof node sets, `edit` inserts and removes keys, `walk`
//! iterates entries and blocks, `diff` compares two trees, `node` and `parse` are the node
//! blocks and their strict parser, and `error` is [`MstError`].

mod diff;
mod edit;
mod error;
mod load;
mod lookup;
mod node;
pub(crate) mod out;
mod parse;
mod walk;

pub use diff::{diff, Diff, RecordChange};
pub use error::MstError;
pub use load::BlockSource;
pub use node::{common_prefix_len, key_height};
pub use walk::Iter;

use node::{Item, Link, Node};

use crate::cid::Cid;

/// Longest key accepted, in bytes (repository paths are far shorter).
pub const MAX_KEY_LEN: usize = 1024;

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

    fn check(&self, key: &[u8]) -> Result<(), MstError> {
        if self.poisoned {
            return Err(MstError::Poisoned);
        }
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(MstError::InvalidKey { len: key.len() });
        }
        Ok(())
    }

    pub(crate) fn root_link(&self) -> &Link {
        &self.root
    }
}
