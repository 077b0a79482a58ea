//! A bounded identity cache with per-DID request coalescing.
//!
//! Lookups first consult an LRU table of results with an expiry time (a long TTL for
//! identities, a short one for failures). On a miss, the first caller for a DID becomes the
//! leader and starts the inner resolution; callers for the same DID that arrive while it runs
//! wait for the same result instead of starting their own (they are counted as coalesced).
//! The result is written to the table before the in-flight entry is removed, so no caller can
//! slip between the two and start a second request.
//!
//! Tricky bits:
//! - If the leader's future is dropped (its caller gave up), a waiting caller takes over the
//!   resolution (`tokio::sync::OnceCell` semantics); an in-flight entry nobody waits on any more
//!   is removed by the last participant's drop guard, so cancelled lookups leave nothing behind.
//! - A purge that happens while a resolution is in flight may make its answer stale, so the
//!   answer is still returned to the waiters but not stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use tokio::sync::OnceCell;

use crate::{Identity, ResolveError, ResolveFuture, Resolver};

type Answer = Result<Arc<Identity>, ResolveError>;
type InFlight = Arc<OnceCell<Answer>>;

/// Settings of a [`CachingResolver`].
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most DIDs kept; the least recently used is evicted beyond it (default 1,000,000).
    pub max_entries: usize,
    /// How long a resolved identity is served from the cache (default 1 hour).
    pub ttl: Duration,
    /// How long a failure is served from the cache (default 2 minutes; zero disables).
    pub error_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 1_000_000,
            ttl: Duration::from_secs(60 * 60),
            error_ttl: Duration::from_secs(2 * 60),
        }
    }
}

/// Counters of a [`CachingResolver`], plain atomics for a metrics layer to read.
#[derive(Debug, Default)]
pub struct CacheMetrics {
    /// Lookups answered from the table (identities and cached failures).
    pub hits: AtomicU64,
    /// Lookups that started a resolution with the inner resolver.
    pub misses: AtomicU64,
    /// Lookups that waited for a resolution another caller had started.
    pub coalesced: AtomicU64,
    /// Inner resolutions that failed.
    pub errors: AtomicU64,
    /// Entries removed by [`Resolver::purge`].
    pub purges: AtomicU64,
    /// Entries evicted because the table was full.
    pub evictions: AtomicU64,
}

/// One cached answer and when it stops being served.
struct Entry {
    answer: Answer,
    expires: Instant,
}

/// State shared by all clones of a [`CachingResolver`].
struct Shared<R> {
    inner: R,
    config: CacheConfig,
    metrics: CacheMetrics,
    /// Cached answers by DID.
    table: Mutex<LruCache<String, Entry>>,
    /// Resolutions in progress by DID.
    in_flight: Mutex<HashMap<String, InFlight>>,
    /// Bumped by every purge, so a resolution that overlapped a purge is not stored.
    purge_epoch: AtomicU64,
}

