//! What the log reports about itself: [`LogStats`] (sizes and bounds) and [`LogHealth`]
//! (whether it takes appends, how retention fares), for metrics, readiness and the admin API.

use super::EventLog;
use crate::lock::lock;
use crate::shared::QueueState;

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

impl EventLog {
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
}
