//! Opening a log directory: find the segments, check the sealed ones through their index
//! files, scan the newest one and cut off a torn tail.
//!
//! Invariant this relies on: a segment is fsynced whole before the next one is created, so
//! only the newest segment can end in a torn write. A sealed segment whose index file is
//! missing or damaged is rescanned (and must then verify completely); a sealed segment
//! whose index does verify is trusted after checking its last record.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::config::Config;
use crate::error::Error;
use crate::format::{self, FileKind, IndexEntry, SEGMENT_HEADER_LEN};
use crate::segment::{self, LastRecord, Next, RecordReader, Segment, SegmentStats};

/// The state of a log directory after recovery.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// All segments, oldest first; the last one is active (open for appends).
    pub segments: Vec<Arc<Segment>>,
    /// The active segment, opened for writing.
    pub active_file: File,
    /// The seq the next append gets.
    pub next_seq: i64,
}

/// Recovers the log in `config.dir`, creating the directory and a first segment if needed.
pub(crate) fn recover(config: &Config) -> Result<Recovered, Error> {
    let dir = &config.dir;
    let (mut firsts, index_files) = list_dir(dir)?;
    firsts.sort_unstable();
    for first in index_files {
        if firsts.binary_search(&first).is_err() {
            remove_file(&format::index_path(dir, first))?;
        }
    }

    let mut segments: Vec<Arc<Segment>> = Vec::new();
    let mut active_file = None;
    let count = firsts.len();
    for (i, &first) in firsts.iter().enumerate() {
        let ordinal = segments.len() as u64;
        let segment = if i + 1 < count {
            match recover_sealed(dir, first, ordinal, config.index_interval_bytes)? {
                Some(segment) => segment,
                None => {
                    warn!(first_seq = first, "removing empty sealed segment");
                    remove_file(&format::segment_path(dir, first))?;
                    remove_file(&format::index_path(dir, first))?;
                    continue;
                }
            }
        } else {
            let (segment, file) = recover_active(dir, first, ordinal, config.index_interval_bytes)?;
            active_file = Some(file);
            segment
        };
        if let Some(prev) = segments.last() {
            let prev_last = prev.stats().last.map_or(prev.first_seq - 1, |l| l.seq);
            if segment.first_seq <= prev_last {
                return Err(Error::corrupt(
                    &segment.path,
                    0,
                    format!(
                        "segment starts at seq {} but the previous one ends at {prev_last}",
                        segment.first_seq
                    ),
                ));
            }
        }
        segments.push(Arc::new(segment));
    }

    let (segments, active_file) = match active_file {
        Some(file) => (segments, file),
        None => {
            let file = segment::create_segment_file(dir, config.seq_floor)?;
            let stats = SegmentStats {
                last: None,
                len: SEGMENT_HEADER_LEN,
                index_len: 0,
            };
            let segment = Segment::new(dir, 0, config.seq_floor, stats, Some(Vec::new()));
            info!(dir = %dir.display(), first_seq = config.seq_floor, "created event log");
            (vec![Arc::new(segment)], file)
        }
    };
    let active = segments.last().map(|s| (s.first_seq, s.stats().last));
    let next_seq = match active {
        Some((_, Some(last))) => last.seq + 1,
        Some((first, None)) => first,
        None => config.seq_floor,
    };
    Ok(Recovered {
        segments,
        active_file,
        next_seq,
    })
}

/// Lists the first seqs of the segment files and of the index files in `dir`, removing
/// leftover temporary files.
fn list_dir(dir: &Path) -> Result<(Vec<i64>, Vec<i64>), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut segments = Vec::new();
    let mut indexes = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".tmp") {
            remove_file(&entry.path())?;
            continue;
        }
        match format::parse_file_name(name) {
            Some((first, FileKind::Segment)) => segments.push(first),
            Some((first, FileKind::Index)) => indexes.push(first),
            None => {}
        }
    }
    Ok((segments, indexes))
}

