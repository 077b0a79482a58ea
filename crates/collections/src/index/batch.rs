//! One write in preparation ([`Txn`]): a fjall batch plus the collection count changes it
//! implies, the pair and listing changes queued into it, and the commit that writes the meta
//! and counts and then updates the in-memory counts.

use std::collections::BTreeMap;

use fjall::{Batch, PersistMode};

use super::CollectionIndex;
use crate::error::IndexError;
use crate::keys::join;
use crate::meta::DidMeta;

/// One write in preparation: a batch plus the collection count changes it implies.
pub(super) struct Txn {
    pub(super) batch: Batch,
    pub(super) deltas: BTreeMap<String, i64>,
    /// The pair counts this write leaves (collection → count, `None`: no pair), for the hot
    /// cache once committed.
    pairs: Vec<(String, Option<u64>)>,
}

impl CollectionIndex {
    pub(super) fn txn(&self) -> Txn {
        Txn {
            // Hand each batch to the OS on commit: durable against a process crash; an fsync
            // happens on `persist` and in fjall's background flushes.
            batch: self
                .inner
                .keyspace
                .batch()
                .durability(Some(PersistMode::Buffer)),
            deltas: BTreeMap::new(),
            pairs: Vec::new(),
        }
    }

    /// Writes the meta, the collection counts the transaction changed, commits, then updates
    /// the in-memory counts.
    pub(super) fn finish(
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
        if let Err(error) = txn.batch.commit() {
            self.inner.hot.forget(did);
            return Err(error.into());
        }
        self.inner.hot.committed(did, meta, &txn.pairs);
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
    pub(super) fn write_pair(
        &self,
        txn: &mut Txn,
        did: &str,
        collection: &str,
        before: Option<u64>,
        after: Option<u64>,
        hidden: bool,
    ) {
        txn.pairs.push((collection.to_owned(), after));
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
}
