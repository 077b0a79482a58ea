//! Ingest: one task per upstream host reads its `subscribeRepos` firehose, verifies every
//! event and passes the accepted ones on through the event log, keeping account state.
//!
//! Per event, in order: frame size limit, decode, per-connection `seq` order, DID resolution,
//! "the host is the DID's current PDS" (resolved again once on a mismatch), then the type's
//! rules ([`verify`]). An accepted event is re-sequenced and appended to the event log; once
//! it is durable, the account state and the host's cursor are written to the store in one
//! batch, so the stored cursor never passes an event that is not durable. Every drop is
//! counted by reason ([`IngestCounters`]).
//!
//! A host's task reconnects with capped exponential backoff and jitter; after
//! [`IngestConfig::offline_after`] failures in a row the host is marked `offline` and retried
//! on a slow schedule, or at once on [`Ingest::subscribe`] (a new `requestCrawl`). An upstream
//! `FutureCursor` (the host was reset) restarts the subscription from live and is recorded.
//!
//! **Faults.** A store write that fails is retried with capped backoff until the database
//! answers (the host is not read meanwhile); an event that cannot be judged because the store
//! does not answer is read again after a backoff, never dropped; a host task that panics is
//! restarted ([`supervise`]). Each host's state shows in [`Ingest::host_links`]. Every event is
//! logged with its origin, so [`Ingest::resubscribe_all`] first makes the store agree with the
//! log ([`recovery`]): after a crash nothing is lost or emitted twice.

mod accounts;
mod backoff;
mod batch;
mod config;
mod connection;
mod counters;
pub mod events;
#[cfg(test)]
mod faults;
pub mod health;
pub mod host;
pub mod limits;
mod link;
mod pipeline;
pub mod ratelimit;
pub mod recovery;
mod supervise;
pub mod verify;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrelay_eventlog::EventLog;
use atrelay_identity::Resolver;
use atrelay_store::{Host, HostPage, HostStatus, Store, StoreError};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

pub use accounts::{AccountCache, AccountState};
pub use config::IngestConfig;
pub use counters::{DropReason, IngestCounters};
pub use health::{LinkSnapshot, LinkState};
pub use host::{HostContext, HostTraffic};
pub use limits::{AccountLimitGrowth, LimitChange};
pub use ratelimit::{HostLimiter, RatePolicy, WindowUsage};
pub use recovery::{RecoveryError, RecoveryReport};

/// The production resolver: did:plc from `plc_url`, did:web over HTTPS (HTTP and ports in
/// dev mode), behind a bounded coalescing cache.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn http_resolver(plc_url: &str, dev_mode: bool) -> Result<Arc<dyn Resolver>, reqwest::Error> {
    http_resolver_with_cache(
        plc_url,
        dev_mode,
        atrelay_identity::CacheConfig::default().max_entries,
    )
}

/// [`http_resolver`] keeping at most `cache_entries` identities in memory.
///
/// # Errors
/// When the HTTP client cannot be built.
pub fn http_resolver_with_cache(
    plc_url: &str,
    dev_mode: bool,
    cache_entries: usize,
) -> Result<Arc<dyn Resolver>, reqwest::Error> {
    let http = atrelay_identity::HttpResolver::new(atrelay_identity::ResolverConfig {
        plc_url: plc_url.to_owned(),
        dev_mode,
        ..atrelay_identity::ResolverConfig::default()
    })?;
    Ok(Arc::new(atrelay_identity::CachingResolver::new(
        http,
        atrelay_identity::CacheConfig {
            max_entries: cache_entries,
            ..atrelay_identity::CacheConfig::default()
        },
    )))
}

/// The `User-Agent` of upstream connections; says "atproto-relay" so PDSes can tell.
pub const USER_AGENT: &str = concat!("atrelay/", env!("CARGO_PKG_VERSION"), " (atproto-relay)");

/// One followed host's limits and how much of them it uses ([`Ingest::host_rates`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HostRateState {
    /// The host's id.
    pub host_id: i64,
    /// The host's name.
    pub hostname: String,
    /// Trusted hosts get the trusted event rates.
    pub trusted: bool,
    /// New accounts beyond this many are throttled.
    pub account_limit: i64,
    /// Accounts the host serves (as ingest counts them).
    pub account_count: i64,
    /// Per second, per hour and per day: the limit and the events counted.
    pub windows: [WindowUsage; 3],
    /// Times reading the host was paused because a window was full.
    pub pauses: u64,
    /// Whether reading is paused right now.
    pub paused: bool,
}

/// The ingest side of the relay. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    log: EventLog,
    resolver: Arc<dyn Resolver>,
    verifier: Arc<verify::Verifier>,
    accounts: Arc<AccountCache>,
    counters: Arc<IngestCounters>,
    config: Arc<IngestConfig>,
    tasks: Mutex<HashMap<i64, Running>>,
    shutdown: watch::Sender<bool>,
    new_hosts: Mutex<VecDeque<Instant>>,
    /// Appended events whose store write is pending ([`recovery::Unapplied`]).
    unapplied: recovery::Unapplied,
    /// Whether [`Ingest::recover`] has run (it runs once, before any host is followed).
    recovered: tokio::sync::Mutex<Option<RecoveryReport>>,
}

