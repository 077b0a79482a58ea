//! The writer thread: takes queued appends in batches, writes them to the active segment,
//! fsyncs per the durability policy, publishes the durable head, feeds live readers, rolls
//! segments and applies retention.
//!
//! Order of operations for a batch: write the records (one `write` per batch, or per
//! 4 MiB), update the segment's stats and in-memory index, then, when the policy says so,
//! `fdatasync`, publish the new durable head, and only then broadcast the events. Publishing
//! the head before broadcasting is what lets a reader switch from the files to the live feed
//! without a gap (see `reader.rs`).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::broadcast;
use tracing::{error, warn};

use crate::config::Durability;
use crate::error::Error;
use crate::event::Event;
use crate::format::{did_offset, IndexEntry, OriginRef, RecordRef, SEGMENT_HEADER_LEN};
use crate::lock::lock;
use crate::recover::{remove_file, sealed_entries};
use crate::retention;
use crate::segment::{self, LastRecord, Segment, SegmentStats};
use crate::shared::{QueueState, Shared};

/// Bytes buffered before a `write` call within one batch.
const FLUSH_BYTES: usize = 4 << 20;

/// The writer's state; lives on its own thread.
#[derive(Debug)]
pub(crate) struct Writer {
    /// State shared with handles and readers.
    shared: Arc<Shared>,
    /// The active segment file, positioned at its end.
    file: File,
    /// The active segment.
    segment: Arc<Segment>,
    /// The active segment's stats as of the last `write`.
    stats: SegmentStats,
    /// Encoded records not yet written.
    buf: Vec<u8>,
    /// The newest record in `buf`.
    buf_last: Option<LastRecord>,
    /// Index entries for records in `buf`.
    buf_index: Vec<IndexEntry>,
    /// Offset of the newest index entry of the active segment.
    last_indexed: Option<u64>,
    /// Events written but not yet durable, in seq order.
    unsynced: Vec<Event>,
    /// When the oldest of `unsynced` was written.
    unsynced_since: Option<Instant>,
    /// Bytes were written since the last fsync.
    dirty: bool,
    /// The live feed.
    live: broadcast::Sender<Event>,
    /// When to apply retention next.
    next_retention: Instant,
}

impl Writer {
    /// Prepares the writer for the active segment (the last one), applying the seq floor.
    pub fn start(
        shared: Arc<Shared>,
        file: File,
        live: broadcast::Sender<Event>,
    ) -> Result<Self, Error> {
        let segment = shared
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned();
        let Some(segment) = segment else {
            return Err(Error::corrupt(
                &shared.config.dir,
                0,
                "no active segment after recovery",
            ));
        };
        let stats = segment.stats();
        let last_indexed = segment
            .active_index()
            .and_then(|index| index.last().map(|e| e.offset));
        let next_retention = Instant::now();
        let mut writer = Writer {
            shared,
            file,
            segment,
            stats,
            buf: Vec::new(),
            buf_last: None,
            buf_index: Vec::new(),
            last_indexed,
            unsynced: Vec::new(),
            unsynced_since: None,
            dirty: false,
            live,
            next_retention,
        };
        writer.apply_floor()?;
        Ok(writer)
    }

    /// Runs until the log is closed or a write fails.
    pub fn run(mut self) {
        if let Err(err) = self.run_loop() {
            self.fail(&err);
        }
        *lock(&self.shared.live) = None;
        self.shared.publish_head(|head| head.closed = true);
    }

    /// The main loop.
    fn run_loop(&mut self) -> Result<(), Error> {
        loop {
            let (batch, closing) = self.wait_for_work();
            if !batch.is_empty() {
                self.write_batch(batch)?;
            }
            if closing {
                return self.sync(true);
            }
            if self.sync_due(Instant::now()) {
                self.sync(false)?;
            }
            let now = Instant::now();
            if now >= self.next_retention {
                self.next_retention = now + self.shared.config.retention_check_interval;
                self.apply_retention();
            }
        }
    }

