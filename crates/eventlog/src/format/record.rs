//! Record framing: a record's fixed header, optional origin, DID and body, its CRC seeded with
//! the segment's first seq, and the size limits a record obeys.

use super::read_i64;

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
}
