//! Takedowns: DIDs whose events (past and live) readers skip, persisted in the log directory.
//!
//! The list lives in `<dir>/takedowns`, one DID per line, replaced atomically (write a
//! temporary file, fsync, rename, fsync the directory) on every change. Readers hold a
//! snapshot and check a generation counter per event, so the common case costs one atomic
//! load and an empty list costs nothing more.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::Error;
use crate::format::MAX_DID_BYTES;
use crate::lock::lock;
use crate::segment::sync_dir;

/// File name of the takedown list inside the log directory.
const FILE_NAME: &str = "takedowns";

/// The persisted takedown set.
#[derive(Debug)]
pub(crate) struct Takedowns {
    /// The log directory.
    dir: PathBuf,
    /// Current set; replaced whole on change.
    set: RwLock<Arc<HashSet<Box<str>>>>,
    /// Bumped after every change of `set`.
    generation: AtomicU64,
    /// Serializes changes so file and memory change in the same order.
    write: Mutex<()>,
}

impl Takedowns {
    /// Loads the list from `dir` (empty if the file does not exist).
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(FILE_NAME);
        let set = match fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(Box::from)
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(Error::io("read takedowns", &path, e)),
        };
        Ok(Takedowns {
            dir: dir.to_owned(),
            set: RwLock::new(Arc::new(set)),
            generation: AtomicU64::new(0),
            write: Mutex::new(()),
        })
    }

    /// Adds (`true`) or removes (`false`) a DID; returns whether the set changed.
    pub fn update(&self, did: &str, taken_down: bool) -> Result<bool, Error> {
        check_did(did)?;
        let _guard = lock(&self.write);
        let current = self.snapshot();
        if current.contains(did) == taken_down {
            return Ok(false);
        }
        let mut next = HashSet::clone(&current);
        if taken_down {
            next.insert(did.into());
        } else {
            next.remove(did);
        }
        self.persist(&next)?;
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        self.generation.fetch_add(1, Ordering::Release);
        Ok(true)
    }

    /// The current set.
    pub fn snapshot(&self) -> Arc<HashSet<Box<str>>> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current generation (changes whenever the set does).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Writes `set` to the takedown file atomically.
    fn persist(&self, set: &HashSet<Box<str>>) -> Result<(), Error> {
        let path = self.dir.join(FILE_NAME);
        let tmp = self.dir.join("takedowns.tmp");
        let mut dids: Vec<&str> = set.iter().map(|d| &**d).collect();
        dids.sort_unstable();
        let mut text = String::new();
        for did in dids {
            text.push_str(did);
            text.push('\n');
        }
        let mut file = File::create(&tmp).map_err(|e| Error::io("create takedowns", &tmp, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| Error::io("write takedowns", &tmp, e))?;
        file.sync_all()
            .map_err(|e| Error::io("fsync takedowns", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io("rename takedowns", &path, e))?;
        sync_dir(&self.dir)
    }
}

/// A reader's cached view of the takedown set.
#[derive(Debug)]
pub(crate) struct TakedownView {
    /// Generation of `set`.
    generation: u64,
    /// The snapshot.
    set: Arc<HashSet<Box<str>>>,
}

impl TakedownView {
    /// A view of the current set.
    pub fn new(takedowns: &Takedowns) -> Self {
        let generation = takedowns.generation();
        TakedownView {
            generation,
            set: takedowns.snapshot(),
        }
    }

    /// Whether `did` is taken down, refreshing the snapshot if the set changed.
    pub fn contains(&mut self, takedowns: &Takedowns, did: &[u8]) -> bool {
        let generation = takedowns.generation();
        if generation != self.generation {
            self.generation = generation;
            self.set = takedowns.snapshot();
        }
        if self.set.is_empty() {
            return false;
        }
        std::str::from_utf8(did).is_ok_and(|did| self.set.contains(did))
    }
}

/// Rejects DIDs that cannot be stored: empty, too long, or with whitespace or control
/// characters (which would break the one-per-line file).
pub(crate) fn check_did(did: &str) -> Result<(), Error> {
    let bad = did.is_empty()
        || did.len() > MAX_DID_BYTES
        || did.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        let shown: String = did.chars().take(100).collect();
        return Err(Error::InvalidDid { did: shown });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let takedowns = Takedowns::load(dir.path()).unwrap();
        let mut view = TakedownView::new(&takedowns);
        assert!(!view.contains(&takedowns, b"did:plc:a"));
        assert!(takedowns.update("did:plc:a", true).unwrap());
        assert!(!takedowns.update("did:plc:a", true).unwrap());
        assert!(takedowns.update("did:plc:b", true).unwrap());
        assert!(view.contains(&takedowns, b"did:plc:a"));
        assert!(takedowns.update("did:plc:b", false).unwrap());
        let reloaded = Takedowns::load(dir.path()).unwrap();
        let mut view = TakedownView::new(&reloaded);
        assert!(view.contains(&reloaded, b"did:plc:a"));
        assert!(!view.contains(&reloaded, b"did:plc:b"));
    }

    #[test]
    fn rejects_unstorable_dids() {
        let dir = tempfile::tempdir().unwrap();
        let takedowns = Takedowns::load(dir.path()).unwrap();
        for did in [
            "",
            "did:plc:a\nb",
            "did:plc: a",
            &"x".repeat(MAX_DID_BYTES + 1),
        ] {
            assert!(
                matches!(takedowns.update(did, true), Err(Error::InvalidDid { .. })),
                "{did:?}"
            );
        }
    }
}