/// Recovers a sealed segment; `None` if it holds no records.
fn recover_sealed(
    dir: &Path,
    first: i64,
    ordinal: u64,
    interval: u64,
) -> Result<Option<Segment>, Error> {
    let path = format::segment_path(dir, first);
    let index_path = format::index_path(dir, first);
    let len = segment::check_header(&path, first)?;
    if let Some((last, index_len)) = check_index(&path, &index_path, first, len)? {
        let stats = SegmentStats {
            last: Some(last),
            len,
            index_len,
        };
        return Ok(Some(Segment::new(dir, ordinal, first, stats, None)));
    }
    let scan = segment::scan(&path, first, SEGMENT_HEADER_LEN, interval)?;
    if let Some((offset, reason)) = scan.bad {
        return Err(Error::corrupt(
            &path,
            offset,
            format!("sealed segment: {reason}"),
        ));
    }
    let Some(last) = scan.last else {
        return Ok(None);
    };
    warn!(path = %path.display(), "rebuilt missing or damaged segment index");
    let entries = sealed_entries(scan.index, last);
    let index_len = segment::write_index_file(dir, first, &entries)?;
    let stats = SegmentStats {
        last: Some(last),
        len,
        index_len,
    };
    Ok(Some(Segment::new(dir, ordinal, first, stats, None)))
}

/// Reads a sealed segment's index file and checks that its last entry is the segment's
/// last record; `None` if the index is missing or does not check out.
fn check_index(
    path: &Path,
    index_path: &Path,
    first: i64,
    len: u64,
) -> Result<Option<(LastRecord, u64)>, Error> {
    let bytes = match fs::read(index_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read index", index_path, e)),
    };
    let Some(entry) =
        format::decode_index(first, &bytes).and_then(|entries| entries.last().copied())
    else {
        return Ok(None);
    };
    let mut reader = RecordReader::open(path, first, entry.offset)
        .map_err(|e| Error::io("open segment", path, e))?;
    match reader.next(i64::MAX)? {
        Next::Record(record) if record.seq == entry.seq && record.offset + record.len == len => {
            let last = LastRecord {
                seq: record.seq,
                time_us: record.time_us,
                offset: record.offset,
            };
            Ok(Some((last, bytes.len() as u64)))
        }
        _ => Ok(None),
    }
}

/// Recovers the newest segment: scans it, truncates a torn tail, and opens it for appends.
fn recover_active(
    dir: &Path,
    first: i64,
    ordinal: u64,
    interval: u64,
) -> Result<(Segment, File), Error> {
    let path = format::segment_path(dir, first);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open segment", &path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("stat segment", &path, e))?
        .len();
    if file_len < SEGMENT_HEADER_LEN {
        // A crash while the segment was being created: it holds nothing yet.
        warn!(path = %path.display(), "rewriting the header of a newly created segment");
        drop(file);
        file = segment::create_segment_file(dir, first)?;
    } else {
        segment::check_header(&path, first)?;
    }
    // An index file beside the newest segment is left over from sealing it just before a
    // crash; the segment is active again, and its index will be rewritten when it is sealed.
    remove_file(&format::index_path(dir, first))?;
    let scan = segment::scan(&path, first, SEGMENT_HEADER_LEN, interval)?;
    let current_len = file
        .metadata()
        .map_err(|e| Error::io("stat segment", &path, e))?
        .len();
    if scan.valid_len < current_len {
        let (offset, reason) = scan.bad.unwrap_or((scan.valid_len, "trailing bytes"));
        warn!(
            path = %path.display(),
            offset,
            reason,
            dropped_bytes = current_len - scan.valid_len,
            "truncating torn tail of the event log"
        );
        file.set_len(scan.valid_len)
            .map_err(|e| Error::io("truncate segment", &path, e))?;
        file.sync_all()
            .map_err(|e| Error::io("fsync segment", &path, e))?;
    }
    use std::io::Seek;
    file.seek(io::SeekFrom::Start(scan.valid_len))
        .map_err(|e| Error::io("seek segment", &path, e))?;
    let stats = SegmentStats {
        last: scan.last,
        len: scan.valid_len,
        index_len: 0,
    };
    Ok((
        Segment::new(dir, ordinal, first, stats, Some(scan.index)),
        file,
    ))
}

/// A sealed segment's index entries: the sparse ones plus the last record.
pub(crate) fn sealed_entries(mut entries: Vec<IndexEntry>, last: LastRecord) -> Vec<IndexEntry> {
    if entries.last().is_none_or(|e| e.seq != last.seq) {
        entries.push(IndexEntry {
            seq: last.seq,
            offset: last.offset,
        });
    }
    entries
}

/// Removes a file, treating "already gone" as success.
pub(crate) fn remove_file(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove file", path, e)),
    }
}
