//! The fsync fault point (feature `failpoints`, and unit tests): making fsyncs fail, in this
//! process or, through a file named in the environment, in another one.

use super::EventLog;

/// Names a file whose existence makes every fsync fail (feature `failpoints`): arms the fault
/// point in another process, such as the relay binary built for the tests, which then fails
/// exactly as it would on a disk error.
pub const FAIL_FSYNC_WHILE_EXISTS_ENV: &str = "ATRELAY_EVENTLOG_FAIL_FSYNC_WHILE_EXISTS";

/// Whether the file named by [`FAIL_FSYNC_WHILE_EXISTS_ENV`] exists.
pub(crate) fn fsync_failure_armed_by_file() -> bool {
    std::env::var_os(FAIL_FSYNC_WHILE_EXISTS_ENV)
        .is_some_and(|path| std::path::Path::new(&path).exists())
}

impl EventLog {
    /// Fault point (feature `failpoints`): while `on`, every fsync of a segment fails as if
    /// the disk had returned an error, so the log fails exactly as it would in production.
    pub fn inject_fsync_failure(&self, on: bool) {
        self.shared
            .fail_fsync
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
}
