//! Retention: deleting the oldest whole segments by age and by total size.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::info;

use crate::error::Error;
use crate::event::unix_micros;
use crate::recover::remove_file;
use crate::segment::{sync_dir, Segment};
use crate::shared::Shared;

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Segments deleted.
    pub segments: usize,
    /// Bytes freed (segments and indexes).
    pub bytes: u64,
    /// Seq of the newest event deleted, if any.
    pub through_seq: Option<i64>,
}

/// Deletes sealed segments, oldest first, while the oldest one's newest event is older than
/// the retention age as of `now`, or the log is over its byte budget. The active segment is
/// never deleted. Readers still on a deleted segment finish it (the open file stays
/// readable); a reader that needed a deleted segment gets [`Error::FellBehind`].
pub(crate) fn prune(shared: &Shared, now: SystemTime) -> Result<PruneReport, Error> {
    let config = &shared.config;
    let cutoff = now
        .checked_sub(config.retention_age)
        .map_or(i64::MIN, unix_micros);
    let removed: Vec<Arc<Segment>> = {
        let mut segments = shared.segments.write().unwrap_or_else(|e| e.into_inner());
        let mut total: u64 = segments
            .iter()
            .map(|s| s.stats())
            .map(|s| s.len + s.index_len)
            .sum();
        let mut count = 0;
        for segment in segments.iter().take(segments.len().saturating_sub(1)) {
            let stats = segment.stats();
            let aged = stats.last.is_none_or(|last| last.time_us < cutoff);
            if !aged && total <= config.retention_bytes {
                break;
            }
            total = total.saturating_sub(stats.len + stats.index_len);
            count += 1;
        }
        segments.drain(..count).collect()
    };
    let mut report = PruneReport::default();
    if removed.is_empty() {
        return Ok(report);
    }
    for segment in &removed {
        let stats = segment.stats();
        remove_file(&segment.path)?;
        remove_file(&segment.index_path)?;
        report.segments += 1;
        report.bytes += stats.len + stats.index_len;
        report.through_seq = stats.last.map(|l| l.seq).or(report.through_seq);
    }
    sync_dir(&config.dir)?;
    info!(
        segments = report.segments,
        bytes = report.bytes,
        through_seq = report.through_seq,
        "event log retention"
    );
    Ok(report)
}
