//! CAR v1 reading over a byte slice, with every block's hash checked against its CID.
//!
//! Layout (IPLD CARv1): `varint(header length) ‖ header ‖ section*`, where the header is the
//! DAG-CBOR map `{roots: [CID…], version: 1}` and each section is
//! `varint(length of CID + data) ‖ CID (binary) ‖ data`.
//!
//! The reader borrows block data from the input: no block is copied. Every length read from
//! the input is checked against the bytes that remain before it is used, and the whole input
//! is checked against a caller-supplied size limit before any parsing starts (the firehose
//! limit is [`FIREHOSE_BLOCKS_LIMIT`]). Blocks must use CIDv1 with sha2-256 and the dag-cbor or
//! raw codec, and their bytes must hash to their CID; a CAR that breaks any rule is an error,
//! never a panic. Duplicate blocks are allowed (atproto says so); the first copy is kept.

use std::collections::HashMap;

use ipld_core::cid::multihash::Multihash;
use serde::Deserialize;

use crate::cbor::major::{ARRAY, MAP, UNSIGNED};
use crate::cbor::write_head;
use crate::cid::{verify_block, Cid, CidError};
use crate::mst::out::{cid_or_null, text};

/// The largest `blocks` field a sync-1.1 `#commit` or `#sync` message may carry, in bytes
/// (the CAR header, CIDs and block data all count).
pub const FIREHOSE_BLOCKS_LIMIT: usize = 2_000_000;

/// Largest CAR header accepted, in bytes. Real headers hold one root (about 60 bytes).
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// Why bytes are not an acceptable CAR v1 file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarError {
    /// The input is larger than the caller's limit; nothing was parsed.
    #[error("CAR is {len} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        len: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// The input ended inside a varint, the header, a CID or a block.
    #[error("CAR truncated at offset {offset}: {what}")]
    Truncated {
        /// Byte offset where more input was needed.
        offset: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A varint is longer than 9 bytes or not minimally encoded.
    #[error("invalid varint at offset {offset}")]
    BadVarint {
        /// Byte offset of the varint.
        offset: usize,
    },
    /// The header is larger than [`MAX_HEADER_LEN`] or not the DAG-CBOR map `{roots, version}`.
    #[error("invalid CAR header: {0}")]
    BadHeader(String),
    /// The header's `version` is not 1.
    #[error("unsupported CAR version {0}, expected 1")]
    UnsupportedVersion(u64),
    /// The header lists no root CID.
    #[error("CAR header has no roots")]
    NoRoots,
    /// A section's CID could not be parsed.
    #[error("invalid CID in section at offset {offset}: {reason}")]
    BadCid {
        /// Byte offset of the section.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A section has a CID but no room for it within its declared length.
    #[error("section at offset {offset} is shorter than its CID")]
    SectionTooShort {
        /// Byte offset of the section.
        offset: usize,
    },
    /// A block's CID has a form atproto does not allow, or its bytes do not hash to it.
    #[error("bad block in section at offset {offset}: {source}")]
    BadBlock {
        /// Byte offset of the section.
        offset: usize,
        /// The CID check that failed.
        source: CidError,
    },
}

/// One block of a CAR: its CID and its data, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block<'a> {
    /// The block's CID (already checked against the data).
    pub cid: Cid,
    /// The block's bytes.
    pub data: &'a [u8],
}

/// A fully read and checked CAR: its roots and its blocks, indexed by CID.
#[derive(Debug, Clone)]
pub struct Car<'a> {
    root: Cid,
    roots: Vec<Cid>,
    blocks: HashMap<Cid, &'a [u8]>,
    order: Vec<Cid>,
}

impl<'a> Car<'a> {
    /// Reads and checks a whole CAR from `bytes`, refusing inputs longer than `limit` bytes
    /// before looking at them.
    ///
    /// # Errors
    ///
    /// Any [`CarError`]: over the limit, truncated, malformed header or section, or a block
    /// whose bytes do not hash to its CID.
    pub fn read(bytes: &'a [u8], limit: usize) -> Result<Self, CarError> {
        let mut reader = CarReader::new(bytes, limit)?;
        let mut blocks = HashMap::new();
        let mut order = Vec::new();
        for block in &mut reader {
            let block = block?;
            if let std::collections::hash_map::Entry::Vacant(slot) = blocks.entry(block.cid) {
                slot.insert(block.data);
                order.push(block.cid);
            }
        }
        let root = *reader.roots.first().ok_or(CarError::NoRoots)?;
        Ok(Self {
            root,
            roots: reader.roots,
            blocks,
            order,
        })
    }

    /// The header's root CIDs (never empty).
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// The first root: for repository exports and firehose diffs, the commit CID.
    pub fn root(&self) -> Cid {
        self.root
    }

