//! The [`EventLog`] handle: open, append, query, takedowns, retention, close.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::error::Error;
use crate::event::{unix_micros, Event, Origin};
use crate::format::{MAX_EVENT_BYTES, MAX_NOTE_BYTES};
use crate::lock::{lock, DirLock};
use crate::reader::Reader;
use crate::recover;
use crate::retention::{self, PruneReport};
use crate::segment::Segment;
use crate::takedown::{check_did, Takedowns};
use crate::writer::Writer;

/// A handle to an open event log. Cheap to clone; all clones share one writer thread,
/// which is stopped (after making every appended event durable) by [`EventLog::close`] or
/// when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct EventLog {
    /// State shared with the writer, readers and tickets.
    shared: Arc<Shared>,
    /// Owns the writer thread; its drop closes the log.
    writer: Arc<WriterThread>,
}

/// A pending append: its seq is assigned, and [`Ticket::durable`] tells when it is safe.
#[derive(Debug, Clone)]
#[must_use = "an append is only safe once its ticket reports it durable"]
pub struct Ticket {
    /// The event's seq.
    seq: i64,
    /// Where durability is published.
    shared: Arc<Shared>,
}

/// Sizes and bounds of the log, for metrics and the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// Number of segment files.
    pub segments: usize,
    /// Bytes on disk (segments and their indexes).
    pub bytes: u64,
    /// Oldest durable seq still stored, if any.
    pub oldest_seq: Option<i64>,
    /// Newest durable seq (see [`EventLog::newest_seq`]).
    pub newest_seq: i64,
    /// Events appended but not yet durable.
    pub pending: i64,
}

/// Whether the log takes appends and how its background retention fares, for readiness checks
/// and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHealth {
    /// The writer's fatal error: the log takes no more appends.
    pub failed: Option<String>,
    /// The log was closed (or its writer stopped).
    pub closed: bool,
    /// Whether the log's directory is still there (appends into a deleted directory vanish at
    /// the next restart).
    pub dir_present: bool,
    /// Failed retention passes since the log was opened.
    pub retention_errors: u64,
    /// Failed retention passes since the last one that succeeded.
    pub retention_consecutive_errors: u64,
    /// The last retention error, kept after a recovery.
    pub retention_last_error: Option<String>,
}

/// How the writer's periodic retention passes went.
#[derive(Debug, Default)]
pub(crate) struct RetentionHealth {
    /// Failed passes in all.
    pub errors: u64,
    /// Failed passes since the last success.
    pub consecutive: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// State shared by every part of an open log.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The configuration the log was opened with.
    pub config: Config,
    /// All segments, oldest first; the last one is active.
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// Appends waiting for the writer.
    pub queue: Mutex<Queue>,
    /// Wakes the writer when `queue` changes.
    pub queue_changed: Condvar,
    /// The durable head, for async waiters and readers.
    pub head: watch::Sender<Head>,
    /// The durable head again, for blocking waiters.
    pub head_sync: Mutex<Head>,
    /// Wakes blocking waiters when `head_sync` changes.
    pub head_changed: Condvar,
    /// The live feed of durable events; `None` once the log is closed or failed.
    pub live: Mutex<Option<broadcast::Sender<Event>>>,
    /// DIDs whose events readers skip.
    pub takedowns: Takedowns,
    /// Outcome of the writer's retention passes.
    pub retention_health: Mutex<RetentionHealth>,
    /// Test fault point: make the next fsync fail.
    #[cfg(any(test, feature = "failpoints"))]
    pub fail_fsync: std::sync::atomic::AtomicBool,
}

/// Appends not yet taken by the writer, and how seqs are handed out.
#[derive(Debug)]
pub(crate) struct Queue {
    /// Events in seq order.
    pub pending: Vec<Event>,
    /// The seq the next append gets.
    pub next_seq: i64,
    /// Whether appends are still accepted.
    pub state: QueueState,
}

/// Whether the log takes appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum QueueState {
    /// Accepting appends.
    Open,
    /// `close` was called: the writer drains and stops.
    Closing,
    /// The writer hit an unrecoverable error.
    Failed(String),
}

/// The durable head as published by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// Every event with a seq up to this one is durable (and visible to readers).
    pub durable: i64,
    /// The writer's fatal error, if it failed.
    pub failed: Option<String>,
    /// The writer has stopped.
    pub closed: bool,
}

