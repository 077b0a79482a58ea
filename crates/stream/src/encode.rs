//! Canonical DAG-CBOR writing of frames: map keys sorted shorter-first then bytewise, shortest
//! integer and length heads, CIDs as tag 42. Written by hand rather than through serde so that
//! encoding cannot fail and `blocks` is copied once, straight into the output.

use atrelay_repo::cbor::major::{ARRAY, BYTES, MAP, NEGATIVE, TEXT, UNSIGNED};
use atrelay_repo::cbor::write_head;
use atrelay_repo::cid::Cid;
use ipld_core::ipld::Ipld;

use crate::message::{Extra, RepoOp};

/// One value of a map entry.
pub(crate) enum Field<'a> {
    Int(i64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
    Link(&'a Cid),
    Null,
    Links(&'a [Cid]),
    Ops(&'a [RepoOp]),
    Ipld(&'a Ipld),
}

impl<'a> Field<'a> {
    /// `Text` of `Some`, `Null` of `None`.
    pub(crate) fn text_or_null(text: Option<&'a str>) -> Self {
        text.map_or(Field::Null, Field::Text)
    }

    /// `Link` of `Some`, `Null` of `None`.
    pub(crate) fn link_or_null(cid: Option<&'a Cid>) -> Self {
        cid.map_or(Field::Null, Field::Link)
    }
}

/// Writes a map of the given typed entries plus the `extra` entries whose keys the typed ones
/// do not use, in canonical key order.
pub(crate) fn write_map<'a>(
    out: &mut Vec<u8>,
    mut entries: Vec<(&'a str, Field<'a>)>,
    extra: &'a Extra,
) {
    for (key, value) in extra {
        if !entries.iter().any(|(typed, _)| *typed == key.as_str()) {
            entries.push((key.as_str(), Field::Ipld(value)));
        }
    }
    entries.sort_unstable_by(|(a, _), (b, _)| canonical_key_order(a, b));
    write_head(out, MAP, entries.len() as u64);
    for (key, value) in &entries {
        text(out, key);
        field(out, value);
    }
}

fn canonical_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

fn field(out: &mut Vec<u8>, value: &Field<'_>) {
    match value {
        Field::Int(i) => int(out, i128::from(*i)),
        Field::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Field::Text(t) => text(out, t),
        Field::Bytes(b) => bytes(out, b),
        Field::Link(cid) => link(out, cid),
        Field::Null => out.push(0xf6),
        Field::Links(cids) => {
            write_head(out, ARRAY, cids.len() as u64);
            for cid in cids.iter() {
                link(out, cid);
            }
        }
        Field::Ops(ops) => {
            write_head(out, ARRAY, ops.len() as u64);
            for op in ops.iter() {
                let mut entries = vec![
                    ("action", Field::Text(op.action.as_str())),
                    ("path", Field::Text(&op.path)),
                    ("cid", Field::link_or_null(op.cid.as_ref())),
                ];
                if let Some(prev) = &op.prev {
                    entries.push(("prev", Field::Link(prev)));
                }
                write_map(out, entries, &op.extra);
            }
        }
        Field::Ipld(value) => ipld(out, value),
    }
}

/// Writes an integer. Values outside what CBOR integers hold (|i| ≥ 2^64, never produced by
/// decoding atproto data) are clamped to the nearest representable value.
fn int(out: &mut Vec<u8>, i: i128) {
    if i >= 0 {
        write_head(out, UNSIGNED, u64::try_from(i).unwrap_or(u64::MAX));
    } else {
        write_head(out, NEGATIVE, u64::try_from(-1 - i).unwrap_or(u64::MAX));
    }
}

pub(crate) fn text(out: &mut Vec<u8>, text: &str) {
    write_head(out, TEXT, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_head(out, BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn link(out: &mut Vec<u8>, cid: &Cid) {
    let cid_bytes = cid.to_bytes();
    out.extend_from_slice(&[0xd8, 42]);
    write_head(out, BYTES, cid_bytes.len() as u64 + 1);
    out.push(0x00);
    out.extend_from_slice(&cid_bytes);
}

fn ipld(out: &mut Vec<u8>, value: &Ipld) {
    match value {
        Ipld::Null => out.push(0xf6),
        Ipld::Bool(b) => out.push(if *b { 0xf5 } else { 0xf4 }),
        Ipld::Integer(i) => int(out, *i),
        Ipld::Float(f) => {
            // DAG-CBOR writes every float in 64 bits. Atproto data has none; decoding refuses them.
            out.push(0xfb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Ipld::String(s) => text(out, s),
        Ipld::Bytes(b) => bytes(out, b),
        Ipld::List(items) => {
            write_head(out, ARRAY, items.len() as u64);
            for item in items {
                ipld(out, item);
            }
        }
        Ipld::Map(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|(a, _), (b, _)| canonical_key_order(a, b));
            write_head(out, MAP, entries.len() as u64);
            for (key, item) in entries {
                text(out, key);
                ipld(out, item);
            }
        }
        Ipld::Link(cid) => link(out, cid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_minimal_and_match_serde() {
        for value in [
            0i128,
            23,
            24,
            255,
            256,
            65535,
            65536,
            1 << 32,
            -1,
            -24,
            -25,
            -256,
            -257,
        ] {
            let mut out = Vec::new();
            int(&mut out, value);
            let expected = serde_ipld_dagcbor::to_vec(&Ipld::Integer(value)).unwrap();
            assert_eq!(out, expected, "{value}");
        }
    }

    #[test]
    fn ipld_matches_serde_encoding() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(
            "zz".to_owned(),
            Ipld::List(vec![Ipld::Null, Ipld::Bool(false)]),
        );
        map.insert("b".to_owned(), Ipld::Bytes(vec![0; 30]));
        map.insert("aaa".to_owned(), Ipld::String("x".repeat(300)));
        map.insert(
            "l".to_owned(),
            Ipld::Link(atrelay_repo::cid::cid_for_dag_cbor(b"x")),
        );
        let value = Ipld::Map(map);
        let mut out = Vec::new();
        ipld(&mut out, &value);
        assert_eq!(out, serde_ipld_dagcbor::to_vec(&value).unwrap());
    }
}
