//! [`Backfill`]: crawls hosts to seed the index with exact counts.
//!
//! For each host: page `com.atproto.sync.listRepos`; for each active account fetch
//! `com.atproto.sync.getRepo` and walk its MST ([`RepoSnapshot`]) to count records per
//! collection at the repository's current rev; accounts the host reports inactive are
//! hidden. Requests to one host are paced (`requests_per_second`); at most
//! `max_concurrent_hosts` hosts crawl at once across the process (a semaphore: a started
//! crawl waits for a slot, so the periodic re-check never runs every host together).
//! The requests themselves are a [`RepoSource`]'s: the relay's goes out through its guarded
//! dialler (in production no loopback or private address, no plain http, no redirect, no
//! proxy; a repository CAR dropped as soon as it passes its size limit). A base URL the source
//! refuses is refused before a crawl starts ([`BackfillError::Refused`]).
//! Progress (cursor and tallies) is saved in the index after every page, so a restart
//! resumes at the page it was on. A periodic re-check crawls finished hosts again to repair
//! drift; snapshots never overwrite newer live commits (see
//! [`crate::CollectionIndex::apply_snapshot`]).
//!
//! Why `getRepo` rather than `describeRepo`: `describeRepo` lists collections but neither
//! counts records nor says at which rev, so a later delete could not tell whether it removed
//! the last record, and a live commit racing the crawl could not be ordered against it.

mod config;
mod crawl;
mod pacer;
mod progress;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::error::{BackfillError, FetchError};
use crate::index::CollectionIndex;
pub use config::{AccountCheck, BackfillConfig, HostCheck, DEFAULT_MAX_CONCURRENT_HOSTS};
use crawl::is_inactive_error;
use progress::now_ms;
pub use progress::{CrawlState, HostProgress};
pub use source::{ListReposPage, ListedRepo, RepoSource, SourceFuture};

/// The crawler. Cheap to clone; needs a tokio runtime.
#[derive(Clone, Debug)]
pub struct Backfill {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    index: CollectionIndex,
    source: Arc<dyn RepoSource>,
    config: BackfillConfig,
    /// Crawl slots shared by every host ([`BackfillConfig::max_concurrent_hosts`]).
    slots: Semaphore,
    state: Mutex<State>,
    /// Bumped on every progress change.
    changed: watch::Sender<u64>,
    /// Set to stop every crawl.
    stop: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    progress: BTreeMap<String, HostProgress>,
    running: HashMap<String, JoinHandle<()>>,
}

impl Backfill {
    /// A crawler writing into `index` what it reads from hosts through `source`, with the
    /// progress saved in the index loaded (nothing is started: call [`Backfill::resume`]).
    ///
    /// # Errors
    ///
    /// [`BackfillError::Index`], [`BackfillError::CorruptProgress`].
    pub fn new(
        index: CollectionIndex,
        source: Arc<dyn RepoSource>,
        config: BackfillConfig,
    ) -> Result<Self, BackfillError> {
        let mut progress = BTreeMap::new();
        for (hostname, bytes) in index.crawl_entries()? {
            let entry = HostProgress::decode(&hostname, &bytes)?;
            progress.insert(hostname, entry);
        }
        Ok(Self {
            shared: Arc::new(Shared {
                index,
                source,
                slots: Semaphore::new(config.max_concurrent_hosts.max(1)),
                config,
                state: Mutex::new(State {
                    progress,
                    running: HashMap::new(),
                }),
                changed: watch::channel(0).0,
                stop: watch::channel(false).0,
            }),
        })
    }

    /// Resumes every crawl that was running when the process stopped. Returns how many.
    pub fn resume(&self) -> usize {
        let mut state = self.shared.lock();
        let hosts: Vec<String> = state
            .progress
            .values()
            .filter(|p| p.state == CrawlState::Running)
            .map(|p| p.hostname.clone())
            .collect();
        let mut started = 0;
        for host in hosts {
            if self.spawn_locked(&mut state, &host) {
                started += 1;
            }
        }
        started
    }

    /// Starts crawling `hostname` at `base_url` (e.g. `https://pds.example.com`). A host whose
    /// last crawl finished is crawled from the beginning; one whose crawl was interrupted or
    /// failed resumes from its cursor. Returns false if it is already being crawled or the
    /// crawler is shut down.
    ///
    /// # Errors
    ///
    /// [`BackfillError::InvalidUrl`], [`BackfillError::Refused`] when the source refuses the
    /// URL ([`RepoSource::check_url`]: for the relay's, an IP literal that is not public, plain
    /// http or a port outside dev mode; names are checked when resolved),
    /// [`BackfillError::Index`] when progress cannot be saved.
    pub fn start_host(&self, hostname: &str, base_url: &str) -> Result<bool, BackfillError> {
        let invalid = || BackfillError::InvalidUrl {
            hostname: hostname.to_owned(),
            url: base_url.to_owned(),
        };
        let url = url::Url::parse(base_url).map_err(|_| invalid())?;
        if hostname.is_empty() || !matches!(url.scheme(), "http" | "https") || url.host().is_none()
        {
            return Err(invalid());
        }
        self.shared
            .source
            .check_url(base_url)
            .map_err(BackfillError::Refused)?;
        let base = base_url.trim_end_matches('/').to_owned();
        if *self.shared.stop.borrow() {
            return Ok(false);
        }
        let mut state = self.shared.lock();
        if state.running.contains_key(hostname) {
            return Ok(false);
        }
        let entry = match state.progress.get(hostname) {
            Some(old) if old.state != CrawlState::Done => {
                let mut resumed = old.clone();
                resumed.base_url = base;
                resumed.state = CrawlState::Running;
                resumed.finished_at_ms = None;
                resumed.updated_at_ms = now_ms();
                resumed
            }
            Some(old) => HostProgress::fresh(hostname, &base, old.runs + 1),
            None => HostProgress::fresh(hostname, &base, 1),
        };
        self.shared.index.put_crawl(hostname, &entry.encode())?;
        state.progress.insert(hostname.to_owned(), entry);
        Ok(self.spawn_locked(&mut state, hostname))
    }

