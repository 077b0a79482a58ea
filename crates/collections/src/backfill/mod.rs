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

mod pacer;
mod progress;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use atrelay_repo::crypto::PublicKey;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::error::{BackfillError, FetchError};
use crate::index::CollectionIndex;
use crate::snapshot::RepoSnapshot;
use pacer::Pacer;
use progress::now_ms;
pub use progress::{CrawlState, HostProgress};
pub use source::{ListReposPage, ListedRepo, RepoSource, SourceFuture};

/// Decides whether `hostname` may speak for `did` (`(did, hostname) -> bool`); the relay
/// passes its own account → host mapping so a host cannot seed accounts it does not hold.
pub type HostCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Confirms that a listed account may be indexed from the crawled host: given `(did,
/// hostname)`, resolves the account and answers its current signing key when its DID document
/// names `hostname` as its PDS, or a reason to skip it. The crawler then accepts the
/// repository only if its commit is signed by that key.
pub type AccountCheck = Arc<
    dyn Fn(String, String) -> Pin<Box<dyn Future<Output = Result<PublicKey, String>> + Send>>
        + Send
        + Sync,
>;

/// Default [`BackfillConfig::max_concurrent_hosts`].
pub const DEFAULT_MAX_CONCURRENT_HOSTS: usize = 4;

/// Crawler settings.
#[derive(Clone)]
pub struct BackfillConfig {
    /// Requests per second to one host (listRepos pages and getRepo calls together).
    pub requests_per_second: f64,
    /// `listRepos` page size (1..=1000).
    pub page_size: u16,
    /// Most hosts crawled at once in the process (default 4); more wait for a slot. One
    /// repository is downloaded per host at a time, so at most this many CARs (and
    /// `refresh_account` calls, which take a slot too) are in memory together.
    pub max_concurrent_hosts: usize,
    /// Attempts at one `listRepos` page before the crawl is marked failed.
    pub page_attempts: u32,
    /// Wait between attempts.
    pub retry_backoff: Duration,
    /// Optional ownership check of listed accounts.
    pub host_check: Option<HostCheck>,
    /// Optional identity check: with it, a repository is indexed only when the account's DID
    /// document names the crawled host and its commit is signed by the account's key.
    pub account_check: Option<AccountCheck>,
}

impl std::fmt::Debug for BackfillConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackfillConfig")
            .field("requests_per_second", &self.requests_per_second)
            .field("page_size", &self.page_size)
            .field("max_concurrent_hosts", &self.max_concurrent_hosts)
            .field("page_attempts", &self.page_attempts)
            .field("retry_backoff", &self.retry_backoff)
            .field("host_check", &self.host_check.is_some())
            .field("account_check", &self.account_check.is_some())
            .finish()
    }
}

impl Default for BackfillConfig {
    fn default() -> Self {
        Self {
            requests_per_second: 10.0,
            page_size: 500,
            max_concurrent_hosts: DEFAULT_MAX_CONCURRENT_HOSTS,
            page_attempts: 5,
            retry_backoff: Duration::from_secs(10),
            host_check: None,
            account_check: None,
        }
    }
}

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

/// How one listed account went.
enum RepoOutcome {
    Indexed,
    Inactive,
    Skipped,
    Failed(String),
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

/// The wait after the `attempt`-th failure (1-based): `base`, doubling each time, capped at
/// [`MAX_RETRY_BACKOFF`] (or `base` if larger), and never zero so a failing host is not hammered.
fn retry_delay(base: Duration, attempt: u32) -> Duration {
    let base = base.max(Duration::from_millis(10));
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(MAX_RETRY_BACKOFF.max(base))
}

/// Whether an XRPC error name means the account is inactive on its host.
fn is_inactive_error(name: &str) -> bool {
    matches!(name, "RepoDeactivated" | "RepoTakendown" | "RepoSuspended")
}

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

