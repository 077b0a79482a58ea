//! The on-disk format: file names, segment header, record framing and index files.
//!
//! All integers are little-endian.
//!
//! **Segment file** `<first_seq, 20 digits>.log`: a 16-byte header, then records back to back.
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `b"atrlog\0\x01"` (last byte is the format version) |
//! | 8 | 8 | `first_seq` i64, equal to the number in the file name |
//!
//! **Record**: a 28-byte header, the origin when flag bit 0 is set, the DID, then the opaque
//! event body.
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 4 | `len` u32: bytes after the CRC field (20 + origin block + DID length + body length) |
//! | 4 | 4 | CRC-32 (IEEE) over the segment's `first_seq` (8 bytes) then the `len` bytes that follow |
//! | 8 | 8 | `seq` i64 |
//! | 16 | 8 | `time_us` i64: append (or receive) time, µs since the Unix epoch |
//! | 24 | 1 | `kind` u8, chosen by the caller |
//! | 25 | 1 | flags u8: bit 0 = an origin follows; other bits zero (a record with one set is invalid) |
//! | 26 | 2 | DID length u16 |
//! | 28 | 18 + k | origin, only with flag bit 0: `source` i64, `source_seq` i64, note length u16 `k`, note ([`crate::Origin`]) |
//! | 28 + o | n | DID, UTF-8 (`o` is 18 + k with an origin, else 0) |
//! | 28 + o + n | m | event body |
//!
//! Records without an origin are byte for byte those of the first release of the format, so
//! logs written before origins existed read unchanged.
//!
//! Mixing the segment's first seq into the CRC means a record only verifies in the file it
//! was written to (as in raft-engine). A zero-filled or cut-short tail fails the length or
//! CRC check, which is how a torn write is found.
//!
//! **Index file** `<first_seq>.idx`, written once when a segment is sealed: magic
//! `b"atridx\0\x01"`, `first_seq` i64, entry count u32, entries of (`seq` i64, `offset` u64)
//! in increasing order, and a CRC-32 of everything before it. Its last entry is the
//! segment's last record, which gives the segment's newest seq and time without a scan.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Segment file magic; the last byte is the format version.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"atrlog\0\x01";
/// Index file magic; the last byte is the format version.
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"atridx\0\x01";
/// Bytes before the first record of a segment.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// Bytes of a record's fixed header (before its origin or DID).
pub(crate) const RECORD_HEADER_LEN: usize = 28;
/// Bytes of a record's origin block before its note, when it has one.
const ORIGIN_FIXED_LEN: usize = 18;
/// Longest origin note.
pub const MAX_NOTE_BYTES: usize = u16::MAX as usize;
/// Flag bit: the record carries an origin.
const FLAG_ORIGIN: u8 = 1;
/// Bytes of `len` and CRC.
const FRAME_PREFIX_LEN: usize = 8;
/// Largest event body accepted by `append`.
pub const MAX_EVENT_BYTES: usize = 64 << 20;
/// Longest DID accepted (the DID spec's limit).
pub const MAX_DID_BYTES: usize = 2048;
/// Largest `len` field a valid record can carry.
const MAX_RECORD_LEN: usize = RECORD_HEADER_LEN - FRAME_PREFIX_LEN
    + ORIGIN_FIXED_LEN
    + MAX_NOTE_BYTES
    + MAX_DID_BYTES
    + MAX_EVENT_BYTES;

/// File name of the segment whose first record has `first_seq`.
pub(crate) fn segment_path(dir: &Path, first_seq: i64) -> PathBuf {
    dir.join(format!("{first_seq:020}.log"))
}

/// File name of the index of the segment starting at `first_seq`.
pub(crate) fn index_path(dir: &Path, first_seq: i64) -> PathBuf {
    dir.join(format!("{first_seq:020}.idx"))
}

/// Parses a segment or index file name into its first seq and whether it is a segment;
/// `None` for any other file.
pub(crate) fn parse_file_name(name: &str) -> Option<(i64, FileKind)> {
    let (stem, kind) = if let Some(stem) = name.strip_suffix(".log") {
        (stem, FileKind::Segment)
    } else if let Some(stem) = name.strip_suffix(".idx") {
        (stem, FileKind::Index)
    } else {
        return None;
    };
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok().map(|seq| (seq, kind))
}

/// The kinds of file the log keeps per segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `<seq>.log`
    Segment,
    /// `<seq>.idx`
    Index,
}

