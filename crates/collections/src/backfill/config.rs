//! The crawler's settings ([`BackfillConfig`]) and the checks the relay plugs into it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use atrelay_repo::crypto::PublicKey;

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
