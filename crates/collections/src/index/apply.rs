//! The write path: applying a verified commit, a repository snapshot from a crawl, a `#sync`
//! (counts no longer exact) and an account's status to the index, each as one atomic batch
//! under the writer lock, idempotent under replay.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use atrelay_repo::syntax::validate_tid;

use super::CollectionIndex;
use crate::error::IndexError;
use crate::keys::{check_collection, check_did, join};
use crate::op::{Op, OpAction};
use crate::snapshot::RepoSnapshot;

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

impl CollectionIndex {
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
}

fn check_rev(rev: &str) -> Result<(), IndexError> {
    validate_tid(rev).map_err(|source| IndexError::InvalidRev {
        rev: rev.to_owned(),
        source,
    })
}
