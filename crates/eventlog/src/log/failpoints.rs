//! The fsync fault point (feature `failpoints`, and unit tests) of this process: making every
//! fsync fail on demand (the one armed from outside is [`crate::fsync_fault`]).

use super::EventLog;

impl EventLog {
    /// Fault point (feature `failpoints`): while `on`, every fsync of a segment fails as if
    /// the disk had returned an error, so the log fails exactly as it would in production.
    pub fn inject_fsync_failure(&self, on: bool) {
        self.shared
            .fail_fsync
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
}
