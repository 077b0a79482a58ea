//! Configuration of an [`EventLog`](crate::EventLog).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;

/// When appended events become durable (and therefore visible to readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Events are durable once `fdatasync` has returned for them. The writer fsyncs when
    /// `max_events` unsynced events have accumulated or `max_delay` has passed since the
    /// first unsynced write, whichever comes first; `max_delay` of zero fsyncs after every
    /// batch the writer takes (group commit with no added latency).
    Fsync {
        /// Longest time an event waits for its fsync.
        max_delay: Duration,
        /// Most events written between two fsyncs.
        max_events: usize,
    },
    /// Events are "durable" once written to the operating system (they survive a process
    /// crash but not a power cut). For tests and for splitters that can refetch.
    OsBuffered,
}

impl Default for Durability {
    /// Fsync every 5 ms or every 1,000 events.
    fn default() -> Self {
        Durability::Fsync {
            max_delay: Duration::from_millis(5),
            max_events: 1000,
        }
    }
}

/// Everything an event log needs to know; build with [`Config::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory holding the segment files, their indexes and the takedown list.
    /// Created if missing; one process at a time (it is locked while open).
    pub dir: PathBuf,
    /// A segment is sealed and a new one started once it would exceed this many bytes
    /// (a single larger event still gets a segment of its own). Default 64 MiB, minimum 4 KiB.
    /// Retention drops whole segments, and opening the log scans the newest segment, so this
    /// is the granularity of both.
    pub segment_bytes: u64,
    /// A sparse index entry (seq to offset) is kept every this many bytes of records, so a
    /// seek reads at most this much past its target. Default 32 KiB, minimum 1 byte.
    pub index_interval_bytes: u64,
    /// When events become durable.
    pub durability: Durability,
    /// Segments whose newest event is older than this are deleted. Default 72 hours.
    pub retention_age: Duration,
    /// The oldest segments are deleted while the log holds more than this many bytes
    /// (`u64::MAX`, the default, means no size limit). The active segment is never deleted.
    pub retention_bytes: u64,
    /// How often the writer applies retention. Default one minute.
    pub retention_check_interval: Duration,
    /// The first seq handed out is at least this (default 1). A relay that replaces another
    /// sets it above the old relay's last seq so consumer cursors stay monotonic; on an
    /// existing log a floor above the newest seq makes the numbering jump ahead.
    pub seq_floor: i64,
    /// Capacity of the live broadcast each reader follows once caught up. A reader that
    /// lags further than this falls back to reading the files, without a gap. Default 4,096:
    /// the slots keep their frames after traffic stops (≈ 1.6 KB each on a typical load), so
    /// this bounds the log's idle memory, and a reader 4,096 events behind reads the recent
    /// segment from the page cache at several hundred thousand events/s.
    pub live_buffer: usize,
    /// Kinds still delivered for a taken-down DID, so consumers learn of the takedown itself
    /// (the relay lists its `#account` kind here). Default: none.
    pub takedown_visible_kinds: Vec<u8>,
}

impl Config {
    /// Defaults for a log in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Config {
            dir: dir.into(),
            segment_bytes: 64 << 20,
            index_interval_bytes: 32 << 10,
            durability: Durability::default(),
            retention_age: Duration::from_secs(72 * 3600),
            retention_bytes: u64::MAX,
            retention_check_interval: Duration::from_secs(60),
            seq_floor: 1,
            live_buffer: 4 * 1024,
            takedown_visible_kinds: Vec::new(),
        }
    }

    /// Checks that the values can work together.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.segment_bytes < 4096 {
            return Err(Error::InvalidConfig(format!(
                "segment_bytes must be at least 4096, got {}",
                self.segment_bytes
            )));
        }
        if self.index_interval_bytes == 0 {
            return Err(Error::InvalidConfig(
                "index_interval_bytes must be at least 1".into(),
            ));
        }
        if self.seq_floor < 1 {
            return Err(Error::InvalidConfig(format!(
                "seq_floor must be at least 1, got {}",
                self.seq_floor
            )));
        }
        if self.live_buffer == 0 {
            return Err(Error::InvalidConfig(
                "live_buffer must be at least 1".into(),
            ));
        }
        if let Durability::Fsync { max_events: 0, .. } = self.durability {
            return Err(Error::InvalidConfig(
                "durability max_events must be at least 1".into(),
            ));
        }
        if self.retention_check_interval.is_zero() {
            return Err(Error::InvalidConfig(
                "retention_check_interval must not be zero".into(),
            ));
        }
        Ok(())
    }
}