    /// Fetches one account's repository from `base_url` now and re-seeds its counts (after a
    /// `#sync`, or for an account first seen on a host that is not crawled). Not paced: the
    /// caller limits how often it asks. Takes a crawl slot, so it may wait for one.
    ///
    /// # Errors
    ///
    /// [`FetchError`] when the fetch, the CAR or the index write fails; for an account its
    /// host reports inactive, the account is hidden and the error is returned.
    pub async fn refresh_account(&self, did: &str, base_url: &str) -> Result<(), FetchError> {
        let base = base_url.trim_end_matches('/');
        let key = match &self.shared.config.account_check {
            Some(check) => {
                let hostname = url::Url::parse(base)
                    .ok()
                    .and_then(|url| {
                        let host = url.host_str()?.to_owned();
                        Some(match url.port() {
                            Some(port) => format!("{host}:{port}"),
                            None => host,
                        })
                    })
                    .unwrap_or_default();
                Some(
                    check(did.to_owned(), hostname)
                        .await
                        .map_err(FetchError::Malformed)?,
                )
            }
            None => None,
        };
        let _slot = self
            .shared
            .slots
            .acquire()
            .await
            .map_err(|_| FetchError::Malformed("the crawler is shut down".to_owned()))?;
        let car = match self.shared.source.get_repo(base, did).await {
            Ok(car) => car,
            Err(error) => {
                if let FetchError::Xrpc { error: name, .. } = &error {
                    if is_inactive_error(name) {
                        self.shared.hide(did).await.map_err(FetchError::Malformed)?;
                    }
                }
                return Err(error);
            }
        };
        self.shared
            .index_car(did, car, key)
            .await
            .map_err(FetchError::Malformed)
    }

    /// Every host's crawl progress, by host name.
    pub fn progress(&self) -> Vec<HostProgress> {
        self.shared.lock().progress.values().cloned().collect()
    }

    /// Whether `hostname` is being crawled now.
    pub fn is_running(&self, hostname: &str) -> bool {
        self.shared.lock().running.contains_key(hostname)
    }

    /// Waits until `hostname` is not being crawled, then returns its progress.
    pub async fn wait_idle(&self, hostname: &str) -> Option<HostProgress> {
        let mut changed = self.shared.changed.subscribe();
        loop {
            {
                let state = self.shared.lock();
                if !state.running.contains_key(hostname) {
                    return state.progress.get(hostname).cloned();
                }
            }
            if changed.changed().await.is_err() {
                return None;
            }
        }
    }

    /// A receiver that sees every progress change (any host): subscribe, read
    /// [`Backfill::progress`], then await `changed()` to miss nothing.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// Starts a task that, every `every`, crawls again each host whose last crawl finished
    /// (or failed) at least `every` ago, repairing drift between the index and the hosts.
    pub fn spawn_recheck(&self, every: Duration) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut stop = this.shared.stop.subscribe();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                for (host, error) in this.recheck_due(every) {
                    tracing::warn!(%host, %error, "collection re-check could not start");
                }
            }
        })
    }

    /// One re-check pass: crawls again each host whose last crawl finished (or failed) at
    /// least `every` ago. Returns the hosts whose crawl could not be started, with why.
    pub fn recheck_due(&self, every: Duration) -> Vec<(String, BackfillError)> {
        let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        let due: Vec<(String, String)> = self
            .progress()
            .into_iter()
            .filter(|p| p.state != CrawlState::Running)
            .filter(|p| now_ms().saturating_sub(p.updated_at_ms) >= every_ms)
            .map(|p| (p.hostname, p.base_url))
            .collect();
        due.into_iter()
            .filter_map(|(host, base)| self.start_host(&host, &base).err().map(|e| (host, e)))
            .collect()
    }

    /// Stops every crawl and waits for the tasks to end. Progress stays saved, so
    /// [`Backfill::resume`] on a new crawler continues. No crawl starts afterwards.
    pub async fn shutdown(&self) {
        self.shared.stop.send_replace(true);
        let handles: Vec<JoinHandle<()>> = {
            let mut state = self.shared.lock();
            state.running.drain().map(|(_, h)| h).collect()
        };
        for handle in handles {
            if let Err(error) = handle.await {
                tracing::warn!(%error, "collection crawl task ended abnormally");
            }
        }
    }

    fn spawn_locked(&self, state: &mut State, hostname: &str) -> bool {
        if state.running.contains_key(hostname) || *self.shared.stop.borrow() {
            return false;
        }
        let shared = self.shared.clone();
        let host = hostname.to_owned();
        let handle = tokio::spawn(async move { shared.crawl(host).await });
        state.running.insert(hostname.to_owned(), handle);
        true
    }
}

/// Longest wait between two attempts at a `listRepos` page.
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(300);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Updates and saves a host's progress, then tells waiters.
    fn update(&self, hostname: &str, f: impl FnOnce(&mut HostProgress)) {
        let mut state = self.lock();
        if let Some(entry) = state.progress.get_mut(hostname) {
            f(entry);
            entry.updated_at_ms = now_ms();
            if let Err(error) = self.index.put_crawl(hostname, &entry.encode()) {
                tracing::warn!(host = %hostname, %error, "could not save crawl progress");
            }
        }
        drop(state);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Marks the crawl task of `hostname` ended.
    fn ended(&self, hostname: &str) {
        self.lock().running.remove(hostname);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}
