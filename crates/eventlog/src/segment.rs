//! Segments: the in-memory description of one segment file, reading records from it, and
//! recovering it on open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use bytes::{Bytes, BytesMut};

use crate::error::Error;
use crate::event::Origin;
use crate::format::{self, Decoded, IndexEntry, SEGMENT_HEADER_LEN};
use crate::lock::lock;

/// Bytes read from a segment at a time.
const READ_CHUNK: usize = 256 << 10;

/// One segment file as the log sees it. Shared (`Arc`) between the writer, readers and
/// retention; a reader may keep reading a segment that retention has since deleted.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Position in the log, counted from the oldest segment present at open. Consecutive
    /// segments have consecutive ordinals, so a reader can tell "the next segment was
    /// deleted" from "the next segment starts after a seq gap".
    pub ordinal: u64,
    /// Seq of the first record (and the number in the file name).
    pub first_seq: i64,
    /// The segment file.
    pub path: PathBuf,
    /// Its index file (present once sealed).
    pub index_path: PathBuf,
    /// Newest record and sizes, updated by the writer after each write.
    stats: Mutex<SegmentStats>,
    /// The sparse index while the segment is active; `None` once sealed and written to
    /// `index_path`.
    active_index: RwLock<Option<Arc<Vec<IndexEntry>>>>,
}

/// Where the newest record of a segment is and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LastRecord {
    /// Its seq.
    pub seq: i64,
    /// Its append time, µs since the Unix epoch.
    pub time_us: i64,
    /// Its offset in the segment file.
    pub offset: u64,
}

/// What the log tracks about a segment's contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegmentStats {
    /// The newest record, if any.
    pub last: Option<LastRecord>,
    /// Length of the segment file.
    pub len: u64,
    /// Length of the index file (zero while active).
    pub index_len: u64,
}

impl Segment {
    /// Describes a segment of `dir` starting at `first_seq`.
    pub fn new(
        dir: &Path,
        ordinal: u64,
        first_seq: i64,
        stats: SegmentStats,
        active_index: Option<Vec<IndexEntry>>,
    ) -> Self {
        Segment {
            ordinal,
            first_seq,
            path: format::segment_path(dir, first_seq),
            index_path: format::index_path(dir, first_seq),
            stats: Mutex::new(stats),
            active_index: RwLock::new(active_index.map(Arc::new)),
        }
    }

    /// A snapshot of the segment's stats.
    pub fn stats(&self) -> SegmentStats {
        *lock(&self.stats)
    }

    /// Replaces the stats (writer only).
    pub fn set_stats(&self, stats: SegmentStats) {
        *lock(&self.stats) = stats;
    }

    /// Adds entries to the in-memory index of the active segment (writer only).
    pub fn push_index(&self, entries: &[IndexEntry]) {
        if entries.is_empty() {
            return;
        }
        let mut guard = self.active_index.write().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = guard.as_mut() {
            Arc::make_mut(index).extend_from_slice(entries);
        }
    }

