//! Locks: poison-tolerant mutex locking, and the exclusive lock on a log directory.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use crate::error::Error;

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves its data
/// consistent at each step, so a panic elsewhere does not make the data unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// An exclusive `flock` on `<dir>/LOCK`, held while the log is open. The kernel releases it
/// when the process dies, so a crash never leaves a stale lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    /// The open lock file; closing it releases the lock.
    _file: File,
}

impl DirLock {
    /// Takes the lock, failing at once with [`Error::Locked`] if someone holds it.
    pub fn acquire(dir: &Path) -> Result<Self, Error> {
        let path = dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open lock file", &path, e))?;
        // SAFETY: flock is called on a file descriptor owned by `file`, which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            return Err(if err.kind() == std::io::ErrorKind::WouldBlock {
                Error::Locked {
                    path: dir.to_owned(),
                }
            } else {
                Error::io("lock directory", dir, err)
            });
        }
        Ok(DirLock { _file: file })
    }
}
