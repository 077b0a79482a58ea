//! What the splitter knows about its upstream connection, shared by the follower task (which
//! writes it) and the health route, status page and metrics (which read it).

use std::{
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Mutex,
    },
    time::SystemTime,
};

use atrelay_repo::syntax::format_datetime;
use serde::Serialize;

/// The state of the connection to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Dialling (first attempt or after a backoff).
    Connecting,
    /// Subscribed and reading frames.
    Connected,
    /// Waiting before the next attempt after a failure.
    Backoff,
    /// The upstream answered `FutureCursor`: it is behind what this splitter stored (it was
    /// reset or replaced). The splitter keeps its log and retries; see the log line.
    UpstreamBehind,
    /// Stopping.
    Stopped,
}

#[derive(Debug)]
struct Connection {
    phase: Phase,
    since: SystemTime,
    last_error: Option<String>,
}

/// Counters and the connection state of the upstream follower.
#[derive(Debug)]
pub struct UpstreamStatus {
    connection: Mutex<Connection>,
    /// Frames read from the upstream and stored.
    pub frames_in: AtomicU64,
    /// Frames read from the upstream and not stored (`#info`, frames without a seq).
    pub frames_skipped: AtomicU64,
    /// Connections made to the upstream.
    pub connects: AtomicU64,
    /// The seq of the newest frame read from the upstream.
    pub last_read_seq: AtomicI64,
    /// The `time` of the newest stored frame, microseconds since the Unix epoch (0: none).
    pub last_event_time_us: AtomicI64,
}

/// A snapshot of [`UpstreamStatus`] for the health route and the status page.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// The connection's phase.
    pub phase: Phase,
    /// Since when it is in this phase (RFC 3339).
    pub since: String,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Frames stored.
    pub frames_in: u64,
    /// Connections made.
    pub connects: u64,
    /// Seq of the newest frame read.
    pub last_read_seq: i64,
}

impl Default for UpstreamStatus {
    fn default() -> Self {
        UpstreamStatus {
            connection: Mutex::new(Connection {
                phase: Phase::Connecting,
                since: SystemTime::now(),
                last_error: None,
            }),
            frames_in: AtomicU64::new(0),
            frames_skipped: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            last_read_seq: AtomicI64::new(0),
            last_event_time_us: AtomicI64::new(0),
        }
    }
}

impl UpstreamStatus {
    /// Enters `phase`, noting `error` as the last failure when given.
    pub fn set(&self, phase: Phase, error: Option<String>) {
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        if connection.phase != phase {
            connection.phase = phase;
            connection.since = SystemTime::now();
        }
        if error.is_some() {
            connection.last_error = error;
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.connection
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .phase
    }

    /// A snapshot for display.
    pub fn view(&self) -> StatusView {
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        StatusView {
            phase: connection.phase,
            since: format_datetime(connection.since),
            last_error: connection.last_error.clone(),
            frames_in: self.frames_in.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            last_read_seq: self.last_read_seq.load(Ordering::Relaxed),
        }
    }

    /// Seconds between the newest stored event's `time` and now (0 when none is stored or
    /// its clock is ahead).
    pub fn event_age_seconds(&self, now: SystemTime) -> f64 {
        let time_us = self.last_event_time_us.load(Ordering::Relaxed);
        if time_us <= 0 {
            return 0.0;
        }
        let now_us = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        (now_us - time_us).max(0) as f64 / 1e6
    }
}