    /// The data of the block named `cid`, if the CAR holds it.
    pub fn get(&self, cid: &Cid) -> Option<&'a [u8]> {
        self.blocks.get(cid).copied()
    }

    /// Number of distinct blocks.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when the CAR holds no blocks.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The distinct blocks in the order they first appeared.
    pub fn blocks(&self) -> impl Iterator<Item = Block<'a>> + '_ {
        self.order
            .iter()
            .filter_map(|cid| self.blocks.get(cid).map(|data| Block { cid: *cid, data }))
    }
}

/// A streaming CAR reader: parses the header up front, then yields each checked block in
/// file order. After the first error the iterator ends.
#[derive(Debug, Clone)]
pub struct CarReader<'a> {
    roots: Vec<Cid>,
    input: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> CarReader<'a> {
    /// Checks the size limit, then reads the header.
    ///
    /// # Errors
    ///
    /// [`CarError::TooLarge`] before any parsing, or a header error.
    pub fn new(bytes: &'a [u8], limit: usize) -> Result<Self, CarError> {
        if bytes.len() > limit {
            return Err(CarError::TooLarge {
                len: bytes.len(),
                limit,
            });
        }
        let (header_len, mut offset) = read_varint(bytes, 0)?;
        let header_len = usize::try_from(header_len)
            .ok()
            .filter(|len| *len <= MAX_HEADER_LEN)
            .ok_or_else(|| CarError::BadHeader(format!("header length {header_len} too large")))?;
        let header = take(bytes, offset, header_len, "CAR header")?;
        offset += header_len;
        let roots = decode_header(header)?;
        Ok(Self {
            roots,
            input: bytes,
            offset,
            failed: false,
        })
    }

    /// The header's root CIDs (never empty).
    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    fn next_block(&mut self) -> Result<Block<'a>, CarError> {
        let section_start = self.offset;
        let (len, body_start) = read_varint(self.input, section_start)?;
        let len = usize::try_from(len).map_err(|_| CarError::Truncated {
            offset: body_start,
            what: "section",
        })?;
        let section = take(self.input, body_start, len, "section")?;
        let (cid, cid_len) = parse_cid(section).map_err(|reason| match reason {
            CidParse::Short => CarError::SectionTooShort {
                offset: section_start,
            },
            CidParse::Bad(reason) => CarError::BadCid {
                offset: section_start,
                reason,
            },
        })?;
        let data = section.get(cid_len..).ok_or(CarError::SectionTooShort {
            offset: section_start,
        })?;
        verify_block(&cid, data).map_err(|source| CarError::BadBlock {
            offset: section_start,
            source,
        })?;
        self.offset = body_start + len;
        Ok(Block { cid, data })
    }
}

impl<'a> Iterator for CarReader<'a> {
    type Item = Result<Block<'a>, CarError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.input.len() {
            return None;
        }
        let block = self.next_block();
        self.failed = block.is_err();
        Some(block)
    }
}

/// Writes a CAR v1 file with the given roots and blocks (in the order given). Used by test
/// servers and tools; the reader above is what checks untrusted input.
pub fn write_car<'b>(roots: &[Cid], blocks: impl IntoIterator<Item = (Cid, &'b [u8])>) -> Vec<u8> {
    let mut head = Vec::with_capacity(16 + roots.len() * 40);
    write_head(&mut head, MAP, 2);
    text(&mut head, "roots");
    write_head(&mut head, ARRAY, roots.len() as u64);
    for root in roots {
        cid_or_null(&mut head, Some(root));
    }
    text(&mut head, "version");
    write_head(&mut head, UNSIGNED, 1);
    let mut out = Vec::with_capacity(head.len() + 1024);
    write_varint(&mut out, head.len() as u64);
    out.extend_from_slice(&head);
    for (cid, data) in blocks {
        let cid = cid.to_bytes();
        write_varint(&mut out, (cid.len() + data.len()) as u64);
        out.extend_from_slice(&cid);
        out.extend_from_slice(data);
    }
    out
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a multiformats unsigned varint (at most 9 bytes, minimally encoded) at `offset`.
/// Returns the value and the offset just after it.
fn read_varint(bytes: &[u8], offset: usize) -> Result<(u64, usize), CarError> {
    let mut value: u64 = 0;
    for i in 0..9 {
        let pos = offset + i;
        let byte = *bytes.get(pos).ok_or(CarError::Truncated {
            offset: pos,
            what: "varint",
        })?;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(CarError::BadVarint { offset });
            }
            return Ok((value, pos + 1));
        }
    }
    Err(CarError::BadVarint { offset })
}

