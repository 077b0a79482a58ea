//! Writing canonical DAG-CBOR by hand for the few fixed shapes this crate produces (MST
//! nodes, commits): no intermediate values and no fallible serializer.

use crate::cid::Cid;

/// Writes a CBOR head: major type and argument, in the shortest form.
pub(crate) fn header(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    if n < 24 {
        out.push(major | n as u8);
    } else if n <= u64::from(u8::MAX) {
        out.push(major | 24);
        out.push(n as u8);
    } else if n <= u64::from(u16::MAX) {
        out.push(major | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= u64::from(u32::MAX) {
        out.push(major | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes a text string.
pub(crate) fn text(out: &mut Vec<u8>, s: &str) {
    header(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a CID link (tag 42, bytes with a 0x00 prefix) or null.
pub(crate) fn cid_or_null(out: &mut Vec<u8>, cid: Option<&Cid>) {
    match cid {
        None => out.push(0xf6),
        Some(cid) => {
            let bytes = cid.to_bytes();
            out.extend_from_slice(&[0xd8, 42]);
            header(out, 2, bytes.len() as u64 + 1);
            out.push(0);
            out.extend_from_slice(&bytes);
        }
    }
}

/// Writes a byte string.
pub(crate) fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    header(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}
