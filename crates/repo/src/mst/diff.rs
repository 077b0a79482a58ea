//! The difference between two trees: nodes created and deleted, records created, updated
//! and deleted. Subtrees present in both trees are skipped without being read.

use std::collections::{BTreeMap, HashSet};

use super::edit::open_ref;
use super::node::{Item, Link};
use super::{MstError, Tree};
use crate::cid::Cid;

/// How one key changed between two trees.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordChange {
    /// The key (repository path).
    pub key: Vec<u8>,
    /// Its value before, `None` if it was created.
    pub old: Option<Cid>,
    /// Its value after, `None` if it was deleted.
    pub new: Option<Cid>,
}

/// The result of [`diff`]. All lists are sorted (CIDs by their bytes, changes by key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Nodes of the new tree that are not in the old one.
    pub created_nodes: Vec<Cid>,
    /// Nodes of the old tree that are not in the new one.
    pub deleted_nodes: Vec<Cid>,
    /// Keys whose value changed, appeared or disappeared.
    pub record_ops: Vec<RecordChange>,
}

/// Compares `before` with `after`.
///
/// # Errors
///
/// [`MstError::MissingBlock`] when a node that differs between the trees is not available.
pub fn diff(before: &Tree, after: &Tree) -> Result<Diff, MstError> {
    let mut in_before = HashSet::new();
    collect_cids(before.root_link(), &mut in_before);

    let mut shared = HashSet::new();
    let mut created = Vec::new();
    let mut new_leaves = BTreeMap::new();
    walk_unshared(
        after.root_link(),
        &in_before,
        &mut shared,
        &mut created,
        &mut new_leaves,
    )?;

    let mut deleted = Vec::new();
    let mut old_leaves = BTreeMap::new();
    let mut unused = HashSet::new();
    walk_unshared(
        before.root_link(),
        &shared,
        &mut unused,
        &mut deleted,
        &mut old_leaves,
    )?;

    let mut record_ops = Vec::new();
    for (key, old) in &old_leaves {
        match new_leaves.get(key) {
            Some(new) if new == old => {}
            new => record_ops.push(RecordChange {
                key: key.clone(),
                old: Some(*old),
                new: new.copied(),
            }),
        }
    }
    for (key, new) in &new_leaves {
        if !old_leaves.contains_key(key) {
            record_ops.push(RecordChange {
                key: key.clone(),
                old: None,
                new: Some(*new),
            });
        }
    }
    record_ops.sort();
    created.sort_by_key(|cid: &Cid| cid.to_bytes());
    deleted.sort_by_key(|cid: &Cid| cid.to_bytes());
    Ok(Diff {
        created_nodes: created,
        deleted_nodes: deleted,
        record_ops,
    })
}

/// Adds the CID of every node reachable from `link` (stubs included) to `out`.
fn collect_cids(link: &Link, out: &mut HashSet<Cid>) {
    let mut stack = vec![link];
    while let Some(link) = stack.pop() {
        out.insert(link.cid());
        if let Link::Node(node) = link {
            for item in &node.items {
                if let Item::Child(child) = item {
                    stack.push(child);
                }
            }
        }
    }
}

/// Walks the subtree at `link`, stopping at nodes whose CID is in `skip` (recorded in
/// `skipped`); every other node goes to `nodes` and its leaves to `leaves`.
fn walk_unshared(
    link: &Link,
    skip: &HashSet<Cid>,
    skipped: &mut HashSet<Cid>,
    nodes: &mut Vec<Cid>,
    leaves: &mut BTreeMap<Vec<u8>, Cid>,
) -> Result<(), MstError> {
    let mut stack = vec![link];
    while let Some(link) = stack.pop() {
        let cid = link.cid();
        if skip.contains(&cid) {
            skipped.insert(cid);
            continue;
        }
        let node = open_ref(link)?;
        nodes.push(cid);
        for item in &node.items {
            match item {
                Item::Leaf(leaf) => {
                    leaves.insert(leaf.key.clone(), leaf.value);
                }
                Item::Child(child) => stack.push(child),
            }
        }
    }
    Ok(())
}