impl Shared {
    /// The error to report once the writer has stopped.
    pub fn stopped_error(head: &Head) -> Error {
        match &head.failed {
            Some(reason) => Error::Failed {
                reason: reason.clone(),
            },
            None => Error::Closed,
        }
    }

    /// The newest durable seq.
    pub fn newest_seq(&self) -> i64 {
        self.head.borrow().durable
    }

    /// The oldest durable seq still stored.
    pub fn oldest_seq(&self) -> Option<i64> {
        let first = self
            .segments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .cloned()?;
        let has_records = first.stats().last.is_some();
        (has_records && first.first_seq <= self.newest_seq()).then_some(first.first_seq)
    }

    /// Publishes a new head to async and blocking waiters. The watch (which queries read)
    /// is updated first, so a blocking waiter that wakes sees the same head in queries.
    pub fn publish_head(&self, update: impl Fn(&mut Head)) {
        self.head.send_modify(|head| update(head));
        {
            let mut head = lock(&self.head_sync);
            update(&mut head);
        }
        self.head_changed.notify_all();
    }
}

impl EventLog {
    /// Opens (or creates) the log in `config.dir`: recovers the segments, truncates a torn
    /// tail, applies the seq floor and starts the writer thread.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], [`Error::Locked`] if the directory is in use,
    /// [`Error::Corruption`] if a sealed segment does not verify, [`Error::Io`].
    pub fn open(config: Config) -> Result<Self, Error> {
        config.validate()?;
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| Error::io("create directory", &config.dir, e))?;
        let dir_lock = DirLock::acquire(&config.dir)?;
        let takedowns = Takedowns::load(&config.dir)?;
        let recovered = recover::recover(&config)?;
        let head = Head {
            durable: recovered.next_seq - 1,
            failed: None,
            closed: false,
        };
        let (live, _) = broadcast::channel(config.live_buffer);
        let shared = Arc::new(Shared {
            segments: RwLock::new(recovered.segments),
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                next_seq: recovered.next_seq,
                state: QueueState::Open,
            }),
            queue_changed: Condvar::new(),
            head: watch::Sender::new(head.clone()),
            head_sync: Mutex::new(head),
            head_changed: Condvar::new(),
            live: Mutex::new(Some(live.clone())),
            takedowns,
            retention_health: Mutex::new(RetentionHealth::default()),
            config,
            #[cfg(any(test, feature = "failpoints"))]
            fail_fsync: std::sync::atomic::AtomicBool::new(false),
        });
        let writer = Writer::start(shared.clone(), recovered.active_file, live)?;
        let handle = std::thread::Builder::new()
            .name("atrelay-eventlog".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::io("spawn writer thread", &shared.config.dir, e))?;
        let writer = Arc::new(WriterThread {
            shared: shared.clone(),
            handle: Mutex::new(Some(handle)),
            dir_lock: Mutex::new(Some(dir_lock)),
        });
        Ok(EventLog { shared, writer })
    }

    /// Appends an event. The log assigns the next seq and calls `encode` with it (under
    /// the append lock, so keep it to encoding); the returned bytes are stored as the event
    /// body. Returns at once; the [`Ticket`] reports when the event is durable, which is
    /// also when readers see it.
    ///
    /// The queue in front of the writer is not bounded here: callers bound their appends in
    /// flight by awaiting tickets (an ingest task per host does, to advance its cursor), and
    /// [`LogStats::pending`] shows how many events wait.
    ///
    /// # Errors
    /// [`Error::InvalidDid`], [`Error::EventTooLarge`] (the seq is not used), or
    /// [`Error::Closed`] / [`Error::Failed`] when the log no longer takes appends.
    pub fn append(
        &self,
        did: &str,
        kind: u8,
        encode: impl FnOnce(i64) -> Bytes,
    ) -> Result<Ticket, Error> {
        self.push(did, kind, None, SystemTime::now(), encode)
    }

    /// [`EventLog::append`] for an event that came from a source: its [`Origin`] is stored
    /// beside it, so that after a crash [`EventLog::recovery_reader`] tells how far each
    /// source got in the log, and its time is `received`, when the relay read it from the
    /// source (never later than now), so that a reader's `now - event.time()` is the
    /// source-to-reader latency.
    ///
    /// # Errors
    /// As [`EventLog::append`], and [`Error::NoteTooLarge`].
    pub fn append_from(
        &self,
        did: &str,
        kind: u8,
        origin: Option<Origin>,
        received: SystemTime,
        encode: impl FnOnce(i64) -> Bytes,
    ) -> Result<Ticket, Error> {
        self.push(did, kind, origin, received.min(SystemTime::now()), encode)
    }

    fn push(
        &self,
        did: &str,
        kind: u8,
        origin: Option<Origin>,
        time: SystemTime,
        encode: impl FnOnce(i64) -> Bytes,
    ) -> Result<Ticket, Error> {
        check_did(did)?;
        if let Some(origin) = &origin {
            if origin.note.len() > MAX_NOTE_BYTES {
                return Err(Error::NoteTooLarge {
                    len: origin.note.len(),
                    max: MAX_NOTE_BYTES,
                });
            }
        }
        let did = Bytes::copy_from_slice(did.as_bytes());
        let mut queue = lock(&self.shared.queue);
        match &queue.state {
            QueueState::Open => {}
            QueueState::Closing => return Err(Error::Closed),
            QueueState::Failed(reason) => {
                return Err(Error::Failed {
                    reason: reason.clone(),
                })
            }
        }
        let seq = queue.next_seq;
        let body = encode(seq);
        if body.len() > MAX_EVENT_BYTES {
            return Err(Error::EventTooLarge {
                len: body.len(),
                max: MAX_EVENT_BYTES,
            });
        }
        queue.next_seq += 1;
        let time_us = unix_micros(time);
        queue.pending.push(Event {
            seq,
            time_us,
            kind,
            origin,
            did,
            body,
        });
        if queue.pending.len() == 1 {
            self.shared.queue_changed.notify_one();
        }
        Ok(Ticket {
            seq,
            shared: self.shared.clone(),
        })
    }

    /// The newest durable seq: every event up to it can be read. On a log that never held
    /// an event this is `seq_floor - 1`. A cursor above it is a `FutureCursor`.
    pub fn newest_seq(&self) -> i64 {
        self.shared.newest_seq()
    }

    /// The oldest durable seq still stored, or `None` if no durable event is stored (a
    /// new log, or one whose events all aged out). A cursor below it is an `OutdatedCursor`.
    pub fn oldest_seq(&self) -> Option<i64> {
        self.shared.oldest_seq()
    }

    /// A reader of the events after `cursor` (`Some`, replay then live), or of the events
    /// after the current head (`None`, live only). See [`Reader`] for the guarantees.
    ///
    /// # Errors
    /// [`Error::FutureCursor`] if `cursor` is above [`EventLog::newest_seq`],
    /// [`Error::InvalidCursor`] if it is negative, [`Error::Closed`] / [`Error::Failed`] for
    /// a live-only reader of a stopped log.
    pub fn reader(&self, cursor: Option<i64>) -> Result<Reader, Error> {
        Reader::new(self.shared.clone(), cursor)
    }

    /// A reader of every durable event after `cursor`, taken-down DIDs included: for a
    /// caller rebuilding its own state from the log after a crash, never for consumers.
    ///
    /// # Errors
    /// As [`EventLog::reader`] with a cursor.
    pub fn recovery_reader(&self, cursor: i64) -> Result<Reader, Error> {
        let mut reader = Reader::new(self.shared.clone(), Some(cursor))?;
        reader.show_taken_down();
        Ok(reader)
    }

    /// Stops serving `did`'s events, past and live, to every reader (including readers
    /// already running). Persisted before returning. Returns whether this changed anything.
    ///
    /// # Errors
    /// [`Error::InvalidDid`], [`Error::Io`] if the takedown list cannot be written.
    pub fn take_down(&self, did: &str) -> Result<bool, Error> {
        self.shared.takedowns.update(did, true)
    }

    /// Serves `did`'s events again, including the past ones still in the log. Returns
    /// whether this changed anything.
    ///
    /// # Errors
    /// [`Error::InvalidDid`], [`Error::Io`] if the takedown list cannot be written.
    pub fn restore(&self, did: &str) -> Result<bool, Error> {
        self.shared.takedowns.update(did, false)
    }

    /// Whether `did` is taken down.
    pub fn is_taken_down(&self, did: &str) -> bool {
        self.shared.takedowns.snapshot().contains(did)
    }

    /// Applies retention as of `now`: deletes the oldest sealed segments while their newest
    /// event is older than `retention_age` or the log is larger than `retention_bytes`. The
    /// writer does this by itself every `retention_check_interval`; this is for tests and
    /// admin tools.
    ///
    /// # Errors
    /// [`Error::Io`] if a file cannot be removed (segments already unlinked stay removed).
    pub fn prune(&self, now: SystemTime) -> Result<PruneReport, Error> {
        retention::prune(&self.shared, now)
    }

    /// Whether the log takes appends, and how its retention passes fare.
    pub fn health(&self) -> LogHealth {
        let head = self.shared.head.borrow().clone();
        let retention = lock(&self.shared.retention_health);
        LogHealth {
            failed: head.failed,
            closed: head.closed || lock(&self.shared.queue).state == QueueState::Closing,
            dir_present: self.shared.config.dir.is_dir(),
            retention_errors: retention.errors,
            retention_consecutive_errors: retention.consecutive,
            retention_last_error: retention.last_error.clone(),
        }
    }

    /// Current sizes and bounds.
    pub fn stats(&self) -> LogStats {
        let (segments, bytes) = {
            let list = self
                .shared
                .segments
                .read()
                .unwrap_or_else(|e| e.into_inner());
            let bytes = list
                .iter()
                .map(|s| s.stats())
                .map(|s| s.len + s.index_len)
                .sum();
            (list.len(), bytes)
        };
        let newest_seq = self.newest_seq();
        let next_seq = lock(&self.shared.queue).next_seq;
        LogStats {
            segments,
            bytes,
            oldest_seq: self.oldest_seq(),
            newest_seq,
            pending: next_seq - 1 - newest_seq,
        }
    }

    /// Waits (blocking) until every event appended so far is durable, and returns the
    /// newest durable seq.
    ///
    /// # Errors
    /// [`Error::Failed`] if the writer failed first, [`Error::Closed`] if it was closed.
    pub fn flush(&self) -> Result<i64, Error> {
        let last = lock(&self.shared.queue).next_seq - 1;
        Ticket {
            seq: last,
            shared: self.shared.clone(),
        }
        .wait()
    }

    /// Stops taking appends, makes every appended event durable, stops the writer thread,
    /// and ends live readers (after they have read everything). Idempotent.
    ///
    /// # Errors
    /// [`Error::Failed`] if the writer had failed (the events not durable then are lost).
    pub fn close(&self) -> Result<(), Error> {
        self.writer.stop();
        let head = lock(&self.shared.head_sync).clone();
        match head.failed {
            Some(reason) => Err(Error::Failed { reason }),
            None => Ok(()),
        }
    }
}