    /// Blocks until there are appends, the log is closing, or a deadline (fsync or
    /// retention) passes.
    fn wait_for_work(&self) -> (Vec<Event>, bool) {
        let mut queue = lock(&self.shared.queue);
        loop {
            let closing = queue.state != QueueState::Open;
            if !queue.pending.is_empty() || closing {
                return (std::mem::take(&mut queue.pending), closing);
            }
            let now = Instant::now();
            let deadline = self
                .sync_deadline()
                .map_or(self.next_retention, |d| d.min(self.next_retention));
            if deadline <= now {
                return (Vec::new(), false);
            }
            queue = self
                .shared
                .queue_changed
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// When the unsynced events must be fsynced at the latest.
    fn sync_deadline(&self) -> Option<Instant> {
        match self.shared.config.durability {
            Durability::Fsync { max_delay, .. } => {
                self.unsynced_since.map(|since| since + max_delay)
            }
            Durability::OsBuffered => None,
        }
    }

    /// Whether the policy asks for a sync now.
    fn sync_due(&self, now: Instant) -> bool {
        if self.unsynced.is_empty() {
            return false;
        }
        match self.shared.config.durability {
            Durability::OsBuffered => true,
            Durability::Fsync { max_events, .. } => {
                self.unsynced.len() >= max_events
                    || self.sync_deadline().is_some_and(|deadline| now >= deadline)
            }
        }
    }

    /// Encodes and writes a batch, rolling segments as they fill.
    fn write_batch(&mut self, batch: Vec<Event>) -> Result<(), Error> {
        let segment_bytes = self.shared.config.segment_bytes;
        let interval = self.shared.config.index_interval_bytes;
        for event in batch {
            let len = (did_offset(event.origin.as_ref().map(|o| o.note.len()))
                + event.did.len()
                + event.body.len()) as u64;
            let has_records = self.stats.last.is_some() || self.buf_last.is_some();
            if has_records && self.stats.len + self.buf.len() as u64 + len > segment_bytes {
                self.flush_buf()?;
                self.roll(event.seq)?;
            } else if !has_records && event.seq > self.segment.first_seq {
                // A given seq jumped ahead of an empty segment (`append_with_seq`): name the
                // segment after its first event, so the oldest seq is the first one stored.
                self.replace_empty_active(event.seq)?;
            }
            let offset = self.stats.len + self.buf.len() as u64;
            let record = RecordRef {
                seq: event.seq,
                time_us: event.time_us,
                kind: event.kind,
                origin: event.origin.as_ref().map(|o| OriginRef {
                    source: o.source,
                    source_seq: o.source_seq,
                    note: &o.note,
                }),
                did: event.did(),
                body: &event.body,
            };
            record.encode_into(self.segment.first_seq, &mut self.buf);
            if self.last_indexed.is_none_or(|at| offset - at >= interval) {
                self.buf_index.push(IndexEntry {
                    seq: event.seq,
                    offset,
                });
                self.last_indexed = Some(offset);
            }
            self.buf_last = Some(LastRecord {
                seq: event.seq,
                time_us: event.time_us,
                offset,
            });
            if self.unsynced.is_empty() {
                self.unsynced_since = Some(Instant::now());
            }
            self.unsynced.push(event);
            if self.buf.len() >= FLUSH_BYTES {
                self.flush_buf()?;
            }
        }
        self.flush_buf()
    }

    /// Writes `buf` to the active segment and publishes the new stats and index entries.
    fn flush_buf(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.buf)
            .map_err(|e| Error::io("write segment", &self.segment.path, e))?;
        self.dirty = true;
        self.stats.len += self.buf.len() as u64;
        if let Some(last) = self.buf_last.take() {
            self.stats.last = Some(last);
        }
        self.segment.set_stats(self.stats);
        self.segment.push_index(&self.buf_index);
        self.buf_index.clear();
        self.buf.clear();
        Ok(())
    }

    /// Makes written events durable (fsync unless the policy is `OsBuffered` and `force`
    /// is false), then publishes the head and broadcasts the events.
    fn sync(&mut self, force: bool) -> Result<(), Error> {
        let fsync = force || matches!(self.shared.config.durability, Durability::Fsync { .. });
        if self.dirty && fsync {
            self.fsync()?;
            self.dirty = false;
        }
        let Some(last) = self.unsynced.last().map(Event::seq) else {
            return Ok(());
        };
        self.shared.publish_head(|head| head.durable = last);
        for event in self.unsynced.drain(..) {
            // No receivers is fine: nobody is following live.
            let _ = self.live.send(event);
        }
        self.unsynced_since = None;
        Ok(())
    }

    /// `fdatasync` on the active segment.
    fn fsync(&mut self) -> Result<(), Error> {
        #[cfg(any(test, feature = "failpoints"))]
        if self
            .shared
            .fail_fsync
            .load(std::sync::atomic::Ordering::Relaxed)
            || crate::fsync_fault::fsync_failure_armed_by_file()
        {
            return Err(Error::io(
                "fsync segment",
                &self.segment.path,
                std::io::Error::other("injected fsync failure"),
            ));
        }
        self.file
            .sync_data()
            .map_err(|e| Error::io("fsync segment", &self.segment.path, e))
    }

    /// Seals the active segment (fsync, index file) and starts a new one at `next_first`.
    fn roll(&mut self, next_first: i64) -> Result<(), Error> {
        self.sync(true)?;
        let dir = &self.shared.config.dir;
        if let Some(last) = self.stats.last {
            let entries = self
                .segment
                .active_index()
                .map(|index| index.to_vec())
                .unwrap_or_default();
            self.stats.index_len = segment::write_index_file(
                dir,
                self.segment.first_seq,
                &sealed_entries(entries, last),
            )?;
            self.segment.set_stats(self.stats);
            self.segment.drop_active_index();
        }
        let (file, segment, stats) = new_empty_segment(dir, self.segment.ordinal + 1, next_first)?;
        self.shared
            .segments
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(segment.clone());
        self.file = file;
        self.segment = segment;
        self.stats = stats;
        self.last_indexed = None;
        if self.shared.config.retention_bytes != u64::MAX {
            self.apply_retention();
        }
        Ok(())
    }

    /// Jumps the numbering to `seq_floor` if the log is behind it.
    fn apply_floor(&mut self) -> Result<(), Error> {
        let floor = self.shared.config.seq_floor;
        if lock(&self.shared.queue).next_seq >= floor {
            return Ok(());
        }
        if self.stats.last.is_some() {
            self.roll(floor)?;
        } else {
            self.replace_empty_active(floor)?;
        }
        lock(&self.shared.queue).next_seq = floor;
        self.shared.publish_head(|head| head.durable = floor - 1);
        Ok(())
    }

    /// Replaces the empty active segment with an empty one named after `first`.
    fn replace_empty_active(&mut self, first: i64) -> Result<(), Error> {
        let dir = &self.shared.config.dir;
        let old = self.segment.clone();
        let (file, segment, stats) = new_empty_segment(dir, old.ordinal, first)?;
        if let Some(slot) = self
            .shared
            .segments
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .last_mut()
        {
            *slot = segment.clone();
        }
        remove_file(&old.path)?;
        segment::sync_dir(dir)?;
        self.file = file;
        self.segment = segment;
        self.stats = stats;
        self.last_indexed = None;
        Ok(())
    }

    /// Runs retention, logging (not propagating) failures: a file that cannot be removed
    /// now is retried at the next check.
    fn apply_retention(&self) {
        let result = retention::prune(&self.shared, SystemTime::now());
        let mut health = lock(&self.shared.retention_health);
        match result {
            Ok(_) => health.consecutive = 0,
            Err(err) => {
                warn!(error = %err, "event log retention failed");
                health.errors += 1;
                health.consecutive += 1;
                health.last_error = Some(err.to_string());
            }
        }
    }

    /// Stops the log after an unrecoverable error.
    fn fail(&mut self, err: &Error) {
        error!(error = %err, "event log writer failed; no more appends are taken");
        let reason = err.to_string();
        {
            let mut queue = lock(&self.shared.queue);
            queue.state = QueueState::Failed(reason.clone());
            queue.pending.clear();
        }
        self.shared
            .publish_head(|head| head.failed = Some(reason.clone()));
    }
}

/// A new, empty active segment file whose first event will be `first`, with its in-memory
/// handle (an empty index) and stats.
fn new_empty_segment(
    dir: &Path,
    ordinal: u64,
    first: i64,
) -> Result<(File, Arc<Segment>, SegmentStats), Error> {
    let file = segment::create_segment_file(dir, first)?;
    let stats = SegmentStats {
        last: None,
        len: SEGMENT_HEADER_LEN,
        index_len: 0,
    };
    let segment = Arc::new(Segment::new(dir, ordinal, first, stats, Some(Vec::new())));
    Ok((file, segment, stats))
}