/// The 16-byte header that starts every segment.
pub(crate) fn segment_header(first_seq: i64) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut out = [0u8; SEGMENT_HEADER_LEN as usize];
    out[..8].copy_from_slice(&SEGMENT_MAGIC);
    out[8..].copy_from_slice(&first_seq.to_le_bytes());
    out
}

/// Checks a segment header read from `path`.
pub(crate) fn check_segment_header(path: &Path, bytes: &[u8], first_seq: i64) -> Result<(), Error> {
    if bytes.len() < SEGMENT_HEADER_LEN as usize {
        return Err(Error::corrupt(path, 0, "segment header cut short"));
    }
    if bytes[..8] != SEGMENT_MAGIC {
        return Err(Error::corrupt(
            path,
            0,
            "bad segment magic or unknown format version",
        ));
    }
    let seq = read_i64(&bytes[8..16]);
    if seq != first_seq {
        return Err(Error::corrupt(
            path,
            8,
            format!("header says first seq {seq}, name says {first_seq}"),
        ));
    }
    Ok(())
}

/// One event's fields as stored, borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordRef<'a> {
    /// Relay sequence number.
    pub seq: i64,
    /// Append time, microseconds since the Unix epoch.
    pub time_us: i64,
    /// Caller-chosen kind byte.
    pub kind: u8,
    /// Where the event came from, when the caller said.
    pub origin: Option<OriginRef<'a>>,
    /// The account the event is about.
    pub did: &'a str,
    /// The encoded event.
    pub body: &'a [u8],
}

impl RecordRef<'_> {
    /// Total bytes the record takes in a segment.
    pub fn encoded_len(&self) -> usize {
        self.did_offset() + self.did.len() + self.body.len()
    }

    /// Offset of the DID from the start of the record.
    pub fn did_offset(&self) -> usize {
        did_offset(self.origin.map(|o| o.note.len()))
    }

    /// Appends the framed record to `out`; `base` is the segment's first seq.
    /// The caller has checked the DID and body limits.
    pub fn encode_into(&self, base: i64, out: &mut Vec<u8>) {
        let start = out.len();
        let len = (self.encoded_len() - FRAME_PREFIX_LEN) as u32;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.time_us.to_le_bytes());
        out.push(self.kind);
        out.push(if self.origin.is_some() {
            FLAG_ORIGIN
        } else {
            0
        });
        out.extend_from_slice(&(self.did.len() as u16).to_le_bytes());
        if let Some(origin) = self.origin {
            out.extend_from_slice(&origin.source.to_le_bytes());
            out.extend_from_slice(&origin.source_seq.to_le_bytes());
            out.extend_from_slice(&(origin.note.len() as u16).to_le_bytes());
            out.extend_from_slice(origin.note);
        }
        out.extend_from_slice(self.did.as_bytes());
        out.extend_from_slice(self.body);
        let crc = record_crc(base, &out[start + FRAME_PREFIX_LEN..]);
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

/// The result of trying to decode one record at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A whole, verified record and the bytes it takes.
    Record(RecordRef<'a>, usize),
    /// The buffer ends inside the record; at least this many bytes are needed in total.
    Incomplete(usize),
    /// The bytes cannot be a valid record.
    Invalid(&'static str),
}

/// Decodes and verifies the record at the start of `buf`, in a segment starting at `base`.
pub(crate) fn decode_record(buf: &[u8], base: i64) -> Decoded<'_> {
    let Some(prefix) = buf.get(..FRAME_PREFIX_LEN) else {
        return Decoded::Incomplete(RECORD_HEADER_LEN);
    };
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len < RECORD_HEADER_LEN - FRAME_PREFIX_LEN {
        return Decoded::Invalid("record length below the header size");
    }
    if len > MAX_RECORD_LEN {
        return Decoded::Invalid("record length above the maximum");
    }
    let total = FRAME_PREFIX_LEN + len;
    let Some(record) = buf.get(..total) else {
        return Decoded::Incomplete(total);
    };
    let crc = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
    let body = &record[FRAME_PREFIX_LEN..];
    if record_crc(base, body) != crc {
        return Decoded::Invalid("record checksum mismatch");
    }
    let seq = read_i64(&record[8..16]);
    let time_us = read_i64(&record[16..24]);
    let kind = record[24];
    let flags = record[25];
    if flags & !FLAG_ORIGIN != 0 {
        return Decoded::Invalid("unknown record flags");
    }
    let origin = if flags & FLAG_ORIGIN != 0 {
        let fixed_end = RECORD_HEADER_LEN + ORIGIN_FIXED_LEN;
        let Some(fixed) = record.get(RECORD_HEADER_LEN..fixed_end) else {
            return Decoded::Invalid("origin beyond the record");
        };
        let note_len = u16::from_le_bytes([fixed[16], fixed[17]]) as usize;
        let Some(note) = record.get(fixed_end..fixed_end + note_len) else {
            return Decoded::Invalid("origin note beyond the record");
        };
        Some(OriginRef {
            source: read_i64(&fixed[..8]),
            source_seq: read_i64(&fixed[8..16]),
            note,
        })
    } else {
        None
    };
    let did_start = did_offset(origin.map(|o| o.note.len()));
    let did_len = u16::from_le_bytes([record[26], record[27]]) as usize;
    let Some(did) = record.get(did_start..did_start + did_len) else {
        return Decoded::Invalid("DID length beyond the record");
    };
    let Ok(did) = std::str::from_utf8(did) else {
        return Decoded::Invalid("DID is not UTF-8");
    };
    let body = &record[did_start + did_len..];
    Decoded::Record(
        RecordRef {
            seq,
            time_us,
            kind,
            origin,
            did,
            body,
        },
        total,
    )
}