struct Running {
    retry: Arc<Notify>,
    /// The host as its task and its verifications see it (limits, account count).
    ctx: Arc<HostContext>,
    /// The host's event rate windows.
    limiter: Arc<Mutex<HostLimiter>>,
    /// Asks this host's task alone to stop (it writes what it accepted first).
    stop: watch::Sender<bool>,
    /// What the task is doing.
    health: Arc<health::HostLink>,
    handle: JoinHandle<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Ingest {
    /// Ingest over `store` and `log`, resolving DIDs with `resolver`. Nothing is subscribed
    /// until [`Ingest::resubscribe_all`] or [`Ingest::subscribe`].
    pub fn new(
        store: Store,
        log: EventLog,
        resolver: Arc<dyn Resolver>,
        config: IngestConfig,
    ) -> Ingest {
        let config = Arc::new(config);
        let accounts = Arc::new(AccountCache::new(config.account_cache_size));
        let verifier = Arc::new(verify::Verifier {
            resolver: resolver.clone(),
            accounts: accounts.clone(),
            store: store.clone(),
            config: config.clone(),
        });
        let (shutdown, _) = watch::channel(false);
        Ingest {
            inner: Arc::new(Inner {
                store,
                log,
                resolver,
                verifier,
                accounts,
                counters: Arc::new(IngestCounters::default()),
                config,
                tasks: Mutex::new(HashMap::new()),
                shutdown,
                new_hosts: Mutex::new(VecDeque::new()),
                unapplied: recovery::Unapplied::default(),
                recovered: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The policy.
    pub fn config(&self) -> &IngestConfig {
        &self.inner.config
    }

    /// The drop and acceptance counters.
    pub fn counters(&self) -> &IngestCounters {
        &self.inner.counters
    }

    /// The account states ingest keeps in memory.
    pub fn accounts(&self) -> &AccountCache {
        &self.inner.accounts
    }

    /// The DID resolver.
    pub fn resolver(&self) -> &Arc<dyn Resolver> {
        &self.inner.resolver
    }

    /// Starts following `host` unless it is already followed; a followed host waiting to
    /// reconnect (for example `offline`) is retried at once. Banned hosts are not followed.
    pub fn subscribe(&self, host: Host) {
        if host.status == HostStatus::Banned || *self.inner.shutdown.borrow() {
            return;
        }
        let mut tasks = lock(&self.inner.tasks);
        if let Some(running) = tasks.get(&host.id) {
            if !running.handle.is_finished() {
                running.retry.notify_one();
                return;
            }
        }
        let retry = Arc::new(Notify::new());
        let (stop, stop_rx) = watch::channel(false);
        // The task watches one channel: relay shutdown is forwarded into the host's own.
        let mut relay_shutdown = self.inner.shutdown.subscribe();
        let forward = stop.clone();
        tokio::spawn(async move {
            let _ = relay_shutdown.wait_for(|stopped| *stopped).await;
            let _ = forward.send(true);
        });
        let ctx = Arc::new(HostContext::new(&host));
        let limiter = Arc::new(Mutex::new(HostLimiter::new(
            &self.inner.config.rate_policy,
            host.trusted,
            &host.limits,
        )));
        let health = Arc::new(health::HostLink::default());
        let handle = tokio::spawn(supervise::supervise(supervise::HostTask {
            inner: self.inner.clone(),
            host: host.clone(),
            ctx: ctx.clone(),
            limiter: limiter.clone(),
            retry: retry.clone(),
            health: health.clone(),
            shutdown: stop_rx,
        }));
        tasks.insert(
            host.id,
            Running {
                retry,
                ctx,
                limiter,
                stop,
                health,
                handle,
            },
        );
    }

    /// Stops following a host (an operator's `killUpstream` or `block`): its task writes what
    /// it accepted and ends. Returns whether a running task was stopped.
    pub async fn unsubscribe(&self, host_id: i64) -> bool {
        let Some(running) = lock(&self.inner.tasks).remove(&host_id) else {
            return false;
        };
        let was_running = !running.handle.is_finished();
        let _ = running.stop.send(true);
        let _ = running.handle.await;
        was_running
    }

    /// The ids of the hosts a task follows right now.
    pub fn subscribed_hosts(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = lock(&self.inner.tasks)
            .iter()
            .filter(|(_, running)| !running.handle.is_finished())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Sets a host's account limit (for the admin `changeLimits`): stored, applied at once to
    /// the host's running task and its event rates (which scale with it), and when it rises
    /// the oldest accounts throttled by the limit are let in, as many as fit, each announced
    /// by a `#account` event. Lowering it throttles no existing account, only new ones.
    ///
    /// # Errors
    /// [`StoreError::HostNotFound`], or the store's error.
    pub async fn change_account_limit(
        &self,
        host_id: i64,
        new_limit: i64,
    ) -> Result<LimitChange, StoreError> {
        self.inner.change_account_limit(host_id, new_limit).await
    }

    /// The rate-limit state of every followed host, by host id: limits and current use of
    /// each window, account limit and count, and how often reading was paused.
    pub fn host_rates(&self) -> Vec<HostRateState> {
        let now = Instant::now();
        let mut states: Vec<HostRateState> = lock(&self.inner.tasks)
            .iter()
            .filter(|(_, running)| !running.handle.is_finished())
            .map(|(id, running)| {
                let limiter = lock(&running.limiter);
                HostRateState {
                    host_id: *id,
                    hostname: running.ctx.hostname.clone(),
                    trusted: running.ctx.trusted,
                    account_limit: running.ctx.account_limit.load(Ordering::Relaxed),
                    account_count: running.ctx.account_count.load(Ordering::Relaxed),
                    windows: limiter.usage(now),
                    pauses: limiter.pauses,
                    paused: limiter.paused_until.is_some_and(|until| until > now),
                }
            })
            .collect();
        states.sort_by_key(|s| s.host_id);
        states
    }

    /// What each followed host's task is doing, by host id (connected, backing off, retrying
    /// a store write, ...).
    pub fn host_links(&self) -> Vec<(i64, LinkSnapshot)> {
        let mut links: Vec<(i64, LinkSnapshot)> = lock(&self.inner.tasks)
            .iter()
            .map(|(id, running)| (*id, running.health.snapshot()))
            .collect();
        links.sort_by_key(|(id, _)| *id);
        links
    }

    /// What each followed host has sent: `(hostname, frames, commits, syncs)`, by host id.
    pub fn host_traffic(&self) -> Vec<(String, u64, u64, u64)> {
        let mut hosts: Vec<(i64, String, u64, u64, u64)> = lock(&self.inner.tasks)
            .iter()
            .map(|(id, running)| {
                let traffic = &running.ctx.traffic;
                (
                    *id,
                    running.ctx.hostname.clone(),
                    traffic.events.load(Ordering::Relaxed),
                    traffic.commits.load(Ordering::Relaxed),
                    traffic.syncs.load(Ordering::Relaxed),
                )
            })
            .collect();
        hosts.sort_by_key(|host| host.0);
        hosts
            .into_iter()
            .map(|(_, hostname, events, commits, syncs)| (hostname, events, commits, syncs))
            .collect()
    }

    /// Accepted events whose store write is still pending (retried while the database is
    /// unreachable).
    pub fn unwritten_events(&self) -> usize {
        self.inner.unapplied.len()
    }

    /// Makes the store agree with the event log after a crash ([`recovery`]): once per
    /// `Ingest`, before any host is followed; later calls return the first report.
    ///
    /// # Errors
    /// When the store or the log cannot be read or written; no host should be followed then.
    pub async fn recover(&self) -> Result<RecoveryReport, RecoveryError> {
        let mut done = self.inner.recovered.lock().await;
        if let Some(report) = &*done {
            return Ok(report.clone());
        }
        let report = recovery::recover(&self.inner.store, &self.inner.log, None).await?;
        if report.reapplied > 0 {
            tracing::info!(
                from = report.from,
                to = report.to,
                reapplied = report.reapplied,
                hosts = report.hosts,
                "store caught up with the event log after an unclean stop"
            );
        }
        *done = Some(report.clone());
        Ok(report)
    }

    /// Whether a task follows the host.
    pub fn is_subscribed(&self, host_id: i64) -> bool {
        lock(&self.inner.tasks)
            .get(&host_id)
            .is_some_and(|running| !running.handle.is_finished())
    }

    /// Recovers ([`Ingest::recover`]), then follows every stored host that is not banned or
    /// idle (offline ones too: they are retried). Returns how many.
    ///
    /// # Errors
    /// Recovery's error, or the store's when the hosts cannot be listed.
    pub async fn resubscribe_all(&self) -> Result<usize, RecoveryError> {
        self.recover().await?;
        let mut after_id = None;
        let mut count = 0;
        loop {
            let page = self
                .inner
                .store
                .list_hosts(&HostPage {
                    after_id,
                    limit: 500,
                    status: None,
                })
                .await?;
            let Some(last) = page.last() else {
                return Ok(count);
            };
            after_id = Some(last.id);
            for host in page {
                if !matches!(host.status, HostStatus::Banned | HostStatus::Idle) {
                    self.subscribe(host);
                    count += 1;
                }
            }
        }
    }

    /// Takes one slot of the new-hosts-per-day window; false when `limit` hosts were already
    /// added in the last 24 hours.
    pub fn take_new_host_slot(&self, limit: i64) -> bool {
        let mut window = lock(&self.inner.new_hosts);
        let day = Duration::from_secs(24 * 60 * 60);
        while window.front().is_some_and(|t| t.elapsed() > day) {
            window.pop_front();
        }
        if window.len() as i64 >= limit {
            return false;
        }
        window.push_back(Instant::now());
        true
    }

    /// Stops every host task after it wrote what it had accepted, and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        let handles: Vec<JoinHandle<()>> = lock(&self.inner.tasks)
            .drain()
            .map(|(_, running)| running.handle)
            .collect();
        for handle in handles {
            let _ = handle.await;
        }
    }
}
