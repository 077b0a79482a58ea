//! Writing canonical DAG-CBOR by hand for the few fixed shapes this crate produces (MST
//! nodes, commits): no intermediate values and no fallible serializer.

use crate::cid::Cid;

use crate::cbor::major::{BYTES, TEXT};
use crate::cbor::write_head;

/// Writes a text string.
pub(crate) fn text(out: &mut Vec<u8>, s: &str) {
    write_head(out, TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a CID link (tag 42, bytes with a 0x00 prefix) or null.
pub(crate) fn cid_or_null(out: &mut Vec<u8>, cid: Option<&Cid>) {
    match cid {
        None => out.push(0xf6),
        Some(cid) => {
            let bytes = cid.to_bytes();
            out.extend_from_slice(&[0xd8, 42]);
            write_head(out, BYTES, bytes.len() as u64 + 1);
            out.push(0);
            out.extend_from_slice(&bytes);
        }
    }
}

/// Writes a byte string.
pub(crate) fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_head(out, BYTES, b.len() as u64);
    out.extend_from_slice(b);
}
