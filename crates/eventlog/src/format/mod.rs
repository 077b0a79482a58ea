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
//!
//! The code follows the layout: `files` (file names and the segment header), `record` (record
//! framing and its limits) and `index` (index files and seeking).

mod files;
mod index;
mod record;

pub(crate) use files::{
    check_segment_header, index_path, parse_file_name, segment_header, segment_path, FileKind,
    SEGMENT_HEADER_LEN,
};
pub(crate) use index::{decode_index, encode_index, seek_entry, IndexEntry};
pub(crate) use record::{decode_record, did_offset, Decoded, OriginRef, RecordRef};
pub use record::{MAX_DID_BYTES, MAX_EVENT_BYTES, MAX_NOTE_BYTES};

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
