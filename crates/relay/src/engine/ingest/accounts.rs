//! The in-memory view of the accounts ingest has seen: what the chain checks need, loaded
//! from the store on first use and kept ahead of it (updates reach the store in batches).

use std::collections::HashMap;
use std::sync::Mutex;

use atrelay_store::{Account, AccountStatus, RepoState, Store, StoreError};

/// What ingest knows about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// Whether the store has a row for it (or one is on its way there).
    pub known: bool,
    /// The host currently serving it.
    pub host_id: i64,
    /// The status its host reports.
    pub upstream_status: AccountStatus,
    /// The relay's own status (takedowns, throttles).
    pub local_status: AccountStatus,
    /// The latest accepted commit.
    pub repo: Option<RepoState>,
    /// The last accepted commit did not chain onto the one before it; cleared by a commit
    /// that chains or by a `#sync`. Stored with the account, so it survives a restart.
    pub desynchronized: bool,
    /// Updates handed to the store but not yet written; the entry is not evicted meanwhile.
    pub pending: u32,
}

impl AccountState {
    /// A state for a DID the relay has never seen.
    pub fn unknown(host_id: i64) -> AccountState {
        AccountState {
            known: false,
            host_id,
            upstream_status: AccountStatus::Active,
            local_status: AccountStatus::Active,
            repo: None,
            desynchronized: false,
            pending: 0,
        }
    }

    /// Both the host and the relay say `active`.
    pub fn is_active(&self) -> bool {
        self.combined_status().is_none()
    }

    /// The status the relay reports (the store's rule, [`AccountStatus::reported`]).
    pub fn combined_status(&self) -> Option<AccountStatus> {
        AccountStatus::reported(self.upstream_status, self.local_status)
    }
}

impl From<Account> for AccountState {
    fn from(account: Account) -> Self {
        AccountState {
            known: true,
            host_id: account.host_id,
            upstream_status: account.upstream_status,
            local_status: account.local_status,
            repo: account.repo,
            desynchronized: account.desynchronized,
            pending: 0,
        }
    }
}

/// A bounded map of [`AccountState`]s shared by every host task. When full, entries without
/// pending writes are evicted (they are reloaded from the store when needed again).
#[derive(Debug)]
pub struct AccountCache {
    entries: Mutex<HashMap<String, AccountState>>,
    capacity: usize,
}

impl AccountCache {
    /// An empty cache holding at most about `capacity` accounts.
    pub fn new(capacity: usize) -> AccountCache {
        AccountCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(16),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AccountState>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The account's state: from the cache, else from the store, else a new one on `host_id`.
    ///
    /// # Errors
    /// The store's error when the lookup fails.
    pub async fn get(
        &self,
        store: &Store,
        did: &str,
        host_id: i64,
    ) -> Result<AccountState, StoreError> {
        if let Some(state) = self.lock().get(did) {
            return Ok(state.clone());
        }
        let loaded = match store.account(did).await? {
            Some(account) => AccountState::from(account),
            None => AccountState::unknown(host_id),
        };
        let mut entries = self.lock();
        // Another task may have filled it meanwhile; its copy is newer.
        if let Some(state) = entries.get(did) {
            return Ok(state.clone());
        }
        entries.insert(did.to_owned(), loaded.clone());
        Ok(loaded)
    }

    /// Stores the state after an accepted event and counts one pending write.
    pub fn put_pending(&self, did: &str, mut state: AccountState) {
        let mut entries = self.lock();
        state.pending = entries.get(did).map_or(0, |s| s.pending) + 1;
        state.known = true;
        entries.insert(did.to_owned(), state);
        if entries.len() > self.capacity {
            let target = self.capacity - self.capacity / 10;
            let excess = entries.len().saturating_sub(target);
            let victims: Vec<String> = entries
                .iter()
                .filter(|(_, s)| s.pending == 0)
                .map(|(d, _)| d.clone())
                .take(excess)
                .collect();
            for victim in victims {
                entries.remove(&victim);
            }
        }
    }

    /// Marks one pending write of each DID as written.
    pub fn written<'a>(&self, dids: impl IntoIterator<Item = &'a str>) {
        let mut entries = self.lock();
        for did in dids {
            if let Some(state) = entries.get_mut(did) {
                state.pending = state.pending.saturating_sub(1);
            }
        }
    }

    /// Forgets a DID (an operator changed it in the store).
    pub fn forget(&self, did: &str) {
        self.lock().remove(did);
    }

    /// Sets the local status of a cached account (an operator or a limit change wrote it to
    /// the store); an account not in the cache is loaded from the store when next needed.
    pub fn set_local_status(&self, did: &str, status: AccountStatus) {
        if let Some(state) = self.lock().get_mut(did) {
            state.local_status = status;
        }
    }

    /// Whether the DID is marked desynchronized.
    pub fn is_desynchronized(&self, did: &str) -> bool {
        self.lock().get(did).is_some_and(|s| s.desynchronized)
    }

    /// Number of cached accounts.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
