//! Readers: replay from a cursor, then follow the live feed without a gap or duplicate.
//!
//! A reader is in one of two modes.
//!
//! - **Replay**: it reads the segment files (on the blocking thread pool, in batches) up to
//!   the durable head it saw before the batch. Records above that head may be on disk but
//!   are not durable yet and are left unread.
//! - **Live**: it takes events from the writer's broadcast.
//!
//! The switch: when a replaying reader has read up to the head, it subscribes to the
//! broadcast, then reads the head again and replays up to it, and only then goes live. The
//! writer publishes a head before broadcasting the events under it, so every event above the
//! head seen after subscribing is in the subscription; events the subscription also holds
//! at or below the reader's position are skipped. If the reader lags more than the broadcast
//! holds, it drops the subscription and replays from the files where it was: slow readers
//! cost disk reads, never a gap (the relay decides separately when a consumer is too slow,
//! for example with [`Reader::lag`]).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

use crate::error::Error;
use crate::event::Event;
use crate::format::{self, SEGMENT_HEADER_LEN};
use crate::lock::lock;
use crate::segment::{Next, OwnedRecord, RecordReader, Segment};
use crate::shared::Shared;
use crate::takedown::TakedownView;

/// Most events read from the files in one batch.
const BATCH_EVENTS: usize = 1024;
/// Most events in the first batch after a seek, so the first event comes quickly.
const FIRST_BATCH_EVENTS: usize = 64;
/// Most bytes read from the files in one batch.
const BATCH_BYTES: u64 = 4 << 20;

/// Where a reader started, which tells the caller what to send first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No cursor: events after `after`, the head when the reader was made.
    Live {
        /// The head at creation.
        after: i64,
    },
    /// A cursor within the window (or `0`): events with seq greater than `cursor`.
    Cursor {
        /// The cursor given.
        cursor: i64,
    },
    /// The cursor is older than the oldest stored event: the whole window follows, and a
    /// relay sends `#info OutdatedCursor` first.
    Outdated {
        /// The cursor given.
        cursor: i64,
        /// The oldest stored seq when the reader was made (`None` if the log holds no events).
        oldest: Option<i64>,
    },
}

/// Yields durable events with seq strictly greater than its cursor, in order, each once,
/// skipping taken-down DIDs: first from the files, then live. Made by
/// [`EventLog::reader`](crate::EventLog::reader).
#[derive(Debug)]
pub struct Reader {
    /// The log.
    shared: Arc<Shared>,
    /// How it started.
    start: Start,
    /// The newest seq read (delivered, buffered or skipped).
    last: i64,
    /// Whether a seek that finds events after `last` deleted is an error (false only for the
    /// first seek of a whole-window replay, which simply starts at the oldest event).
    strict: bool,
    /// Reading live (`true`) or from the files.
    live_mode: bool,
    /// Position in the files while replaying.
    file: Option<FilePosition>,
    /// The live subscription, taken when the replay catches up.
    live: Option<broadcast::Receiver<Event>>,
    /// Events read from the files and not yet returned.
    buffer: VecDeque<Event>,
    /// The takedown set as of the last check.
    takedowns: TakedownView,
    /// Whether taken-down DIDs' events are yielded too (recovery readers only).
    show_taken_down: bool,
}

/// A replaying reader's position: the segment and an open reader on it.
#[derive(Debug)]
struct FilePosition {
    /// The segment being read.
    segment: Arc<Segment>,
    /// Reader positioned at the next record.
    records: RecordReader,
}

impl Reader {
    /// See [`EventLog::reader`](crate::EventLog::reader).
    pub(crate) fn new(shared: Arc<Shared>, cursor: Option<i64>) -> Result<Self, Error> {
        let takedowns = TakedownView::new(&shared.takedowns);
        let mut reader = Reader {
            start: Start::Live { after: 0 },
            last: 0,
            strict: true,
            live_mode: false,
            file: None,
            live: None,
            buffer: VecDeque::new(),
            takedowns,
            show_taken_down: false,
            shared,
        };
        match cursor {
            None => {
                // Subscribe before reading the head, so nothing after the head is missed.
                reader.live = Some(reader.subscribe()?);
                let head = reader.shared.newest_seq();
                reader.start = Start::Live { after: head };
                reader.last = head;
                reader.live_mode = true;
            }
            Some(cursor) if cursor < 0 => return Err(Error::InvalidCursor { cursor }),
            Some(cursor) => {
                let newest = reader.shared.newest_seq();
                if cursor > newest {
                    return Err(Error::FutureCursor { cursor, newest });
                }
                let oldest = reader.shared.oldest_seq();
                let outdated = cursor != 0
                    && match oldest {
                        Some(oldest) => cursor < oldest - 1,
                        None => cursor < newest,
                    };
                reader.start = if outdated {
                    Start::Outdated { cursor, oldest }
                } else {
                    Start::Cursor { cursor }
                };
                reader.strict = !outdated && cursor != 0;
                reader.last = cursor;
            }
        }
        Ok(reader)
    }

