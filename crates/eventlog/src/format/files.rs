//! File names (`<first seq>.log`, `<first seq>.idx`) and the 16-byte segment header.

use std::path::{Path, PathBuf};

use super::read_i64;
use crate::error::Error;

/// Segment file magic; the last byte is the format version.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"atrlog\0\x01";
/// Bytes before the first record of a segment.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
