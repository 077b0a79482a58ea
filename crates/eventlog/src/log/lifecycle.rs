//! Opening and closing the log: recovery, the shared state, and the writer thread, which is
//! stopped (after making every appended event durable) by [`EventLog::close`] or when the last
//! handle is dropped.

use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use tokio::sync::{broadcast, watch};

use super::EventLog;
use crate::config::Config;
use crate::error::Error;
use crate::lock::{lock, DirLock};
use crate::recover;
use crate::shared::{Head, Queue, QueueState, RetentionHealth, Shared};
use crate::takedown::Takedowns;
use crate::writer::Writer;

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

/// The writer thread; dropping the last handle closes the log.
#[derive(Debug)]
pub(super) struct WriterThread {
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
