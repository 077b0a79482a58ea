//! Index files: the sparse (seq, offset) index written when a segment is sealed, and the seek
//! into it.

use super::{read_i64, read_u64};

/// Index file magic; the last byte is the format version.
pub(crate) const INDEX_MAGIC: [u8; 8] = *b"atridx\0\x01";

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

#[cfg(test)]
mod tests {
    use super::*;

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