    /// Yields taken-down DIDs' events too (see
    /// [`EventLog::recovery_reader`](crate::EventLog::recovery_reader)).
    pub(crate) fn show_taken_down(&mut self) {
        self.show_taken_down = true;
    }

    /// How the reader started.
    pub fn start(&self) -> Start {
        self.start
    }

    /// The newest seq this reader has read (returned, buffered, or skipped as taken down).
    pub fn position(&self) -> i64 {
        self.last
    }

    /// How many durable events are ahead of this reader (approximately, counting seqs).
    pub fn lag(&self) -> i64 {
        (self.shared.newest_seq() - self.last).max(0) + self.buffer.len() as i64
    }

    /// Whether the reader follows the live feed (it has caught up with the head and has not
    /// fallen back to the files since). A reader made without a cursor starts live.
    pub fn is_live(&self) -> bool {
        self.live_mode && self.buffer.is_empty()
    }

    /// The next event if one is at hand without waiting or reading the files: one already
    /// read from the files, or one the live feed holds. `None` says only that
    /// [`Reader::next`] would have to wait or read; it is not the end of the stream. Lets a
    /// caller send a run of events before flushing its socket.
    pub fn try_next(&mut self) -> Option<Event> {
        if let Some(event) = self.buffer.pop_front() {
            return Some(event);
        }
        if !self.live_mode {
            return None;
        }
        loop {
            let event = match self.live.as_mut()?.try_recv() {
                Ok(event) => event,
                Err(TryRecvError::Lagged(_)) => {
                    // The receiver has skipped ahead: read the files from where we are.
                    self.fall_back_to_files();
                    return None;
                }
                // Nothing yet (`next` waits), or the log stopped (`next` reports it).
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            };
            if event.seq <= self.last {
                continue;
            }
            self.last = event.seq;
            if !self.is_hidden(event.kind, &event.did) {
                return Some(event);
            }
        }
    }

