//! Inserting and removing keys: the splits and merges that keep the tree canonical.
//!
//! Every function here works on possibly partial trees and returns
//! [`MstError::MissingBlock`] as soon as it needs a node that is only a stub.
//! [`Tree::insert`] and [`Tree::remove`] (at the end) are the entry points; the functions
//! before them work on nodes.

use super::node::{key_height, Item, Leaf, Link, Node};
use super::{MstError, Tree};
use crate::cid::Cid;

/// Where a key falls among a node's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The key is the leaf at this index.
    Leaf(usize),
    /// The key is not a leaf here: it would be inserted at index `at`; if the item just
    /// before `at` is a link, its subtree covers the key's range (`child` is that index).
    Gap { at: usize, child: Option<usize> },
}

/// Finds `key` among `items`.
pub(crate) fn slot(items: &[Item], key: &[u8]) -> Slot {
    // Binary search for the first leaf >= key. A link takes the answer of the leaf before
    // it (a link never follows a link), which keeps the predicate monotone.
    let below = |idx: usize| match items.get(idx) {
        Some(Item::Leaf(leaf)) => leaf.key.as_slice() < key,
        Some(Item::Child(_)) => match idx.checked_sub(1).and_then(|i| items.get(i)) {
            Some(Item::Leaf(leaf)) => leaf.key.as_slice() < key,
            _ => true,
        },
        None => false,
    };
    let (mut lo, mut hi) = (0, items.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let at = lo;
    if let Some(Item::Leaf(leaf)) = items.get(at) {
        if leaf.key == key {
            return Slot::Leaf(at);
        }
    }
    let child = match at.checked_sub(1).and_then(|i| items.get(i)) {
        Some(Item::Child(_)) => at.checked_sub(1),
        _ => None,
    };
    Slot::Gap { at, child }
}

/// Borrows the node behind a link, or reports the missing block.
pub(crate) fn open_mut(link: &mut Link) -> Result<&mut Node, MstError> {
    match link {
        Link::Node(node) => Ok(node),
        Link::Stub(cid) => Err(MstError::MissingBlock(*cid)),
    }
}

/// Borrows the node behind a link, or reports the missing block.
pub(crate) fn open_ref(link: &Link) -> Result<&Node, MstError> {
    match link {
        Link::Node(node) => Ok(node),
        Link::Stub(cid) => Err(MstError::MissingBlock(*cid)),
    }
}

fn open(link: Link) -> Result<Box<Node>, MstError> {
    match link {
        Link::Node(node) => Ok(node),
        Link::Stub(cid) => Err(MstError::MissingBlock(cid)),
    }
}

fn corrupt(what: &str) -> MstError {
    MstError::Corrupt(what.to_string())
}

/// A fresh chain of nodes from layer `height` down to the key's layer `key_height`, holding
/// only the new leaf (intermediate nodes hold just a link, so no layer is skipped).
pub(crate) fn chain(height: u32, key: &[u8], key_height: u32, value: Cid) -> Node {
    let mut node = Node::new(
        key_height,
        vec![Item::Leaf(Leaf {
            key: key.to_vec(),
            value,
        })],
    );
    for layer in key_height + 1..=height {
        node = Node::new(layer, vec![Item::Child(Link::Node(Box::new(node)))]);
    }
    node
}

/// Wraps a subtree at layer `from` in single-link nodes until it sits at layer `to`.
pub(crate) fn lift(mut link: Link, from: u32, to: u32) -> Link {
    for layer in from + 1..=to {
        link = Link::Node(Box::new(Node::new(layer, vec![Item::Child(link)])));
    }
    link
}

/// Sets `key` to `value` in the subtree `node`, where `key_height <= node.height`.
/// Returns the previous value; the tree is untouched when it equals `value`.
pub(crate) fn insert(
    node: &mut Node,
    key: &[u8],
    key_height: u32,
    value: Cid,
) -> Result<Option<Cid>, MstError> {
    match slot(&node.items, key) {
        Slot::Leaf(idx) => {
            let Some(Item::Leaf(leaf)) = node.items.get_mut(idx) else {
                return Err(corrupt("slot is not a leaf"));
            };
            if leaf.value == value {
                return Ok(Some(value));
            }
            let prev = std::mem::replace(&mut leaf.value, value);
            node.touch();
            Ok(Some(prev))
        }
        Slot::Gap { at, child } if key_height == node.height => {
            let leaf = Item::Leaf(Leaf {
                key: key.to_vec(),
                value,
            });
            match child {
                None => node.items.insert(at, leaf),
                Some(idx) => {
                    let Item::Child(link) = node.items.remove(idx) else {
                        return Err(corrupt("slot child is not a link"));
                    };
                    let (left, right) = split(link, key)?;
                    let new = left
                        .map(Item::Child)
                        .into_iter()
                        .chain(Some(leaf))
                        .chain(right.map(Item::Child));
                    node.items.splice(idx..idx, new);
                }
            }
            node.touch();
            Ok(None)
        }
        Slot::Gap { at, child } => {
            let below = node
                .height
                .checked_sub(1)
                .ok_or_else(|| corrupt("key below layer 0"))?;
            match child {
                Some(idx) => {
                    let Some(Item::Child(link)) = node.items.get_mut(idx) else {
                        return Err(corrupt("slot child is not a link"));
                    };
                    let prev = insert(open_mut(link)?, key, key_height, value)?;
                    if prev != Some(value) {
                        node.touch();
                    }
                    Ok(prev)
                }
                None => {
                    let new = chain(below, key, key_height, value);
                    node.items
                        .insert(at, Item::Child(Link::Node(Box::new(new))));
                    node.touch();
                    Ok(None)
                }
            }
        }
    }
}

/// Splits the subtree behind `link` around `key` (which is not in it) into the part below
/// the key and the part above it; an empty part is `None`.
pub(crate) fn split(link: Link, key: &[u8]) -> Result<(Option<Link>, Option<Link>), MstError> {
    let mut node = open(link)?;
    let Slot::Gap { at, child } = slot(&node.items, key) else {
        return Err(corrupt("split key is already a leaf of a lower layer"));
    };
    let height = node.height;
    if child.is_none() {
        if at == 0 {
            return Ok((None, Some(Link::Node(node))));
        }
        if at == node.items.len() {
            return Ok((Some(Link::Node(node)), None));
        }
    }
    let right_items = node.items.split_off(at);
    let (lower_left, lower_right) = match child {
        Some(_) => match node.items.pop() {
            Some(Item::Child(link)) => split(link, key)?,
            _ => return Err(corrupt("slot child is not a link")),
        },
        None => (None, None),
    };
    node.items.extend(lower_left.map(Item::Child));
    node.touch();
    let mut right = Node::new(height, Vec::with_capacity(right_items.len() + 1));
    right.items.extend(lower_right.map(Item::Child));
    right.items.extend(right_items);
    let left = (!node.items.is_empty()).then_some(Link::Node(node));
    let right = (!right.items.is_empty()).then_some(Link::Node(Box::new(right)));
    Ok((left, right))
}

/// Removes `key` from the subtree `node`, where `key_height <= node.height`. Returns the
/// removed value, or `None` (tree untouched) when the key is absent. The node may be left
/// empty; the caller drops it.
pub(crate) fn remove(
    node: &mut Node,
    key: &[u8],
    key_height: u32,
) -> Result<Option<Cid>, MstError> {
    match slot(&node.items, key) {
        Slot::Leaf(idx) => {
            let neighbours_are_links = matches!(
                (
                    idx.checked_sub(1).and_then(|i| node.items.get(i)),
                    node.items.get(idx + 1)
                ),
                (Some(Item::Child(_)), Some(Item::Child(_)))
            );
            let prev = if neighbours_are_links {
                let right = node.items.remove(idx + 1);
                let leaf = node.items.remove(idx);
                let left = node.items.remove(idx - 1);
                let (Item::Child(left), Item::Child(right)) = (left, right) else {
                    return Err(corrupt("neighbours are not links"));
                };
                node.items.insert(idx - 1, Item::Child(merge(left, right)?));
                leaf
            } else {
                node.items.remove(idx)
            };
            let Item::Leaf(prev) = prev else {
                return Err(corrupt("slot is not a leaf"));
            };
            node.touch();
            Ok(Some(prev.value))
        }
        Slot::Gap {
            child: Some(idx), ..
        } if key_height < node.height => {
            let Some(Item::Child(link)) = node.items.get_mut(idx) else {
                return Err(corrupt("slot child is not a link"));
            };
            let child = open_mut(link)?;
            let prev = remove(child, key, key_height)?;
            if prev.is_none() {
                return Ok(None);
            }
            if child.items.is_empty() {
                node.items.remove(idx);
            }
            node.touch();
            Ok(prev)
        }
        Slot::Gap { .. } => Ok(None),
    }
}

/// Joins two adjacent subtrees of the same layer (all keys of `left` below all of `right`),
/// merging their facing edges recursively.
fn merge(left: Link, right: Link) -> Result<Link, MstError> {
    let mut left = open(left)?;
    let right = open(right)?;
    let mut right_items = right.items.into_iter().peekable();
    if matches!(left.items.last(), Some(Item::Child(_)))
        && matches!(right_items.peek(), Some(Item::Child(_)))
    {
        let (Some(Item::Child(lower_left)), Some(Item::Child(lower_right))) =
            (left.items.pop(), right_items.next())
        else {
            return Err(corrupt("merge edges are not links"));
        };
        left.items
            .push(Item::Child(merge(lower_left, lower_right)?));
    }
    left.items.extend(right_items);
    left.touch();
    Ok(Link::Node(left))
}

impl Tree {
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
            self.root = Link::Node(Box::new(chain(key_height, key, key_height, value)));
            self.height = key_height;
            return Ok(None);
        }
        if key_height <= self.height {
            return insert(open_mut(&mut self.root)?, key, key_height, value);
        }
        // The key belongs above the root: split the old tree around it.
        let old = std::mem::replace(&mut self.root, Link::Node(Box::new(Node::new(0, vec![]))));
        let (left, right) = split(old, key)?;
        let below = key_height - 1;
        let mut items = Vec::with_capacity(3);
        items.extend(left.map(|l| Item::Child(lift(l, self.height, below))));
        items.push(Item::Leaf(Leaf {
            key: key.to_vec(),
            value,
        }));
        items.extend(right.map(|r| Item::Child(lift(r, self.height, below))));
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
        let prev = remove(open_mut(&mut self.root)?, key, key_height)?;
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
}
