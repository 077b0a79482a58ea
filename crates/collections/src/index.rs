//! [`CollectionIndex`]: which visible DIDs have at least one record in which collection, with
//! an exact record count per (DID, collection), stored in an embedded LSM (fjall).
//!
//! Writers (commits, snapshots, visibility changes) are serialised by one lock and each is
//! one atomic batch; readers (listings) never take it. Every write is idempotent under
//! replay: a commit whose rev is not newer than the account's last applied rev is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use atrelay_repo::syntax::validate_tid;
use fjall::{Batch, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};

use crate::error::IndexError;
use crate::keys::{check_collection, check_did, corrupt, decode_u64, join, prefix, prefix_end};
use crate::meta::DidMeta;
use crate::op::{Op, OpAction};
use crate::snapshot::RepoSnapshot;

/// Largest `limit` of [`CollectionIndex::list_repos`] (the lexicon's maximum).
pub const MAX_LIST_LIMIT: usize = 2000;

/// Default `limit` of `listReposByCollection`.
pub const DEFAULT_LIST_LIMIT: usize = 500;

/// What [`CollectionIndex::apply_commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The ops were applied. `exact` is false while the account waits for its first
    /// snapshot (its counts are then provisional and a crawl of its host will seed them).
    Applied {
        /// Whether the account's counts are exact.
        exact: bool,
    },
    /// The rev is not newer than the last one applied: nothing changed (a replay).
    Stale,
}

/// What [`CollectionIndex::apply_snapshot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// The account's pairs now equal the snapshot plus the newer ops already seen.
    /// `exact` is false when ops needed to bring an old snapshot up to date were dropped
    /// for space; the account then stays unseeded until a newer snapshot.
    Applied {
        /// Whether the account's counts are now exact.
        exact: bool,
    },
    /// Commits newer than the snapshot were already applied to exact counts: ignored.
    Stale,
}

/// One page of [`CollectionIndex::list_repos`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReposPage {
    /// DIDs in DID order.
    pub dids: Vec<String>,
    /// Where the next page starts (the last DID), `None` on the last page.
    pub cursor: Option<String>,
}

/// The index's view of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// The newest rev reflected in its counts.
    pub rev: Option<String>,
    /// Counts are exact (seeded by a snapshot or by the repository's first commit).
    pub exact: bool,
    /// Inactive accounts are not listed.
    pub active: bool,
    /// Collection → record count.
    pub collections: BTreeMap<String, u64>,
}

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
}

/// One write in preparation: a batch plus the collection count changes it implies.
struct Txn {
    batch: Batch,
    deltas: BTreeMap<String, i64>,
}

