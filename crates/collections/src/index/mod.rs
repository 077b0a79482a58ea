//! [`CollectionIndex`]: which visible DIDs have at least one record in which collection, with
//! an exact record count per (DID, collection), stored in an embedded LSM (fjall).
//!
//! Writers (commits, snapshots, visibility changes) are serialised by one lock and each is
//! one atomic batch; readers (listings) never take it. Every write is idempotent under
//! replay: a commit whose rev is not newer than the account's last applied rev is ignored.
//!
//! This file holds the store itself (opening it, its partitions, the writer lock, reading one
//! account's meta and pairs); `apply` is the write path (commits, snapshots, status changes),
//! `batch` the atomic batch each write is built in, and `queries` the read side (listings,
//! collection counts, one account's state).

mod apply;
mod batch;
mod hot;
mod queries;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use fjall::{Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};

use crate::error::IndexError;
use crate::keys::{corrupt, decode_u64, join, prefix};
use crate::meta::DidMeta;
use hot::HotAccounts;

pub use apply::{CommitOutcome, SnapshotOutcome};
pub use queries::{AccountState, ReposPage, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT};

/// The collection index. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct CollectionIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CollectionIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionIndex").finish_non_exhaustive()
    }
}

/// Memory for writes not yet flushed to disk, over all partitions (fjall's default is 64 MiB).
/// Unflushed writes stay in memory while the relay is idle, so this bounds its idle footprint.
const WRITE_BUFFER_BYTES: u64 = 16 << 20;

/// A partition's memtable is flushed at this size (fjall's default is 16 MiB): a quiet relay
/// keeps up to this much per partition in memory. Applies to partitions created with it.
const MEMTABLE_BYTES: u32 = 2 << 20;

/// The block cache for reads (fjall's default is 32 MiB); lookups mostly hit recent writes,
/// still in the write buffer, and the partitions' bloom filters.
const BLOCK_CACHE_BYTES: u64 = 16 << 20;

struct Inner {
    keyspace: Keyspace,
    listing: PartitionHandle,
    pairs: PartitionHandle,
    dids: PartitionHandle,
    counts: PartitionHandle,
    crawl: PartitionHandle,
    /// Collection → visible DIDs; the lock also serialises writers.
    writer: Mutex<BTreeMap<String, u64>>,
    /// Ops that contradicted exact counts (delete of an absent record, ...).
    drift: AtomicU64,
    /// The accounts written most recently, so their next commit reads nothing from storage.
    hot: HotAccounts,
}

impl CollectionIndex {
    /// Opens (or creates) the index in `dir`.
    ///
    /// # Errors
    ///
    /// [`IndexError::Storage`], or [`IndexError::Corrupt`] for an unreadable count.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        let keyspace = fjall::Config::new(dir.as_ref())
            .max_write_buffer_size(WRITE_BUFFER_BYTES)
            .cache_size(BLOCK_CACHE_BYTES)
            .open()?;
        let open = |name: &str| {
            let options = PartitionCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
            keyspace.open_partition(name, options)
        };
        let listing = open("listing")?;
        let pairs = open("pairs")?;
        let dids = open("dids")?;
        let counts = open("counts")?;
        let crawl = open("crawl")?;
        let mut loaded = BTreeMap::new();
        for entry in counts.iter() {
            let (key, value) = entry?;
            let collection = std::str::from_utf8(&key)
                .map_err(|_| corrupt(&key, "not UTF-8"))?
                .to_owned();
            loaded.insert(collection, decode_u64(&key, &value)?);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                keyspace,
                listing,
                pairs,
                dids,
                counts,
                crawl,
                writer: Mutex::new(loaded),
                drift: AtomicU64::new(0),
                hot: HotAccounts::new(),
            }),
        })
    }

    /// How many ops contradicted exact counts since opening (a delete of a record the index
    /// did not count, an update of one it did not know). The periodic re-check repairs them.
    pub fn drift_count(&self) -> u64 {
        self.inner.drift.load(Ordering::Relaxed)
    }

    /// Flushes everything written so far to disk (fsync). Writes are otherwise durable
    /// against a process crash but may be lost on power loss; call on shutdown.
    ///
    /// # Errors
    ///
    /// [`IndexError::Storage`].
    pub fn persist(&self) -> Result<(), IndexError> {
        self.inner.keyspace.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    /// Stores a host's crawl progress.
    pub(crate) fn put_crawl(&self, hostname: &str, value: &[u8]) -> Result<(), IndexError> {
        self.inner.crawl.insert(hostname, value)?;
        Ok(())
    }

    /// Every stored crawl progress.
    pub(crate) fn crawl_entries(&self) -> Result<Vec<(String, Vec<u8>)>, IndexError> {
        let mut out = Vec::new();
        for entry in self.inner.crawl.iter() {
            let (key, value) = entry?;
            let host = String::from_utf8_lossy(&key).into_owned();
            out.push((host, value.to_vec()));
        }
        Ok(out)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, u64>> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An account's meta for a writer (writer lock held): from the hot cache, else from
    /// storage, and then cached.
    fn load_meta(&self, did: &str) -> Result<Option<DidMeta>, IndexError> {
        if let Some(meta) = self.inner.hot.meta(did) {
            return Ok(meta);
        }
        let meta = self.stored_meta(did)?;
        self.inner.hot.loaded_meta(did, meta.clone());
        Ok(meta)
    }

    /// An account's meta for a reader (no lock): from the hot cache, else from storage.
    fn read_meta(&self, did: &str) -> Result<Option<DidMeta>, IndexError> {
        match self.inner.hot.meta(did) {
            Some(meta) => Ok(meta),
            None => self.stored_meta(did),
        }
    }

    fn stored_meta(&self, did: &str) -> Result<Option<DidMeta>, IndexError> {
        match self.inner.dids.get(did)? {
            Some(bytes) => Ok(Some(DidMeta::decode(did, &bytes)?)),
            None => Ok(None),
        }
    }

    /// A (DID, collection) count for a writer (writer lock held), cached like [`Self::load_meta`].
    fn pair(&self, did: &str, collection: &str) -> Result<Option<u64>, IndexError> {
        if let Some(count) = self.inner.hot.pair(did, collection) {
            return Ok(count);
        }
        let key = join(did, collection);
        let count = match self.inner.pairs.get(&key)? {
            Some(value) => Some(decode_u64(&key, &value)?),
            None => None,
        };
        self.inner.hot.loaded_pair(did, collection, count);
        Ok(count)
    }

    fn pairs_of(&self, did: &str) -> Result<BTreeMap<String, u64>, IndexError> {
        let mut out = BTreeMap::new();
        for entry in self.inner.pairs.prefix(prefix(did)) {
            let (key, value) = entry?;
            let collection = crate::keys::second(&key)?.to_owned();
            out.insert(collection, decode_u64(&key, &value)?);
        }
        Ok(out)
    }
}