    /// The in-memory index, while the segment is active.
    pub fn active_index(&self) -> Option<Arc<Vec<IndexEntry>>> {
        self.active_index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the segment sealed: its index now lives in `index_path` (writer only).
    pub fn drop_active_index(&self) {
        *self.active_index.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The sparse index: from memory while active, else from the index file.
    pub fn load_index(&self) -> Result<Arc<Vec<IndexEntry>>, Error> {
        if let Some(index) = self.active_index() {
            return Ok(index);
        }
        let bytes =
            fs::read(&self.index_path).map_err(|e| Error::io("read index", &self.index_path, e))?;
        format::decode_index(self.first_seq, &bytes)
            .map(Arc::new)
            .ok_or_else(|| Error::corrupt(&self.index_path, 0, "index file does not verify"))
    }
}

/// A record read from a segment, owning its bytes (cheap slices of the read buffer).
#[derive(Debug, Clone)]
pub(crate) struct OwnedRecord {
    /// Relay seq.
    pub seq: i64,
    /// Append time in µs since the Unix epoch.
    pub time_us: i64,
    /// Caller's kind byte.
    pub kind: u8,
    /// Where the event came from, when the caller said.
    pub origin: Option<Origin>,
    /// DID bytes (checked UTF-8).
    pub did: Bytes,
    /// Event body.
    pub body: Bytes,
    /// Offset of the record in its segment.
    pub offset: u64,
    /// Bytes the record takes.
    pub len: u64,
}

/// What [`RecordReader::next`] found.
#[derive(Debug)]
pub(crate) enum Next {
    /// A verified record.
    Record(OwnedRecord),
    /// The file ends exactly here (for now).
    End,
    /// The file ends inside a record starting here (a torn tail, or a write in progress).
    Incomplete,
    /// The bytes here are not a valid record.
    Invalid(&'static str),
    /// The next record's seq is above the limit given; it was not consumed.
    Beyond,
}

/// Reads records sequentially from a segment file with positioned reads, so it never
/// disturbs the writer's file position and can pick up bytes appended after an `End`.
#[derive(Debug)]
pub(crate) struct RecordReader {
    /// The open segment.
    file: File,
    /// Its path, for errors.
    path: PathBuf,
    /// The segment's first seq, mixed into record checksums.
    base: i64,
    /// File offset of `buf[0]`.
    pos: u64,
    /// Bytes read but not yet returned.
    buf: BytesMut,
}

impl RecordReader {
    /// Opens `path` and positions at `offset` (a record boundary).
    pub fn open(path: &Path, base: i64, offset: u64) -> io::Result<Self> {
        let file = File::open(path)?;
        Ok(RecordReader {
            file,
            path: path.to_owned(),
            base,
            pos: offset,
            buf: BytesMut::new(),
        })
    }

    /// Offset of the next record.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// Reads the next record, fetching more bytes from the file as needed. A record with
    /// a seq above `max_seq` is left unread and reported as [`Next::Beyond`].
    pub fn next(&mut self, max_seq: i64) -> Result<Next, Error> {
        loop {
            match format::decode_record(&self.buf, self.base) {
                Decoded::Record(record, _) if record.seq > max_seq => return Ok(Next::Beyond),
                Decoded::Record(record, total) => {
                    let (seq, time_us, kind) = (record.seq, record.time_us, record.kind);
                    let origin = record
                        .origin
                        .map(|o| (o.source, o.source_seq, o.note.len()));
                    let did_len = record.did.len();
                    let did_start = record.did_offset();
                    let bytes = self.buf.split_to(total).freeze();
                    let origin = origin.map(|(source, source_seq, note_len)| Origin {
                        source,
                        source_seq,
                        note: bytes.slice(did_start - note_len..did_start),
                    });
                    let did = bytes.slice(did_start..did_start + did_len);
                    let body = bytes.slice(did_start + did_len..);
                    let offset = self.pos;
                    self.pos += total as u64;
                    return Ok(Next::Record(OwnedRecord {
                        seq,
                        time_us,
                        kind,
                        origin,
                        did,
                        body,
                        offset,
                        len: total as u64,
                    }));
                }
                Decoded::Invalid(reason) => return Ok(Next::Invalid(reason)),
                Decoded::Incomplete(need) => {
                    if !self.fill(need)? {
                        return Ok(if self.buf.is_empty() {
                            Next::End
                        } else {
                            Next::Incomplete
                        });
                    }
                }
            }
        }
    }

    /// Reads until `buf` holds at least `need` bytes; `false` if the file ends first.
    fn fill(&mut self, need: usize) -> Result<bool, Error> {
        while self.buf.len() < need {
            let want = (need - self.buf.len()).max(READ_CHUNK);
            let start = self.buf.len();
            self.buf.resize(start + want, 0);
            let at = self.pos + start as u64;
            let read = loop {
                match self.file.read_at(&mut self.buf[start..], at) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(start);
                        return Err(Error::io("read segment", &self.path, e));
                    }
                }
            };
            self.buf.truncate(start + read);
            if read == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The outcome of scanning a segment's records.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Sparse index of the records found.
    pub index: Vec<IndexEntry>,
    /// The newest record found.
    pub last: Option<LastRecord>,
    /// Offset just past the last good record.
    pub valid_len: u64,
    /// Where and why scanning stopped before the end of the file.
    pub bad: Option<(u64, &'static str)>,
}

/// Reads every record of a segment from `from` on, building a sparse index every
/// `interval` bytes (the first record scanned always gets an entry).
pub(crate) fn scan(path: &Path, first_seq: i64, from: u64, interval: u64) -> Result<Scan, Error> {
    let mut reader = RecordReader::open(path, first_seq, from)
        .map_err(|e| Error::io("open segment", path, e))?;
    let mut out = Scan {
        valid_len: from,
        ..Scan::default()
    };
    let mut last_indexed: Option<u64> = None;
    let mut prev_seq = first_seq - 1;
    loop {
        let offset = reader.offset();
        match reader.next(i64::MAX)? {
            Next::Beyond => break,
            Next::Record(record) => {
                if record.seq <= prev_seq {
                    out.bad = Some((offset, "seq does not increase"));
                    break;
                }
                prev_seq = record.seq;
                if last_indexed.is_none_or(|at| offset - at >= interval) {
                    out.index.push(IndexEntry {
                        seq: record.seq,
                        offset,
                    });
                    last_indexed = Some(offset);
                }
                out.last = Some(LastRecord {
                    seq: record.seq,
                    time_us: record.time_us,
                    offset,
                });
                out.valid_len = offset + record.len;
            }
            Next::End => break,
            Next::Incomplete => {
                out.bad = Some((offset, "record cut short"));
                break;
            }
            Next::Invalid(reason) => {
                out.bad = Some((offset, reason));
                break;
            }
        }
    }
    Ok(out)
}

/// Writes and fsyncs a sealed segment's index file (through a temporary name, so a crash
/// leaves either no index or a whole one).
pub(crate) fn write_index_file(
    dir: &Path,
    first_seq: i64,
    entries: &[IndexEntry],
) -> Result<u64, Error> {
    let path = format::index_path(dir, first_seq);
    let tmp = path.with_extension("idx.tmp");
    let bytes = format::encode_index(first_seq, entries);
    let mut file = File::create(&tmp).map_err(|e| Error::io("create index", &tmp, e))?;
    file.write_all(&bytes)
        .map_err(|e| Error::io("write index", &tmp, e))?;
    file.sync_data()
        .map_err(|e| Error::io("fsync index", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename index", &path, e))?;
    Ok(bytes.len() as u64)
}

/// Creates a new, empty segment file and makes its directory entry durable.
pub(crate) fn create_segment_file(dir: &Path, first_seq: i64) -> Result<File, Error> {
    let path = format::segment_path(dir, first_seq);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| Error::io("create segment", &path, e))?;
    file.write_all(&format::segment_header(first_seq))
        .map_err(|e| Error::io("write segment header", &path, e))?;
    file.sync_data()
        .map_err(|e| Error::io("fsync segment", &path, e))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Fsyncs a directory so that created, renamed and removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Reads a segment's header and checks it; the file length is returned.
pub(crate) fn check_header(path: &Path, first_seq: i64) -> Result<u64, Error> {
    let file = File::open(path).map_err(|e| Error::io("open segment", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat segment", path, e))?
        .len();
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    let n = read_full_at(&file, &mut header, 0).map_err(|e| Error::io("read segment", path, e))?;
    format::check_segment_header(path, &header[..n], first_seq)?;
    Ok(len)
}

/// Reads as many bytes as available at `offset`, up to the buffer's length.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
