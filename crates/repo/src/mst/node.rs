//! MST nodes in memory, and their DAG-CBOR form `{e: [{k, p, t, v}…], l}`.

use std::cell::OnceCell;

use sha2::{Digest, Sha256};

use super::out::{cid_or_null, text};
use super::parse::parse_node;
use super::{MstError, MAX_KEY_LEN};
use crate::cbor::major::{ARRAY, BYTES, UNSIGNED};
use crate::cbor::write_head;
use crate::cid::{cid_for_dag_cbor, Cid};

/// Returns the MST layer of `key`: the number of leading zero bits of SHA-256(key), counted
/// in 2-bit chunks (fanout 4). Layer 0 is the bottom of the tree.
pub fn key_height(key: &[u8]) -> u32 {
    let digest = Sha256::digest(key);
    let mut zeros = 0;
    for byte in digest {
        zeros += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    zeros / 2
}

/// Returns how many leading bytes `a` and `b` share (the MST prefix-compression length).
pub fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A decoded MST node: an ordered list of leaves and child links, never two links in a row.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The layer this node sits at; all its leaves have this key height.
    pub height: u32,
    /// Leaves and links in key order.
    pub items: Vec<Item>,
    /// The node's CID once known: set when loaded, computed lazily after a change.
    pub cid: OnceCell<Cid>,
    /// True when this node was created or changed since the tree was loaded.
    pub fresh: bool,
}

/// One element of a node: a key/value leaf, or a link to a subtree one layer down.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Leaf(Leaf),
    Child(Link),
}

/// A key (repository path) and its value (record CID).
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub key: Vec<u8>,
    pub value: Cid,
}

/// A link to a subtree: decoded in memory, or only its CID (the block was not available).
#[derive(Debug, Clone)]
pub(crate) enum Link {
    Node(Box<Node>),
    Stub(Cid),
}

impl Link {
    /// The subtree's CID (computing it if the subtree changed).
    pub fn cid(&self) -> Cid {
        match self {
            Link::Node(node) => node.cid(),
            Link::Stub(cid) => *cid,
        }
    }
}

impl Node {
    /// A new node that has no block yet.
    pub fn new(height: u32, items: Vec<Item>) -> Self {
        Self {
            height,
            items,
            cid: OnceCell::new(),
            fresh: true,
        }
    }

    /// Forgets the cached CID after a change.
    pub fn touch(&mut self) {
        self.cid = OnceCell::new();
        self.fresh = true;
    }

    /// The node's CID, encoding it (and any changed children) if needed.
    pub fn cid(&self) -> Cid {
        *self.cid.get_or_init(|| cid_for_dag_cbor(&self.encode()))
    }

    /// The canonical DAG-CBOR encoding of this node.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.items.len() * 80);
        let mut items = self.items.iter().peekable();
        let left = match items.peek() {
            Some(Item::Child(link)) => {
                let cid = link.cid();
                items.next();
                Some(cid)
            }
            _ => None,
        };
        let n_leaves = self
            .items
            .iter()
            .filter(|item| matches!(item, Item::Leaf(_)))
            .count();
        out.push(0xa2);
        text(&mut out, "e");
        write_head(&mut out, ARRAY, n_leaves as u64);
        let mut prev: &[u8] = &[];
        while let Some(item) = items.next() {
            let Item::Leaf(leaf) = item else {
                // Links follow a leaf and are written with it; a link cannot follow a link.
                continue;
            };
            let right = match items.peek() {
                Some(Item::Child(link)) => Some(link.cid()),
                _ => None,
            };
            let prefix = common_prefix_len(prev, &leaf.key);
            out.push(0xa4);
            text(&mut out, "k");
            let suffix = leaf.key.get(prefix..).unwrap_or_default();
            write_head(&mut out, BYTES, suffix.len() as u64);
            out.extend_from_slice(suffix);
            text(&mut out, "p");
            write_head(&mut out, UNSIGNED, prefix as u64);
            text(&mut out, "t");
            cid_or_null(&mut out, right.as_ref());
            text(&mut out, "v");
            cid_or_null(&mut out, Some(&leaf.value));
            prev = &leaf.key;
        }
        text(&mut out, "l");
        cid_or_null(&mut out, left.as_ref());
        out
    }
}

/// Where a node sits: the layer its parent expects (`None` for the root) and the keys that
/// bound it (exclusive), taken from the leaves around it in its ancestors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'k> {
    pub height: Option<u32>,
    pub lower: Option<&'k [u8]>,
    pub upper: Option<&'k [u8]>,
}

/// Decodes one node block and checks everything that can be checked locally: canonical
/// prefix compression, key order, key layer, bounds from the parent and child placement.
/// Children are returned as stubs. Returns `None` for the empty root node.
pub(crate) fn decode_node(cid: Cid, bytes: &[u8], place: Place<'_>) -> Result<Node, MstError> {
    let invalid = |reason: String| MstError::InvalidNode { cid, reason };
    let data = parse_node(bytes).map_err(invalid)?;
    let mut items = Vec::with_capacity(data.e.len() * 2 + 1);
    if let Some(left) = data.l {
        items.push(Item::Child(Link::Stub(left)));
    }
    let mut height = place.height;
    let mut key_buf: Vec<u8> = Vec::new();
    let mut leaves: Vec<Leaf> = Vec::with_capacity(data.e.len());
    for (idx, entry) in data.e.iter().enumerate() {
        let shared = usize::try_from(entry.p)
            .ok()
            .filter(|p| *p <= key_buf.len())
            .ok_or_else(|| invalid(format!("entry {idx}: prefix length {} too long", entry.p)))?;
        key_buf.truncate(shared);
        key_buf.extend_from_slice(entry.k);
        let key = key_buf.as_slice();
        let prev = leaves.last().map(|leaf: &Leaf| leaf.key.as_slice());
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(invalid(format!("entry {idx}: key length {}", key.len())));
        }
        if let Some(prev) = prev {
            if common_prefix_len(prev, key) != shared {
                return Err(invalid(format!(
                    "entry {idx}: prefix compression is not maximal"
                )));
            }
            if key <= prev {
                return Err(invalid(format!("entry {idx}: keys out of order")));
            }
        } else if shared != 0 {
            return Err(invalid("first entry has a non-zero prefix length".into()));
        }
        if place.lower.is_some_and(|lower| key <= lower)
            || place.upper.is_some_and(|upper| key >= upper)
        {
            return Err(invalid(format!(
                "entry {idx}: key outside the parent's range"
            )));
        }
        let layer = key_height(key);
        match height {
            None => height = Some(layer),
            Some(h) if h != layer => {
                return Err(invalid(format!(
                    "entry {idx}: key of layer {layer} in a node of layer {h}"
                )))
            }
            Some(_) => {}
        }
        leaves.push(Leaf {
            key: key.to_vec(),
            value: entry.v,
        });
    }
    for (leaf, entry) in leaves.into_iter().zip(&data.e) {
        items.push(Item::Leaf(leaf));
        if let Some(right) = entry.t {
            items.push(Item::Child(Link::Stub(right)));
        }
    }
    let height = match (height, items.is_empty()) {
        (Some(h), false) => h,
        (None, true) => 0,
        (Some(_), true) => return Err(invalid("empty node below the root".into())),
        (None, false) => return Err(invalid("root node has no entries, only a subtree".into())),
    };
    if height == 0 && items.iter().any(|item| matches!(item, Item::Child(_))) {
        return Err(invalid("node at layer 0 has a subtree".into()));
    }
    Ok(Node {
        height,
        items,
        cid: OnceCell::from(cid),
        fresh: false,
    })
}