/// Names a file whose existence makes every fsync fail (feature `failpoints`): arms the fault
/// point in another process, such as the relay binary built for the tests, which then fails
/// exactly as it would on a disk error.
#[cfg(any(test, feature = "failpoints"))]
pub const FAIL_FSYNC_WHILE_EXISTS_ENV: &str = "ATRELAY_EVENTLOG_FAIL_FSYNC_WHILE_EXISTS";

/// Whether the file named by [`FAIL_FSYNC_WHILE_EXISTS_ENV`] exists.
#[cfg(any(test, feature = "failpoints"))]
pub(crate) fn fsync_failure_armed_by_file() -> bool {
    std::env::var_os(FAIL_FSYNC_WHILE_EXISTS_ENV)
        .is_some_and(|path| std::path::Path::new(&path).exists())
}

#[cfg(any(test, feature = "failpoints"))]
impl EventLog {
    /// Fault point (feature `failpoints`): while `on`, every fsync of a segment fails as if
    /// the disk had returned an error, so the log fails exactly as it would in production.
    pub fn inject_fsync_failure(&self, on: bool) {
        self.shared
            .fail_fsync
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Ticket {
    /// The seq assigned to the event.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// Waits until the event is durable and returns its seq.
    ///
    /// # Errors
    /// [`Error::Failed`] if the writer failed before making it durable.
    pub async fn durable(&self) -> Result<i64, Error> {
        let mut rx = self.shared.head.subscribe();
        let seq = self.seq;
        let head = rx
            .wait_for(|head| head.durable >= seq || head.failed.is_some() || head.closed)
            .await
            .map_err(|_| Error::Closed)?
            .clone();
        if head.durable >= seq {
            Ok(seq)
        } else {
            Err(Shared::stopped_error(&head))
        }
    }

    /// Blocks the thread until the event is durable; for code outside an async runtime.
    ///
    /// # Errors
    /// [`Error::Failed`] if the writer failed before making it durable.
    pub fn wait(&self) -> Result<i64, Error> {
        let mut head = lock(&self.shared.head_sync);
        loop {
            if head.durable >= self.seq {
                return Ok(self.seq);
            }
            if head.failed.is_some() || head.closed {
                return Err(Shared::stopped_error(&head));
            }
            head = self
                .shared
                .head_changed
                .wait(head)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether the event is durable already.
    pub fn is_durable(&self) -> bool {
        self.shared.newest_seq() >= self.seq
    }
}

/// The writer thread; dropping the last handle closes the log.
#[derive(Debug)]
struct WriterThread {
    /// To tell the writer to stop.
    shared: Arc<Shared>,
    /// `None` once joined.
    handle: Mutex<Option<JoinHandle<()>>>,
    /// Keeps other processes out of the directory until the writer has stopped; released
    /// then, so the log can be reopened even while old tickets or readers linger.
    dir_lock: Mutex<Option<DirLock>>,
}

impl WriterThread {
    /// Asks the writer to drain and stop, and waits for it.
    fn stop(&self) {
        {
            let mut queue = lock(&self.shared.queue);
            if queue.state == QueueState::Open {
                queue.state = QueueState::Closing;
            }
        }
        self.shared.queue_changed.notify_one();
        let handle = lock(&self.handle).take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("event log writer thread panicked");
                lock(&self.shared.queue).state =
                    QueueState::Failed("writer thread panicked".into());
                self.shared.publish_head(|head| {
                    head.failed
                        .get_or_insert_with(|| "writer thread panicked".into());
                    head.closed = true;
                });
            }
        }
        lock(&self.dir_lock).take();
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Durability;

    fn config(dir: &std::path::Path) -> Config {
        let mut config = Config::new(dir);
        config.durability = Durability::Fsync {
            max_delay: Duration::ZERO,
            max_events: 100,
        };
        config
    }

    #[test]
    fn a_failed_fsync_stops_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(config(dir.path())).unwrap();
        let ok = log
            .append("did:plc:a", 1, |_| Bytes::from_static(b"one"))
            .unwrap();
        assert_eq!(ok.wait().unwrap(), 1);

        log.inject_fsync_failure(true);
        let lost = log
            .append("did:plc:a", 1, |_| Bytes::from_static(b"two"))
            .unwrap();
        assert!(matches!(lost.wait(), Err(Error::Failed { .. })));
        assert!(!lost.is_durable());
        assert!(matches!(
            log.append("did:plc:a", 1, |_| Bytes::new()),
            Err(Error::Failed { .. })
        ));
        assert_eq!(log.newest_seq(), 1);
        let health = log.health();
        assert!(health.failed.is_some() && health.dir_present, "{health:?}");
        assert!(matches!(log.close(), Err(Error::Failed { .. })));
        assert!(matches!(log.flush(), Err(Error::Failed { .. })));
        drop(log);

        // Reopening recovers what is on disk; the numbering never goes back.
        let log = EventLog::open(config(dir.path())).unwrap();
        let next = log
            .append("did:plc:a", 1, |_| Bytes::from_static(b"three"))
            .unwrap();
        assert!(next.wait().unwrap() >= 2);
    }

    #[test]
    fn a_reader_of_a_failed_log_ends_with_the_failure() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let log = EventLog::open(config(dir.path())).unwrap();
            let mut reader = log.reader(None).unwrap();
            log.inject_fsync_failure(true);
            let ticket = log
                .append("did:plc:a", 1, |_| Bytes::from_static(b"x"))
                .unwrap();
            assert!(matches!(ticket.durable().await, Err(Error::Failed { .. })));
            assert!(matches!(reader.next().await, Err(Error::Failed { .. })));
        });
    }
}
