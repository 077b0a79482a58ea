//! The fsync fault point armed from outside the process (feature `failpoints`): a file named in
//! the environment whose existence makes every fsync fail, so a test can break the event log of
//! another process (the relay binary) exactly as a disk error would.

/// Names a file whose existence makes every fsync fail (feature `failpoints`): arms the fault
/// point in another process, such as the relay binary built for the tests, which then fails
/// exactly as it would on a disk error.
pub const FAIL_FSYNC_WHILE_EXISTS_ENV: &str = "ATRELAY_EVENTLOG_FAIL_FSYNC_WHILE_EXISTS";

/// Whether the file named by [`FAIL_FSYNC_WHILE_EXISTS_ENV`] exists.
pub(crate) fn fsync_failure_armed_by_file() -> bool {
    std::env::var_os(FAIL_FSYNC_WHILE_EXISTS_ENV)
        .is_some_and(|path| std::path::Path::new(&path).exists())
}