    /// The next event; waits for one when caught up. Cancel-safe: dropping the future
    /// (for example in `tokio::select!`) loses no event; the next call re-reads from the
    /// reader's position.
    ///
    /// # Errors
    /// [`Error::FellBehind`] if retention deleted events this reader had not read yet;
    /// [`Error::Closed`] (or [`Error::Failed`]) once the log is stopped and everything
    /// durable was returned; [`Error::Corruption`] / [`Error::Io`] for bad or unreadable
    /// segment files.
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                return Ok(event);
            }
            if self.live_mode {
                if let Some(event) = self.next_live().await? {
                    return Ok(event);
                }
                continue;
            }
            let head = self.shared.newest_seq();
            if self.last >= head {
                if self.live.is_some() {
                    self.live_mode = true;
                    continue;
                }
                match self.subscribe() {
                    Ok(rx) => self.live = Some(rx),
                    Err(err) if self.last >= self.shared.newest_seq() => return Err(err),
                    Err(_) => {}
                }
                continue;
            }
            self.replay_batch(head).await?;
        }
    }

    /// Whether a taken-down DID's event of this kind is withheld.
    fn is_hidden(&mut self, kind: u8, did: &[u8]) -> bool {
        !self.show_taken_down
            && !self.shared.config.takedown_visible_kinds.contains(&kind)
            && self.takedowns.contains(&self.shared.takedowns, did)
    }

    /// Takes one live event: `None` if it was skipped (or the reader fell back to replay).
    async fn next_live(&mut self) -> Result<Option<Event>, Error> {
        let Some(rx) = self.live.as_mut() else {
            self.live_mode = false;
            return Ok(None);
        };
        match rx.recv().await {
            Ok(event) => {
                if event.seq <= self.last {
                    return Ok(None);
                }
                self.last = event.seq;
                if self.is_hidden(event.kind, &event.did) {
                    return Ok(None);
                }
                Ok(Some(event))
            }
            Err(RecvError::Lagged(_)) => {
                // Too far behind the broadcast: read the files from where we are.
                self.fall_back_to_files();
                Ok(None)
            }
            Err(RecvError::Closed) => Err(Shared::stopped_error(&lock(&self.shared.head_sync))),
        }
    }

    /// Drops the live subscription (it lagged) and replays from the files after `last`.
    fn fall_back_to_files(&mut self) {
        self.live = None;
        self.live_mode = false;
        self.file = None;
        self.strict = true;
    }

    /// Subscribes to the live feed.
    fn subscribe(&self) -> Result<broadcast::Receiver<Event>, Error> {
        match lock(&self.shared.live).as_ref() {
            Some(sender) => Ok(sender.subscribe()),
            None => Err(Shared::stopped_error(&lock(&self.shared.head_sync))),
        }
    }

    /// Reads one batch from the files (on the blocking pool) into the buffer.
    async fn replay_batch(&mut self, head: i64) -> Result<(), Error> {
        let shared = self.shared.clone();
        let mut file = self.file.take();
        let (last, strict) = (self.last, self.strict);
        let task = tokio::task::spawn_blocking(move || {
            let result = read_batch(&shared, &mut file, last, head, strict);
            (file, result)
        });
        let (file, result) = task.await.map_err(|e| {
            Error::io(
                "replay task",
                &self.shared.config.dir,
                io::Error::other(e.to_string()),
            )
        })?;
        self.file = file;
        let batch = result?;
        self.strict = true;
        for record in batch.records {
            self.last = record.seq;
            if self.is_hidden(record.kind, &record.did) {
                continue;
            }
            let OwnedRecord {
                seq,
                time_us,
                kind,
                origin,
                did,
                body,
                ..
            } = record;
            self.buffer.push_back(Event {
                seq,
                time_us,
                kind,
                origin,
                did,
                body,
            });
        }
        if batch.caught_up {
            // Nothing else up to `head` exists (seqs may have a gap, after a floor jump).
            self.last = self.last.max(head);
        }
        Ok(())
    }
}

/// What one read from the files produced.
#[derive(Debug)]
struct Batch {
    /// Records with seq in `(last, head]`, in order.
    records: Vec<OwnedRecord>,
    /// Every record up to `head` has been read.
    caught_up: bool,
}

/// Reads records with seq in `(last, head]` from the files, seeking first if needed.
fn read_batch(
    shared: &Shared,
    file: &mut Option<FilePosition>,
    last: i64,
    head: i64,
    strict: bool,
) -> Result<Batch, Error> {
    let (mut position, limit) = match file.take() {
        Some(position) => (position, BATCH_EVENTS),
        None => (seek(shared, last, strict)?, FIRST_BATCH_EVENTS),
    };
    let mut batch = Batch {
        records: Vec::new(),
        caught_up: false,
    };
    let mut read_last = last;
    let mut bytes = 0;
    while batch.records.len() < limit && bytes < BATCH_BYTES {
        let offset = position.records.offset();
        match position.records.next(head)? {
            Next::Record(record) => {
                if record.seq <= read_last {
                    continue;
                }
                read_last = record.seq;
                bytes += record.len;
                batch.records.push(record);
            }
            Next::Beyond => {
                batch.caught_up = true;
                break;
            }
            Next::End | Next::Incomplete => {
                if read_last >= head {
                    batch.caught_up = true;
                    break;
                }
                if !batch.records.is_empty() {
                    // A batch stays within one segment, so a reader holds at most one
                    // segment's events that retention may since have deleted.
                    break;
                }
                match next_segment(shared, &position.segment, read_last)? {
                    Some(next) => position = next,
                    None => {
                        batch.caught_up = true;
                        break;
                    }
                }
            }
            Next::Invalid(reason) => {
                return Err(Error::corrupt(&position.segment.path, offset, reason))
            }
        }
    }
    *file = Some(position);
    Ok(batch)
}

