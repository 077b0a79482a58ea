//! A strict, borrowing parser for the one CBOR shape an MST node block may have:
//! `{e: [{k: bytes, p: uint, t: link|null, v: link}…], l: link|null}`.
//!
//! It accepts only canonical DAG-CBOR: shortest-form heads, definite lengths, map keys in
//! canonical order (which also rules out duplicates), no unknown keys, no trailing bytes.
//! `l` and `t` may be absent (read as null). Lengths are checked against the remaining input
//! before use, and no allocation is sized by a length from the input. This is several times
//! faster than going through serde, and node decoding dominates proof checking.

use crate::cid::Cid;

/// One decoded entry, borrowing its key suffix from the block.
pub(crate) struct RawEntry<'a> {
    pub k: &'a [u8],
    pub p: u64,
    pub t: Option<Cid>,
    pub v: Cid,
}

/// One decoded node, borrowing from the block.
pub(crate) struct RawNode<'a> {
    pub e: Vec<RawEntry<'a>>,
    pub l: Option<Cid>,
}

/// Parses a node block.
pub(crate) fn parse_node(bytes: &[u8]) -> Result<RawNode<'_>, String> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let n_fields = r.expect_head(5, "node map")?;
    let mut e = None;
    let mut l = None;
    let mut last_key: &[u8] = b"";
    for _ in 0..n_fields {
        let key = r.text()?;
        if key <= last_key {
            return Err("node map keys out of order".into());
        }
        last_key = key;
        match key {
            b"e" => {
                let n = r.expect_head(4, "entry list")?;
                // Each entry takes at least 8 bytes, which bounds the allocation.
                let cap = usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .min(r.remaining() / 8);
                let mut entries = Vec::with_capacity(cap);
                for _ in 0..n {
                    entries.push(r.entry()?);
                }
                e = Some(entries);
            }
            b"l" => l = r.link_or_null()?,
            _ => {
                return Err(format!(
                    "unknown node field {:?}",
                    String::from_utf8_lossy(key)
                ))
            }
        }
    }
    if r.pos != bytes.len() {
        return Err("trailing bytes after node".into());
    }
    Ok(RawNode {
        e: e.ok_or("node has no e field")?,
        l,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("unexpected end of node")?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "length too large")?;
        if n > self.remaining() {
            return Err("length runs past the end of the node".into());
        }
        let out = self.buf.get(self.pos..self.pos + n).ok_or("bad slice")?;
        self.pos += n;
        Ok(out)
    }

    /// Reads a head: major type and argument, requiring the shortest form.
    fn head(&mut self) -> Result<(u8, u64), String> {
        let first = self.byte()?;
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let v = u64::from(self.byte()?);
                if v < 24 {
                    return Err("non-minimal integer".into());
                }
                v
            }
            25..=27 => {
                let len = 1u64 << (info - 24);
                let raw = self.take(len)?;
                let v = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                let min = match info {
                    25 => 0x100,
                    26 => 0x1_0000,
                    _ => 0x1_0000_0000,
                };
                if v < min {
                    return Err("non-minimal integer".into());
                }
                v
            }
            _ => return Err("indefinite length or reserved value".into()),
        };
        Ok((major, arg))
    }

    fn expect_head(&mut self, major: u8, what: &str) -> Result<u64, String> {
        match self.head()? {
            (m, arg) if m == major => Ok(arg),
            _ => Err(format!("expected {what}")),
        }
    }

    fn text(&mut self) -> Result<&'a [u8], String> {
        let len = self.expect_head(3, "text key")?;
        self.take(len)
    }

    fn link_or_null(&mut self) -> Result<Option<Cid>, String> {
        if self.buf.get(self.pos) == Some(&0xf6) {
            self.pos += 1;
            return Ok(None);
        }
        self.link().map(Some)
    }

    fn link(&mut self) -> Result<Cid, String> {
        if self.expect_head(6, "link")? != 42 {
            return Err("tag other than 42".into());
        }
        let len = self.expect_head(2, "link bytes")?;
        let raw = self.take(len)?;
        let Some((0, mut cid_bytes)) = raw.split_first().map(|(p, rest)| (*p, rest)) else {
            return Err("link without the 0x00 prefix".into());
        };
        let cid = Cid::read_bytes(&mut cid_bytes).map_err(|e| format!("bad link: {e}"))?;
        if !cid_bytes.is_empty() {
            return Err("trailing bytes in link".into());
        }
        Ok(cid)
    }

    fn entry(&mut self) -> Result<RawEntry<'a>, String> {
        let n_fields = self.expect_head(5, "entry map")?;
        let (mut k, mut p, mut t, mut v) = (None, None, None, None);
        let mut last_key: &[u8] = b"";
        for _ in 0..n_fields {
            let key = self.text()?;
            if key <= last_key {
                return Err("entry map keys out of order".into());
            }
            last_key = key;
            match key {
                b"k" => {
                    let len = self.expect_head(2, "key bytes")?;
                    k = Some(self.take(len)?);
                }
                b"p" => p = Some(self.expect_head(0, "prefix length")?),
                b"t" => t = self.link_or_null()?,
                b"v" => v = Some(self.link()?),
                _ => {
                    return Err(format!(
                        "unknown entry field {:?}",
                        String::from_utf8_lossy(key)
                    ))
                }
            }
        }
        Ok(RawEntry {
            k: k.ok_or("entry has no k")?,
            p: p.ok_or("entry has no p")?,
            t,
            v: v.ok_or("entry has no v")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::cid_for_dag_cbor;
    use ipld_core::ipld::Ipld;
    use std::collections::BTreeMap;

    fn encode(v: &Ipld) -> Vec<u8> {
        serde_ipld_dagcbor::to_vec(v).unwrap()
    }

    fn entry(k: &[u8], p: i128, t: Option<Cid>) -> Ipld {
        let mut m = BTreeMap::new();
        m.insert("k".to_string(), Ipld::Bytes(k.to_vec()));
        m.insert("p".to_string(), Ipld::Integer(p));
        m.insert("t".to_string(), t.map_or(Ipld::Null, Ipld::Link));
        m.insert("v".to_string(), Ipld::Link(cid_for_dag_cbor(b"\xa0")));
        Ipld::Map(m)
    }

    fn node(entries: Vec<Ipld>, extra: Option<(&str, Ipld)>) -> Vec<u8> {
        let mut m = BTreeMap::new();
        m.insert("e".to_string(), Ipld::List(entries));
        m.insert("l".to_string(), Ipld::Null);
        if let Some((k, v)) = extra {
            m.insert(k.to_string(), v);
        }
        encode(&Ipld::Map(m))
    }

    #[test]
    fn accepts_canonical_nodes_and_rejects_the_rest() {
        let child = cid_for_dag_cbor(b"\x01");
        let good = node(
            vec![entry(b"a/1", 0, None), entry(b"2", 2, Some(child))],
            None,
        );
        let parsed = parse_node(&good).unwrap();
        assert_eq!(parsed.e.len(), 2);
        assert_eq!(
            (parsed.e[1].k, parsed.e[1].p, parsed.e[1].t),
            (&b"2"[..], 2, Some(child))
        );
        assert!(parse_node(&node(vec![], Some(("x", Ipld::Null)))).is_err());
        assert!(parse_node(&node(vec![entry(b"a", -1, None)], None)).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(parse_node(&trailing).is_err());
        // A non-minimal array length (0x98 0x01 instead of 0x81).
        let mut m = BTreeMap::new();
        m.insert("e".to_string(), Ipld::List(vec![entry(b"a", 0, None)]));
        let one = encode(&Ipld::Map(m));
        let at = one.iter().position(|b| *b == 0x81).unwrap();
        let mut long = one.clone();
        long.splice(at..=at, [0x98, 0x01]);
        assert!(parse_node(&one).is_ok());
        assert!(parse_node(&long).is_err());
        // Keys out of order: "l" before "e".
        let mut swapped = vec![0xa2, 0x61, b'l', 0xf6, 0x61, b'e', 0x80];
        assert!(parse_node(&swapped).is_err());
        swapped = vec![0xa2, 0x61, b'e', 0x80, 0x61, b'l', 0xf6];
        assert!(parse_node(&swapped).is_ok());
        // Every truncation is an error, never a panic.
        for cut in 0..good.len() {
            assert!(parse_node(&good[..cut]).is_err());
        }
    }
}