    async fn crawl(self: Arc<Self>, hostname: String) {
        let mut stop = self.stop.subscribe();
        // Wait for a slot; the host shows `running` meanwhile.
        let _slot = tokio::select! {
            slot = self.slots.acquire() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut pacer = Pacer::new(self.config.requests_per_second);
        let stopped = self.crawl_pages(&hostname, &mut pacer, &mut stop).await;
        if !stopped {
            self.ended(&hostname);
        }
    }

    /// Crawls until done, failed or stopped; true if stopped (the task is then awaited by
    /// [`Backfill::shutdown`], which already removed it from the running set).
    async fn crawl_pages(
        &self,
        hostname: &str,
        pacer: &mut Pacer,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        loop {
            let Some((base, cursor)) = self
                .lock()
                .progress
                .get(hostname)
                .map(|p| (p.base_url.clone(), p.cursor.clone()))
            else {
                return false;
            };
            let page = match self.fetch_page(&base, cursor.as_deref(), pacer, stop).await {
                Some(Ok(page)) => page,
                Some(Err(error)) => {
                    tracing::warn!(host = %hostname, %error, "collection crawl failed");
                    self.update(hostname, |p| {
                        p.state = CrawlState::Failed;
                        p.finished_at_ms = Some(now_ms());
                        p.last_error = Some(format!("listRepos: {error}"));
                    });
                    return false;
                }
                None => return true,
            };
            let (mut indexed, mut inactive, mut skipped, mut failed) = (0, 0, 0, 0);
            let mut last_error = None;
            for repo in &page.repos {
                let outcome = tokio::select! {
                    outcome = self.crawl_repo(hostname, &base, &repo.did, repo.active, pacer) => outcome,
                    _ = stop.wait_for(|s| *s) => return true,
                };
                match outcome {
                    RepoOutcome::Indexed => indexed += 1,
                    RepoOutcome::Inactive => inactive += 1,
                    RepoOutcome::Skipped => skipped += 1,
                    RepoOutcome::Failed(error) => {
                        failed += 1;
                        last_error = Some(error);
                    }
                }
            }
            let seen = page.repos.len() as u64;
            let done = page.cursor.is_none() || page.repos.is_empty();
            self.update(hostname, |p| {
                p.cursor = page.cursor.clone();
                p.repos_seen += seen;
                p.repos_indexed += indexed;
                p.repos_inactive += inactive;
                p.repos_skipped += skipped;
                p.repos_failed += failed;
                if last_error.is_some() {
                    p.last_error = last_error;
                }
                if done {
                    p.state = CrawlState::Done;
                    p.cursor = None;
                    p.finished_at_ms = Some(now_ms());
                }
            });
            if done {
                return false;
            }
        }
    }

    /// One `listRepos` page with retries; `None` when stopped.
    async fn fetch_page(
        &self,
        base: &str,
        cursor: Option<&str>,
        pacer: &mut Pacer,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Result<ListReposPage, FetchError>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::select! {
                result = async {
                    pacer.wait().await;
                    self.source.list_repos(base, self.config.page_size, cursor).await
                } => result,
                _ = stop.wait_for(|s| *s) => return None,
            };
            match result {
                Ok(page) => return Some(Ok(page)),
                // A refused target or a redirect will answer the same next time.
                Err(
                    error @ (FetchError::Refused(_)
                    | FetchError::Xrpc {
                        status: 300..=399, ..
                    }),
                ) => return Some(Err(error)),
                Err(error) if attempt >= self.config.page_attempts.max(1) => {
                    return Some(Err(error))
                }
                Err(error) => {
                    let wait = retry_delay(self.config.retry_backoff, attempt);
                    tracing::debug!(%base, %error, attempt, ?wait, "listRepos failed, retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return None,
                    }
                }
            }
        }
    }

    async fn crawl_repo(
        &self,
        hostname: &str,
        base: &str,
        did: &str,
        active: Option<bool>,
        pacer: &mut Pacer,
    ) -> RepoOutcome {
        if let Some(check) = &self.config.host_check {
            if !check(did, hostname) {
                return RepoOutcome::Skipped;
            }
        }
        if active == Some(false) {
            return match self.hide(did).await {
                Ok(()) => RepoOutcome::Inactive,
                Err(error) => RepoOutcome::Failed(format!("{did}: {error}")),
            };
        }
        let key = match &self.config.account_check {
            Some(check) => match check(did.to_owned(), hostname.to_owned()).await {
                Ok(key) => Some(key),
                Err(reason) => {
                    tracing::debug!(%did, host = %hostname, %reason, "crawl skips account");
                    return RepoOutcome::Skipped;
                }
            },
            None => None,
        };
        pacer.wait().await;
        let car = match self.source.get_repo(base, did).await {
            Ok(car) => car,
            Err(FetchError::Xrpc { error, .. }) if is_inactive_error(&error) => {
                return match self.hide(did).await {
                    Ok(()) => RepoOutcome::Inactive,
                    Err(error) => RepoOutcome::Failed(format!("{did}: {error}")),
                };
            }
            Err(error) => return RepoOutcome::Failed(format!("{did}: getRepo: {error}")),
        };
        match self.index_car(did, car, key).await {
            Ok(()) => RepoOutcome::Indexed,
            Err(error) => RepoOutcome::Failed(format!("{did}: {error}")),
        }
    }

    /// Counts a repository CAR, checking its signature when `key` is given, and applies it
    /// as the account's snapshot (off the runtime).
    async fn index_car(
        &self,
        did: &str,
        car: Vec<u8>,
        key: Option<PublicKey>,
    ) -> Result<(), String> {
        let index = self.index.clone();
        let did = did.to_owned();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let snapshot = match &key {
                Some(key) => RepoSnapshot::from_signed_car(&did, &car, key),
                None => RepoSnapshot::from_car(&did, &car),
            }
            .map_err(|e| e.to_string())?;
            index
                .apply_snapshot(&did, &snapshot)
                .map_err(|e| e.to_string())?;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    async fn hide(&self, did: &str) -> Result<(), String> {
        let index = self.index.clone();
        let did = did.to_owned();
        tokio::task::spawn_blocking(move || index.set_account_active(&did, false))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_retries_back_off_exponentially_up_to_a_cap() {
        let base = Duration::from_secs(10);
        let waits: Vec<u64> = (1..=7).map(|n| retry_delay(base, n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(retry_delay(Duration::ZERO, 1), Duration::from_millis(10));
        assert_eq!(retry_delay(base, u32::MAX), MAX_RETRY_BACKOFF);
    }
}