/// Offset of the DID from the start of a record, without an origin (`None`) or with one
/// whose note has the given length.
pub(crate) fn did_offset(note_len: Option<usize>) -> usize {
    RECORD_HEADER_LEN + note_len.map_or(0, |len| ORIGIN_FIXED_LEN + len)
}

/// A record's origin, borrowed from a buffer ([`crate::Origin`] owns one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OriginRef<'a> {
    /// The caller's source id.
    pub source: i64,
    /// The event's seq in its source's stream.
    pub source_seq: i64,
    /// The caller's note.
    pub note: &'a [u8],
}

/// CRC-32 of a record's bytes after the CRC field, seeded with the segment's first seq.
fn record_crc(base: i64, bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&base.to_le_bytes());
    hasher.update(bytes);
    hasher.finalize()
}

/// One sparse index entry: the record with `seq` starts at byte `offset` of its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    /// Seq of the record.
    pub seq: i64,
    /// Byte offset of the record in the segment file.
    pub offset: u64,
}

/// Serializes a sealed segment's index.
pub(crate) fn encode_index(first_seq: i64, entries: &[IndexEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + entries.len() * 16);
    out.extend_from_slice(&INDEX_MAGIC);
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for entry in entries {
        out.extend_from_slice(&entry.seq.to_le_bytes());
        out.extend_from_slice(&entry.offset.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Parses an index file; `None` if it is damaged or belongs to another segment, in which
/// case the caller rebuilds it from the segment.
pub(crate) fn decode_index(first_seq: i64, bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    let (content, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32fast::hash(content) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    if content.get(..8)? != INDEX_MAGIC || read_i64(content.get(8..16)?) != first_seq {
        return None;
    }
    let count = u32::from_le_bytes(content.get(16..20)?.try_into().ok()?) as usize;
    let rest = content.get(20..)?;
    if rest.len() != count.checked_mul(16)? {
        return None;
    }
    let entries: Vec<IndexEntry> = rest
        .chunks_exact(16)
        .map(|chunk| IndexEntry {
            seq: read_i64(&chunk[..8]),
            offset: read_u64(&chunk[8..]),
        })
        .collect();
    let sorted = entries
        .windows(2)
        .all(|w| w[0].seq < w[1].seq && w[0].offset < w[1].offset);
    (sorted && !entries.is_empty()).then_some(entries)
}

/// The entry to start a seek for the first record with seq greater than `after`: the last
/// entry whose seq is at most `after + 1`, or `None` if all entries are past it.
pub(crate) fn seek_entry(entries: &[IndexEntry], after: i64) -> Option<IndexEntry> {
    let target = after.saturating_add(1);
    let idx = entries.partition_point(|entry| entry.seq <= target);
    idx.checked_sub(1).and_then(|i| entries.get(i)).copied()
}

/// Reads an i64 from exactly 8 bytes (callers slice them).
fn read_i64(bytes: &[u8]) -> i64 {
    let mut arr = [0u8; 8];
    arr.copy_from_slice(bytes);
    i64::from_le_bytes(arr)
}

/// Reads a u64 from exactly 8 bytes (callers slice them).
fn read_u64(bytes: &[u8]) -> u64 {
    let mut arr = [0u8; 8];
    arr.copy_from_slice(bytes);
    u64::from_le_bytes(arr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: i64, did: &'static str, body: &'static [u8]) -> RecordRef<'static> {
        RecordRef {
            seq,
            time_us: 1_700_000_000_000_000,
            kind: 3,
            origin: None,
            did,
            body,
        }
    }

    #[test]
    fn record_with_origin_round_trips() {
        let rec = RecordRef {
            origin: Some(OriginRef {
                source: 7,
                source_seq: 1_234_567,
                note: b"state after the event",
            }),
            ..record(42, "did:plc:abc", b"hello")
        };
        let mut buf = Vec::new();
        rec.encode_into(40, &mut buf);
        assert_eq!(buf.len(), rec.encoded_len());
        assert_eq!(buf[25], FLAG_ORIGIN);
        assert_eq!(decode_record(&buf, 40), Decoded::Record(rec, buf.len()));
    }

    #[test]
    fn unknown_flags_are_invalid() {
        let mut buf = Vec::new();
        record(42, "did:plc:abc", b"hello").encode_into(40, &mut buf);
        buf[25] = 0x02;
        let crc = record_crc(40, &buf[FRAME_PREFIX_LEN..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_record(&buf, 40),
            Decoded::Invalid("unknown record flags")
        );
    }

    #[test]
    fn record_round_trips() {
        let rec = record(42, "did:plc:abc", b"hello");
        let mut buf = Vec::new();
        rec.encode_into(40, &mut buf);
        assert_eq!(buf.len(), rec.encoded_len());
        assert_eq!(decode_record(&buf, 40), Decoded::Record(rec, buf.len()));
    }

    #[test]
    fn record_checks_segment_base() {
        let mut buf = Vec::new();
        record(42, "did:plc:abc", b"hello").encode_into(40, &mut buf);
        assert_eq!(
            decode_record(&buf, 41),
            Decoded::Invalid("record checksum mismatch")
        );
    }

    #[test]
    fn every_prefix_is_incomplete_and_every_flip_is_invalid() {
        let mut buf = Vec::new();
        record(7, "did:web:example.com", b"0123456789").encode_into(1, &mut buf);
        for cut in 0..buf.len() {
            assert!(
                matches!(decode_record(&buf[..cut], 1), Decoded::Incomplete(_)),
                "cut {cut}"
            );
        }
        for pos in 0..buf.len() {
            let mut bad = buf.clone();
            bad[pos] ^= 0x40;
            assert!(
                !matches!(decode_record(&bad, 1), Decoded::Record(..)),
                "flip at {pos} still decodes"
            );
        }
    }

    #[test]
    fn zero_fill_is_invalid() {
        assert_eq!(
            decode_record(&[0u8; 64], 1),
            Decoded::Invalid("record length below the header size")
        );
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            parse_file_name("00000000000000000042.log"),
            Some((42, FileKind::Segment))
        );
        assert_eq!(
            parse_file_name("00000000000000000042.idx"),
            Some((42, FileKind::Index))
        );
        assert_eq!(parse_file_name("42.log"), None);
        assert_eq!(parse_file_name("takedowns"), None);
        assert_eq!(parse_file_name("0000000000000000004x.log"), None);
        let path = segment_path(Path::new("/d"), 42);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(parse_file_name(name), Some((42, FileKind::Segment)));
    }

    #[test]
    fn index_round_trips_and_rejects_damage() {
        let entries = vec![
            IndexEntry { seq: 5, offset: 16 },
            IndexEntry {
                seq: 9,
                offset: 400,
            },
        ];
        let bytes = encode_index(5, &entries);
        assert_eq!(decode_index(5, &bytes), Some(entries));
        assert_eq!(decode_index(6, &bytes), None);
        assert_eq!(decode_index(5, &bytes[..bytes.len() - 1]), None);
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert_eq!(decode_index(5, &bad), None);
        assert_eq!(decode_index(5, &[]), None);
    }

    #[test]
    fn seek_entry_picks_last_at_or_before_target() {
        let entries = [
            IndexEntry {
                seq: 10,
                offset: 16,
            },
            IndexEntry {
                seq: 20,
                offset: 100,
            },
            IndexEntry {
                seq: 30,
                offset: 200,
            },
        ];
        assert_eq!(seek_entry(&entries, 5), None);
        assert_eq!(seek_entry(&entries, 9), Some(entries[0]));
        assert_eq!(seek_entry(&entries, 19), Some(entries[1]));
        assert_eq!(seek_entry(&entries, 20), Some(entries[1]));
        assert_eq!(seek_entry(&entries, 1000), Some(entries[2]));
    }
}
