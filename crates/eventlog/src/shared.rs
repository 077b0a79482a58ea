//! The state every part of an open log shares: the segment list, the append queue, the durable
//! head (published to async and blocking waiters), the live feed, takedowns and retention
//! health.

use std::sync::{Arc, Condvar, Mutex, RwLock};

use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::error::Error;
use crate::event::Event;
use crate::lock::lock;
use crate::segment::Segment;
use crate::takedown::Takedowns;

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