impl CollectionIndex {
    /// Opens (or creates) the index in `dir`.
    ///
    /// # Errors
    ///
    /// [`IndexError::Storage`], or [`IndexError::Corrupt`] for an unreadable count.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, IndexError> {
        let keyspace = fjall::Config::new(dir.as_ref()).open()?;
        let open = |name: &str| keyspace.open_partition(name, PartitionCreateOptions::default());
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
            }),
        })
    }

    /// Applies a verified commit of `did` at `rev`: `create` is +1 in the op's collection,
    /// `delete` is -1 (the DID leaves the collection when its count reaches zero), `update`
    /// changes nothing. `since` is the commit's `since`: `None` marks the repository's first
    /// commit, which seeds exact counts for an account the index did not know.
    ///
    /// A commit whose rev is not newer than the last applied one is ignored, so replays are
    /// harmless. For an account not yet seeded by a snapshot, creates are listed at once,
    /// deletes never unlist (older records may remain), and both are remembered until the
    /// snapshot arrives.
    ///
    /// # Errors
    ///
    /// Invalid DID, rev or op path (nothing is written), or [`IndexError::Storage`].
    pub fn apply_commit(
        &self,
        did: &str,
        rev: &str,
        since: Option<&str>,
        ops: &[Op],
    ) -> Result<CommitOutcome, IndexError> {
        check_did(did)?;
        check_rev(rev)?;
        let parsed: Vec<(OpAction, &str)> = ops
            .iter()
            .map(|op| Ok((op.kind, op.collection()?)))
            .collect::<Result<_, IndexError>>()?;

        let mut counts = self.lock();
        let mut meta = self.load_meta(did)?.unwrap_or_default();
        if meta.rev.as_deref().is_some_and(|last| rev <= last) {
            return Ok(CommitOutcome::Stale);
        }
        // (count before, count after) per touched collection; `None` = no pair.
        let mut touched: BTreeMap<String, (Option<u64>, Option<u64>)> = BTreeMap::new();
        if !meta.seeded && since.is_none() {
            // The repository was empty before this commit: whatever was provisional goes.
            for (collection, count) in self.pairs_of(did)? {
                touched.insert(collection, (Some(count), None));
            }
            meta.seeded = true;
            meta.pending.clear();
            meta.dropped_upto = None;
        }
        for (kind, collection) in parsed {
            let slot = match touched.get_mut(collection) {
                Some(slot) => slot,
                None => {
                    let before = self.pair(did, collection)?;
                    touched
                        .entry(collection.to_owned())
                        .or_insert((before, before))
                }
            };
            let current = slot.1;
            slot.1 = match (kind, meta.seeded) {
                (OpAction::Create, _) => Some(current.unwrap_or(0) + 1),
                (OpAction::Update, true) => match current {
                    Some(n) if n > 0 => Some(n),
                    _ => {
                        self.inner.drift.fetch_add(1, Ordering::Relaxed);
                        Some(1)
                    }
                },
                (OpAction::Update, false) => Some(current.unwrap_or(0).max(1)),
                (OpAction::Delete, true) => match current {
                    Some(n) if n > 1 => Some(n - 1),
                    Some(1) => None,
                    _ => {
                        self.inner.drift.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                },
                (OpAction::Delete, false) => current.map(|n| n.saturating_sub(1)),
            };
            if !meta.seeded {
                match kind {
                    OpAction::Create => meta.push_pending(rev, collection, 1),
                    OpAction::Delete => meta.push_pending(rev, collection, -1),
                    OpAction::Update => {}
                }
            }
        }
        let mut txn = self.txn();
        for (collection, (before, after)) in &touched {
            self.write_pair(&mut txn, did, collection, *before, *after, meta.hidden);
        }
        meta.rev = Some(rev.to_owned());
        let exact = meta.seeded;
        self.finish(txn, &mut counts, did, &meta)?;
        Ok(CommitOutcome::Applied { exact })
    }

    /// Replaces the account's pairs with a snapshot of its repository (from a crawl),
    /// brought up to date with the ops already seen that are newer than the snapshot.
    ///
    /// # Errors
    ///
    /// [`IndexError::InvalidDid`], [`IndexError::Storage`].
    pub fn apply_snapshot(
        &self,
        did: &str,
        snapshot: &RepoSnapshot,
    ) -> Result<SnapshotOutcome, IndexError> {
        check_did(did)?;
        check_rev(&snapshot.rev)?;
        for collection in snapshot.counts.keys() {
            check_collection(collection)?;
        }
        let mut counts = self.lock();
        let mut meta = self.load_meta(did)?.unwrap_or_default();
        let newer_seen = meta
            .rev
            .as_deref()
            .is_some_and(|last| last > snapshot.rev.as_str());
        if meta.seeded && newer_seen {
            return Ok(SnapshotOutcome::Stale);
        }
        let mut target: BTreeMap<String, i64> = snapshot
            .counts
            .iter()
            .map(|(c, n)| (c.clone(), i64::try_from(*n).unwrap_or(i64::MAX)))
            .collect();
        let mut exact = true;
        if !meta.seeded {
            for pending in meta.pending.iter().filter(|p| p.rev > snapshot.rev) {
                *target.entry(pending.collection.clone()).or_insert(0) += pending.delta;
            }
            if meta
                .dropped_upto
                .as_deref()
                .is_some_and(|dropped| dropped > snapshot.rev.as_str())
            {
                exact = false;
            }
        }
        let existing = self.pairs_of(did)?;
        let names: BTreeSet<&String> = existing.keys().chain(target.keys()).collect();
        let mut txn = self.txn();
        for collection in names {
            let before = existing.get(collection).copied();
            let after = target
                .get(collection)
                .copied()
                .filter(|n| *n > 0)
                .and_then(|n| u64::try_from(n).ok());
            if before != after {
                self.write_pair(&mut txn, did, collection, before, after, meta.hidden);
            }
        }
        if exact {
            meta.seeded = true;
            meta.pending.clear();
            meta.dropped_upto = None;
        } else {
            meta.pending.retain(|p| p.rev > snapshot.rev);
        }
        if !newer_seen {
            meta.rev = Some(snapshot.rev.clone());
        }
        self.finish(txn, &mut counts, did, &meta)?;
        Ok(SnapshotOutcome::Applied { exact })
    }

    /// Marks an account's counts as no longer exact, for a `#sync` event (the repository
    /// jumped to `rev` without ops): until a new snapshot (a crawl, or
    /// [`crate::Backfill::refresh_account`]) its deletes no longer unlist it. Commits not
    /// newer than `rev` are ignored from now on.
    ///
    /// # Errors
    ///
    /// Invalid DID or rev, [`IndexError::Storage`].
    pub fn mark_unseeded(&self, did: &str, rev: &str) -> Result<(), IndexError> {
        check_did(did)?;
        check_rev(rev)?;
        let mut counts = self.lock();
        let mut meta = self.load_meta(did)?.unwrap_or_default();
        meta.seeded = false;
        meta.pending.clear();
        meta.dropped_upto = None;
        if meta.rev.as_deref().is_none_or(|last| last < rev) {
            meta.rev = Some(rev.to_owned());
        }
        let txn = self.txn();
        self.finish(txn, &mut counts, did, &meta)
    }

    /// Marks an account active (listed) or inactive (deleted, taken down, suspended,
    /// deactivated: not listed). Its counts are kept, so reactivation restores its listings.
    ///
    /// # Errors
    ///
    /// [`IndexError::InvalidDid`], [`IndexError::Storage`].
    pub fn set_account_active(&self, did: &str, active: bool) -> Result<(), IndexError> {
        check_did(did)?;
        let mut counts = self.lock();
        let stored = self.load_meta(did)?;
        let hidden = !active;
        if stored.as_ref().is_some_and(|m| m.hidden == hidden) || (stored.is_none() && active) {
            return Ok(());
        }
        let mut meta = stored.unwrap_or_default();
        let mut txn = self.txn();
        for (collection, _) in self.pairs_of(did)? {
            let key = join(&collection, did);
            let delta = if hidden {
                txn.batch.remove(&self.inner.listing, key);
                -1
            } else {
                txn.batch.insert(&self.inner.listing, key, []);
                1
            };
            *txn.deltas.entry(collection).or_insert(0) += delta;
        }
        meta.hidden = hidden;
        self.finish(txn, &mut counts, did, &meta)
    }

    /// Lists the visible DIDs with at least one record in `collection`, in DID order,
    /// starting after `cursor` (the last DID of the previous page).
    ///
    /// # Errors
    ///
    /// [`IndexError::InvalidCollection`], [`IndexError::InvalidLimit`] outside
    /// 1..=[`MAX_LIST_LIMIT`], [`IndexError::Storage`].
    pub fn list_repos(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ReposPage, IndexError> {
        check_collection(collection)?;
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(IndexError::InvalidLimit {
                max: MAX_LIST_LIMIT,
                got: limit,
            });
        }
        let start = match cursor {
            Some(cursor) => Bound::Excluded(join(collection, cursor)),
            None => Bound::Included(prefix(collection)),
        };
        let end = Bound::Excluded(prefix_end(collection));
        let mut dids = Vec::with_capacity(limit.min(64));
        let mut more = false;
        for entry in self.inner.listing.range::<Vec<u8>, _>((start, end)) {
            let (key, _) = entry?;
            if dids.len() == limit {
                more = true;
                break;
            }
            dids.push(crate::keys::second(&key)?.to_owned());
        }
        let cursor = if more { dids.last().cloned() } else { None };
        Ok(ReposPage { dids, cursor })
    }

    /// Every collection with at least one visible DID, with its number of DIDs, by name.
    pub fn collections(&self) -> Vec<(String, u64)> {
        self.lock().iter().map(|(c, n)| (c.clone(), *n)).collect()
    }

    /// A page of [`CollectionIndex::collections`]: at most `limit` collections after
    /// `cursor`, and the cursor of the next page.
    pub fn collections_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<(String, u64)>, Option<String>) {
        let counts = self.lock();
        let start = match cursor {
            Some(c) => Bound::Excluded(c.to_owned()),
            None => Bound::Unbounded,
        };
        let mut page: Vec<(String, u64)> = counts
            .range((start, Bound::Unbounded))
            .take(limit.saturating_add(1))
            .map(|(c, n)| (c.clone(), *n))
            .collect();
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|(c, _)| c.clone())
        } else {
            None
        };
        (page, next)
    }

    /// What the index knows about one account, `None` if nothing.
    ///
    /// # Errors
    ///
    /// [`IndexError::InvalidDid`], [`IndexError::Storage`].
    pub fn account(&self, did: &str) -> Result<Option<AccountState>, IndexError> {
        check_did(did)?;
        let meta = self.load_meta(did)?;
        let collections = self.pairs_of(did)?;
        if meta.is_none() && collections.is_empty() {
            return Ok(None);
        }
        let meta = meta.unwrap_or_default();
        Ok(Some(AccountState {
            rev: meta.rev,
            exact: meta.seeded,
            active: !meta.hidden,
            collections,
        }))
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

    fn txn(&self) -> Txn {
        Txn {
            // Hand each batch to the OS on commit: durable against a process crash; an fsync
            // happens on `persist` and in fjall's background flushes.
            batch: self
                .inner
                .keyspace
                .batch()
                .durability(Some(PersistMode::Buffer)),
            deltas: BTreeMap::new(),
        }
    }

    /// Writes the meta, the collection counts the transaction changed, commits, then updates
    /// the in-memory counts.
    fn finish(
        &self,
        mut txn: Txn,
        counts: &mut BTreeMap<String, u64>,
        did: &str,
        meta: &DidMeta,
    ) -> Result<(), IndexError> {
        txn.batch.insert(&self.inner.dids, did, meta.encode());
        let mut updated = Vec::with_capacity(txn.deltas.len());
        for (collection, delta) in &txn.deltas {
            if *delta == 0 {
                continue;
            }
            let old = counts.get(collection).copied().unwrap_or(0);
            let new = old.saturating_add_signed(*delta);
            if new == 0 {
                txn.batch.remove(&self.inner.counts, collection.as_str());
            } else {
                txn.batch
                    .insert(&self.inner.counts, collection.as_str(), new.to_be_bytes());
            }
            updated.push((collection, new));
        }
        txn.batch.commit()?;
        for (collection, new) in updated {
            if new == 0 {
                counts.remove(collection);
            } else {
                counts.insert(collection.clone(), new);
            }
        }
        Ok(())
    }

    /// Queues the change of one pair and its listing entry.
    fn write_pair(
        &self,
        txn: &mut Txn,
        did: &str,
        collection: &str,
        before: Option<u64>,
        after: Option<u64>,
        hidden: bool,
    ) {
        let pair_key = join(did, collection);
        match after {
            Some(n) if before != after => {
                txn.batch
                    .insert(&self.inner.pairs, pair_key, n.to_be_bytes())
            }
            Some(_) => {}
            None if before.is_some() => txn.batch.remove(&self.inner.pairs, pair_key),
            None => {}
        }
        if hidden {
            return;
        }
        match (before.is_some(), after.is_some()) {
            (false, true) => {
                txn.batch
                    .insert(&self.inner.listing, join(collection, did), []);
                *txn.deltas.entry(collection.to_owned()).or_insert(0) += 1;
            }
            (true, false) => {
                txn.batch.remove(&self.inner.listing, join(collection, did));
                *txn.deltas.entry(collection.to_owned()).or_insert(0) -= 1;
            }
            _ => {}
        }
    }

    fn load_meta(&self, did: &str) -> Result<Option<DidMeta>, IndexError> {
        match self.inner.dids.get(did)? {
            Some(bytes) => Ok(Some(DidMeta::decode(did, &bytes)?)),
            None => Ok(None),
        }
    }

    fn pair(&self, did: &str, collection: &str) -> Result<Option<u64>, IndexError> {
        let key = join(did, collection);
        match self.inner.pairs.get(&key)? {
            Some(value) => Ok(Some(decode_u64(&key, &value)?)),
            None => Ok(None),
        }
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

fn check_rev(rev: &str) -> Result<(), IndexError> {
    validate_tid(rev).map_err(|source| IndexError::InvalidRev {
        rev: rev.to_owned(),
        source,
    })
}
