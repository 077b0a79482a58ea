//! The resolver interface, and a fixed-table implementation for tests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::{Identity, ResolveError};

/// The future returned by [`Resolver::resolve`].
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<Identity>, ResolveError>> + Send + 'a>>;

/// Turns a DID into an [`Identity`]. Implementations are shared between tasks
/// (`Arc<dyn Resolver>`) and compose: [`crate::CachingResolver`] wraps another resolver.
pub trait Resolver: Send + Sync {
    /// Resolves `did` to its current identity.
    fn resolve<'a>(&'a self, did: &'a str) -> ResolveFuture<'a>;

    /// Forgets anything cached about `did`, so the next [`Resolver::resolve`] fetches it
    /// again (called on `#identity` events and when a host claims a DID whose document names
    /// another PDS). Resolvers without a cache do nothing.
    fn purge(&self, did: &str) {
        let _ = did;
    }

    /// The cache's counters and its entry count, for resolvers that cache; `None` otherwise.
    fn cache_metrics(&self) -> Option<(&crate::CacheMetrics, usize)> {
        None
    }
}

impl<R: Resolver + ?Sized> Resolver for Arc<R> {
    fn resolve<'a>(&'a self, did: &'a str) -> ResolveFuture<'a> {
        (**self).resolve(did)
    }

    fn purge(&self, did: &str) {
        (**self).purge(did)
    }

    fn cache_metrics(&self) -> Option<(&crate::CacheMetrics, usize)> {
        (**self).cache_metrics()
    }
}

/// A resolver that answers from a table, for tests of code that needs identities. DIDs not
/// in the table resolve to [`ResolveError::NotFound`].
#[derive(Debug, Default)]
pub struct StaticResolver {
    /// The table, behind a lock so tests can change identities while the code under test runs.
    entries: Mutex<HashMap<String, Result<Arc<Identity>, ResolveError>>>,
}

impl StaticResolver {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the identity of `identity.did`.
    pub fn insert(&self, identity: Identity) {
        let did = identity.did.clone();
        self.lock().insert(did, Ok(Arc::new(identity)));
    }

    /// Makes `did` resolve to `error`.
    pub fn insert_error(&self, did: &str, error: ResolveError) {
        self.lock().insert(did.to_owned(), Err(error));
    }

    /// Removes `did` from the table.
    pub fn remove(&self, did: &str) {
        self.lock().remove(did);
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Result<Arc<Identity>, ResolveError>>> {
        // A poisoned lock only means another test thread panicked; the table is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Resolver for StaticResolver {
    fn resolve<'a>(&'a self, did: &'a str) -> ResolveFuture<'a> {
        let answer = self.lock().get(did).cloned().unwrap_or_else(|| {
            Err(ResolveError::NotFound {
                did: did.to_owned(),
            })
        });
        Box::pin(std::future::ready(answer))
    }
}
