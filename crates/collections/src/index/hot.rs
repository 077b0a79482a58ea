//! The accounts the index wrote to most recently, kept in memory: their meta and the pair
//! counts looked up so far, so a commit of an account seen a moment ago reads nothing from
//! storage (reading a key rewritten by every commit walks all its versions in the memtable).
//!
//! Only writers fill and change it, under the index's writer lock and only after their batch
//! is committed, so it never holds anything storage does not; readers without the lock may
//! consult it but never fill it (a read racing a write could otherwise store a stale value).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;

use crate::meta::DidMeta;

/// Accounts kept; a few megabytes at most.
const HOT_ACCOUNTS: usize = 16_384;

/// What is known of one account.
#[derive(Default)]
struct HotAccount {
    /// Its meta as stored (`None`: known to have none).
    meta: Option<DidMeta>,
    /// Collection → stored count (`None`: no pair), for the collections looked up or written.
    pairs: HashMap<String, Option<u64>>,
}

/// The cache itself.
pub(super) struct HotAccounts {
    entries: Mutex<LruCache<String, HotAccount>>,
}

impl HotAccounts {
    pub(super) fn new() -> Self {
        let capacity = NonZeroUsize::new(HOT_ACCOUNTS).unwrap_or(NonZeroUsize::MIN);
        HotAccounts {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<String, HotAccount>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The account's stored meta, if the cache knows it (`Some(None)`: it has none).
    pub(super) fn meta(&self, did: &str) -> Option<Option<DidMeta>> {
        self.lock().get(did).map(|account| account.meta.clone())
    }

    /// A (DID, collection) count, if the cache knows it (`Some(None)`: no pair).
    pub(super) fn pair(&self, did: &str, collection: &str) -> Option<Option<u64>> {
        self.lock()
            .get(did)
            .and_then(|account| account.pairs.get(collection).copied())
    }

    /// Records what a writer read from storage (writer lock held).
    pub(super) fn loaded_meta(&self, did: &str, meta: Option<DidMeta>) {
        let mut entries = self.lock();
        match entries.get_mut(did) {
            Some(account) => account.meta = meta,
            None => {
                entries.put(
                    did.to_owned(),
                    HotAccount {
                        meta,
                        pairs: HashMap::new(),
                    },
                );
            }
        }
    }

    /// Records a pair count a writer read from storage (writer lock held). Only for an account
    /// already cached: its meta is what makes an entry.
    pub(super) fn loaded_pair(&self, did: &str, collection: &str, count: Option<u64>) {
        if let Some(account) = self.lock().get_mut(did) {
            account.pairs.insert(collection.to_owned(), count);
        }
    }

    /// Records a committed write (writer lock held).
    pub(super) fn committed(&self, did: &str, meta: &DidMeta, pairs: &[(String, Option<u64>)]) {
        let mut entries = self.lock();
        let account = entries.get_or_insert_mut(did.to_owned(), HotAccount::default);
        account.meta = Some(meta.clone());
        for (collection, count) in pairs {
            account.pairs.insert(collection.clone(), *count);
        }
    }

    /// Forgets an account whose write failed: storage may or may not hold it.
    pub(super) fn forget(&self, did: &str) {
        self.lock().pop(did);
    }
}