/// Returns `len` bytes at `offset`, or a truncation error; never slices out of bounds.
fn take<'a>(
    bytes: &'a [u8],
    offset: usize,
    len: usize,
    what: &'static str,
) -> Result<&'a [u8], CarError> {
    offset
        .checked_add(len)
        .and_then(|end| bytes.get(offset..end))
        .ok_or(CarError::Truncated { offset, what })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    roots: Vec<Cid>,
    version: u64,
}

fn decode_header(bytes: &[u8]) -> Result<Vec<Cid>, CarError> {
    let header: Header =
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CarError::BadHeader(e.to_string()))?;
    if header.version != 1 {
        return Err(CarError::UnsupportedVersion(header.version));
    }
    if header.roots.is_empty() {
        return Err(CarError::NoRoots);
    }
    Ok(header.roots)
}

enum CidParse {
    Short,
    Bad(&'static str),
}

/// Parses a binary CIDv1 at the start of `bytes`: `varint(1) ‖ varint(codec) ‖
/// varint(hash code) ‖ varint(digest size) ‖ digest`. Returns the CID and its length.
fn parse_cid(bytes: &[u8]) -> Result<(Cid, usize), CidParse> {
    let varint = |offset| match read_varint(bytes, offset) {
        Ok(v) => Ok(v),
        Err(CarError::Truncated { .. }) => Err(CidParse::Short),
        Err(_) => Err(CidParse::Bad("invalid varint")),
    };
    if bytes.starts_with(&[0x12, 0x20]) {
        return Err(CidParse::Bad("CIDv0 is not allowed"));
    }
    let (version, at) = varint(0)?;
    if version != 1 {
        return Err(CidParse::Bad("CID version is not 1"));
    }
    let (codec, at) = varint(at)?;
    let (code, at) = varint(at)?;
    let (size, at) = varint(at)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|size| *size <= 64)
        .ok_or(CidParse::Bad("digest longer than 64 bytes"))?;
    let end = at + size;
    let digest = bytes.get(at..end).ok_or(CidParse::Short)?;
    let hash = Multihash::<64>::wrap(code, digest).map_err(|_| CidParse::Bad("bad multihash"))?;
    Ok((Cid::new_v1(codec, hash), end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::cid_for_dag_cbor;

    fn car(roots: &[Cid], blocks: &[(Cid, &[u8])]) -> Vec<u8> {
        let bytes = write_car(roots, blocks.iter().copied());
        // The hand-written header agrees with the generic encoder.
        #[derive(serde::Serialize)]
        struct H<'a> {
            roots: &'a [Cid],
            version: u64,
        }
        let header = serde_ipld_dagcbor::to_vec(&H { roots, version: 1 }).unwrap();
        assert_eq!(&bytes[1..1 + header.len()], header.as_slice());
        bytes
    }

    #[test]
    fn reads_blocks_and_rejects_every_truncation_without_panicking() {
        let a: &[u8] = b"\xa1\x61a\x01";
        let b: &[u8] = b"\xa1\x61b\x02";
        let (ca, cb) = (cid_for_dag_cbor(a), cid_for_dag_cbor(b));
        let bytes = car(&[ca], &[(ca, a), (cb, b), (ca, a)]);
        let parsed = Car::read(&bytes, bytes.len()).unwrap();
        assert_eq!(parsed.root(), ca);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed.get(&cb), Some(b));
        for cut in 0..bytes.len() {
            let res = Car::read(&bytes[..cut], usize::MAX);
            // A cut exactly at a section boundary is a valid, shorter CAR.
            if let Ok(c) = res {
                assert!(c.len() <= 2, "cut {cut}");
            }
        }
        assert_eq!(
            Car::read(&bytes, bytes.len() - 1).unwrap_err(),
            CarError::TooLarge {
                len: bytes.len(),
                limit: bytes.len() - 1
            }
        );
    }

    #[test]
    fn lying_block_and_overlong_varint_are_errors() {
        let a: &[u8] = b"\xa1\x61a\x01";
        let ca = cid_for_dag_cbor(a);
        let mut bytes = car(&[ca], &[(ca, a)]);
        let last = bytes.len() - 1;
        bytes[last] = 0x02;
        assert!(matches!(
            Car::read(&bytes, usize::MAX),
            Err(CarError::BadBlock {
                source: CidError::HashMismatch(_),
                ..
            })
        ));
        assert_eq!(
            read_varint(&[0x81, 0x00], 0),
            Err(CarError::BadVarint { offset: 0 })
        );
        assert_eq!(
            read_varint(&[0x80; 12], 0),
            Err(CarError::BadVarint { offset: 0 })
        );
        assert_eq!(read_varint(&[0xac, 0x02], 0), Ok((300, 2)));
    }
}