/// Positions a reader at the first record with seq greater than `after`, using the sparse
/// index of the segment that holds it.
fn seek(shared: &Shared, after: i64, strict: bool) -> Result<FilePosition, Error> {
    let target = after.saturating_add(1);
    let segment = {
        let segments = shared.segments.read().unwrap_or_else(|e| e.into_inner());
        let idx = segments.partition_point(|s| s.first_seq <= target);
        if idx == 0 && strict {
            // Everything after `after` should be here, but the oldest segment starts later.
            return Err(Error::FellBehind { seq: after });
        }
        let Some(segment) = segments.get(idx.saturating_sub(1)).cloned() else {
            return Err(Error::corrupt(&shared.config.dir, 0, "log has no segments"));
        };
        segment
    };
    let index = segment
        .load_index()
        .map_err(|e| fell_behind_if_missing(e, after))?;
    let offset = format::seek_entry(&index, after).map_or(SEGMENT_HEADER_LEN, |entry| entry.offset);
    open_at(segment, offset, after)
}

/// The segment after `current`, positioned at its first record; `None` if `current` is the
/// newest.
fn next_segment(
    shared: &Shared,
    current: &Segment,
    read_last: i64,
) -> Result<Option<FilePosition>, Error> {
    let want = current.ordinal + 1;
    let segment = {
        let segments = shared.segments.read().unwrap_or_else(|e| e.into_inner());
        let Some(first) = segments.first() else {
            return Ok(None);
        };
        if want < first.ordinal {
            return Err(Error::FellBehind { seq: read_last });
        }
        match segments.get((want - first.ordinal) as usize) {
            Some(segment) => segment.clone(),
            // `current` may be an empty active segment the writer has since replaced with one
            // named after a seq given to `append_with_seq` (same ordinal): go on in that one.
            None => match current
                .ordinal
                .checked_sub(first.ordinal)
                .and_then(|at| segments.get(at as usize))
            {
                Some(same) if !std::ptr::eq(same.as_ref(), current) => same.clone(),
                _ => return Ok(None),
            },
        }
    };
    open_at(segment, SEGMENT_HEADER_LEN, read_last).map(Some)
}

/// Opens `segment` at `offset`; a file retention removed meanwhile means the reader fell
/// behind.
fn open_at(segment: Arc<Segment>, offset: u64, after: i64) -> Result<FilePosition, Error> {
    match RecordReader::open(&segment.path, segment.first_seq, offset) {
        Ok(records) => Ok(FilePosition { segment, records }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::FellBehind { seq: after }),
        Err(e) => Err(Error::io("open segment", &segment.path, e)),
    }
}

/// Turns "file not found" (retention removed it) into [`Error::FellBehind`].
fn fell_behind_if_missing(err: Error, seq: i64) -> Error {
    match err {
        Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            Error::FellBehind { seq }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;

    use super::*;
    use crate::{Config, EventLog};

    /// A reader left on an empty active segment that the writer replaces (a seq given to
    /// `append_with_seq` jumped ahead of it) goes on in the replacement instead of skipping it.
    #[test]
    fn a_reader_on_a_replaced_empty_segment_reads_its_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(Config::new(dir.path())).unwrap();
        for _ in 0..5 {
            let ticket = log
                .append("did:plc:a", 1, |_| Bytes::from_static(b"x"))
                .unwrap();
            ticket.wait().unwrap();
        }
        log.close().unwrap();
        drop(log);
        // Reopened above a floor: the records stay in a sealed segment, the active one is empty.
        let mut config = Config::new(dir.path());
        config.seq_floor = 100;
        let log = EventLog::open(config).unwrap();
        let shared = log.shared().clone();

        let mut file = None;
        let first = read_batch(&shared, &mut file, 0, 99, true).unwrap();
        assert_eq!(first.records.len(), 5);
        let rest = read_batch(&shared, &mut file, 5, 99, true).unwrap();
        assert!(rest.records.is_empty() && rest.caught_up);
        // The reader now sits on the empty active segment; a given seq replaces it.
        log.append_with_seq(
            500,
            "did:plc:a",
            1,
            SystemTime::now(),
            Bytes::from_static(b"y"),
        )
        .unwrap()
        .wait()
        .unwrap();
        let next = read_batch(&shared, &mut file, 99, 500, true).unwrap();
        let seqs: Vec<i64> = next.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [500]);
        log.close().unwrap();
    }
}