/// Wraps a [`Resolver`] with a bounded TTL cache that coalesces concurrent lookups of the same
/// DID. Cheap to clone; clones share the cache.
pub struct CachingResolver<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Clone for CachingResolver<R> {
    fn clone(&self) -> Self {
        CachingResolver {
            shared: Arc::clone(&self.shared),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code panics while holding these locks; if one ever did, the data is still a valid
    // cache, so keep going rather than poison every later lookup.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<R: Resolver> CachingResolver<R> {
    /// Wraps `inner`. A `max_entries` of zero is treated as one.
    pub fn new(inner: R, config: CacheConfig) -> Self {
        CachingResolver {
            shared: Arc::new(Shared {
                inner,
                config,
                metrics: CacheMetrics::default(),
                // Unbounded here and capped in `store`: a bounded `LruCache` allocates its
                // whole table up front (36 MB for the default million entries, idle or not).
                table: Mutex::new(LruCache::unbounded()),
                in_flight: Mutex::new(HashMap::new()),
                purge_epoch: AtomicU64::new(0),
            }),
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &CacheMetrics {
        &self.shared.metrics
    }

    /// The wrapped resolver.
    pub fn inner(&self) -> &R {
        &self.shared.inner
    }

    /// How many DIDs are in the table (including expired entries not yet dropped).
    pub fn len(&self) -> usize {
        lock(&self.shared.table).len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached answer for `did`, if any and not expired, without resolving.
    pub fn cached(&self, did: &str) -> Option<Answer> {
        let mut table = lock(&self.shared.table);
        let fresh = table.get(did).map(|entry| entry.expires > Instant::now())?;
        if fresh {
            table.get(did).map(|entry| entry.answer.clone())
        } else {
            table.pop(did);
            None
        }
    }

    async fn lookup(&self, did: &str) -> Answer {
        let shared = &self.shared;
        if let Some(answer) = self.cached(did) {
            shared.metrics.hits.fetch_add(1, Ordering::Relaxed);
            return answer;
        }
        let cell = {
            let mut in_flight = lock(&shared.in_flight);
            match in_flight.get(did) {
                Some(cell) => {
                    shared.metrics.coalesced.fetch_add(1, Ordering::Relaxed);
                    Arc::clone(cell)
                }
                None => {
                    // Another caller may have finished and stored the answer between the table
                    // check above and taking this lock.
                    if let Some(answer) = self.cached(did) {
                        shared.metrics.hits.fetch_add(1, Ordering::Relaxed);
                        return answer;
                    }
                    shared.metrics.misses.fetch_add(1, Ordering::Relaxed);
                    let cell: InFlight = Arc::new(OnceCell::new());
                    in_flight.insert(did.to_owned(), Arc::clone(&cell));
                    cell
                }
            }
        };
        let guard = InFlightGuard {
            shared,
            did,
            cell: &cell,
        };
        let answer = cell
            .get_or_init(|| async {
                let epoch = shared.purge_epoch.load(Ordering::Acquire);
                let answer = tracing::Instrument::instrument(
                    shared.inner.resolve(did),
                    tracing::debug_span!("identity.resolve", did),
                )
                .await;
                if answer.is_err() {
                    shared.metrics.errors.fetch_add(1, Ordering::Relaxed);
                }
                self.store(did, &answer, epoch);
                answer
            })
            .await
            .clone();
        drop(guard);
        answer
    }

    /// Stores an answer unless a purge happened since `epoch` or its TTL is zero.
    fn store(&self, did: &str, answer: &Answer, epoch: u64) {
        let shared = &self.shared;
        let ttl = if answer.is_ok() {
            shared.config.ttl
        } else {
            shared.config.error_ttl
        };
        if ttl.is_zero() {
            return;
        }
        let mut table = lock(&shared.table);
        // Checked under the table lock, which purge also takes, so a purge cannot slip between
        // this check and the insert.
        if shared.purge_epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        let entry = Entry {
            answer: answer.clone(),
            expires: Instant::now() + ttl,
        };
        table.put(did.to_owned(), entry);
        let max_entries = shared.config.max_entries.max(1);
        while table.len() > max_entries {
            table.pop_lru();
            shared.metrics.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Removes a DID's in-flight entry when the last caller waiting on it finishes or gives up.
struct InFlightGuard<'a, R> {
    shared: &'a Shared<R>,
    did: &'a str,
    cell: &'a InFlight,
}

impl<R> Drop for InFlightGuard<'_, R> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.shared.in_flight);
        let Some(current) = in_flight.get(self.did) else {
            return;
        };
        if !Arc::ptr_eq(current, self.cell) {
            return;
        }
        // Clones of the cell are made only under this lock, so the count is exact here: one in
        // the map plus one per participant still holding it (including this one).
        if self.cell.initialized() || Arc::strong_count(self.cell) <= 2 {
            in_flight.remove(self.did);
        }
    }
}

impl<R: Resolver> Resolver for CachingResolver<R> {
    fn resolve<'a>(&'a self, did: &'a str) -> ResolveFuture<'a> {
        Box::pin(self.lookup(did))
    }

    fn cache_metrics(&self) -> Option<(&CacheMetrics, usize)> {
        Some((self.metrics(), self.len()))
    }

    fn purge(&self, did: &str) {
        let shared = &self.shared;
        {
            let mut table = lock(&shared.table);
            shared.purge_epoch.fetch_add(1, Ordering::AcqRel);
            if table.pop(did).is_some() {
                shared.metrics.purges.fetch_add(1, Ordering::Relaxed);
            }
        }
        // New lookups must not join a resolution that started before the purge.
        lock(&shared.in_flight).remove(did);
        shared.inner.purge(did);
    }
}

impl<R> std::fmt::Debug for CachingResolver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingResolver")
            .field("config", &self.shared.config)
            .field("metrics", &self.shared.metrics)
            .finish_non_exhaustive()
    }
}
