//! The [`EventLog`] handle: open, append, query, takedowns, retention, close.
//!
//! This file holds the handle and its read, takedown and retention calls. The rest is split by
//! job: `lifecycle` opens and closes the log and owns the writer thread, `append` is the append
//! path and its [`Ticket`]s, `shared` is the state the writer, readers and tickets share,
//! `status` reports [`LogStats`] and [`LogHealth`], and `failpoints` is the fsync fault point
//! for tests.

use std::sync::Arc;
use std::time::SystemTime;

use crate::error::Error;
use crate::reader::Reader;
use crate::retention::{self, PruneReport};
use crate::shared::Shared;

mod append;
#[cfg(any(test, feature = "failpoints"))]
mod failpoints;
mod lifecycle;
mod status;

pub use append::Ticket;
pub use status::{LogHealth, LogStats};

use lifecycle::WriterThread;

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

impl EventLog {
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
}

#[cfg(test)]
mod tests;

#[cfg(test)]
impl EventLog {
    /// The shared state, for the crate's unit tests.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}
