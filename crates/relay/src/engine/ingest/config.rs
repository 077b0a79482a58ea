//! How ingest behaves: [`IngestConfig`], its production defaults and how the command line
//! sets it.

use std::time::Duration;

use super::{AccountLimitGrowth, RatePolicy};

/// How ingest behaves. [`Default`] is the production policy.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Dev mode: hosts with a port, loopback addresses and plain `ws://`.
    pub allow_insecure_hosts: bool,
    /// Accept commits whose MST inversion fails or that lack `prevData` (legacy PDSes),
    /// still checking signatures and claims.
    pub lenient: bool,
    /// Account limit of a new host.
    pub default_account_limit: i64,
    /// Follow a host without a stored cursor from its live position instead of `cursor=0`
    /// (its oldest event).
    pub new_hosts_live_only: bool,
    /// Host name patterns trusted from their first crawl (`*.example.com`: any subdomain).
    pub trusted_domains: Vec<String>,
    /// Account limit of a new trusted host.
    pub trusted_account_limit: i64,
    /// New hosts a public `requestCrawl` may add per 24 hours, unless the store's setting says
    /// otherwise.
    pub new_hosts_per_day: i64,
    /// Whether the public `requestCrawl` is accepted, unless the store's setting says
    /// otherwise.
    pub request_crawl_enabled: bool,
    /// First reconnect delay.
    pub backoff_base: Duration,
    /// Longest reconnect delay while the host is still `active`.
    pub backoff_max: Duration,
    /// Failed connection attempts in a row after which the host goes `offline`.
    pub offline_after: u32,
    /// Reconnect delay of an `offline` host.
    pub offline_retry: Duration,
    /// Longest time an accepted event waits before its store write.
    pub flush_interval: Duration,
    /// Most accepted events per store write.
    pub max_batch: usize,
    /// How far in the future a `rev` may be.
    pub future_rev_tolerance: Duration,
    /// Most accounts kept in memory.
    pub account_cache_size: usize,
    /// A connection silent (not even a pong) this long is dropped and redialled.
    pub idle_timeout: Duration,
    /// Limit on the `describeServer` probe of `requestCrawl`.
    pub probe_timeout: Duration,
    /// Most events of one host verified at once (different DIDs in parallel, one DID in
    /// order); a full window stops reading the host's socket.
    pub verify_window: usize,
    /// Event rate limits per host ([`super::ratelimit`]).
    pub rate_policy: RatePolicy,
    /// Automatic growth of account limits ([`AccountLimitGrowth`]).
    pub account_limit_growth: AccountLimitGrowth,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            allow_insecure_hosts: false,
            lenient: false,
            default_account_limit: 100,
            new_hosts_live_only: false,
            trusted_domains: vec!["*.host.bsky.network".to_owned()],
            trusted_account_limit: 10_000_000,
            new_hosts_per_day: 50,
            request_crawl_enabled: true,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            offline_after: 15,
            offline_retry: Duration::from_secs(10 * 60),
            flush_interval: Duration::from_millis(50),
            max_batch: 500,
            future_rev_tolerance: Duration::from_secs(5 * 60),
            account_cache_size: 1_000_000,
            idle_timeout: Duration::from_secs(120),
            probe_timeout: Duration::from_secs(5),
            verify_window: 128,
            rate_policy: RatePolicy::default(),
            account_limit_growth: AccountLimitGrowth::default(),
        }
    }
}

impl IngestConfig {
    /// The policy the command line asks for.
    pub fn from_serve(config: &crate::config::ServeConfig) -> IngestConfig {
        IngestConfig {
            allow_insecure_hosts: config.allow_insecure_hosts,
            lenient: config.lenient_sync_validation,
            default_account_limit: config.default_account_limit,
            new_hosts_live_only: config.new_hosts_live_only,
            trusted_domains: config.trusted_domains.clone(),
            new_hosts_per_day: config.new_hosts_per_day_limit,
            request_crawl_enabled: !config.disable_request_crawl,
            rate_policy: RatePolicy {
                per_second: config.host_events_per_second,
                per_hour: config.host_events_per_hour,
                per_day: config.host_events_per_day,
                trusted_per_second: config.trusted_host_events_per_second,
                trusted_per_hour: config.trusted_host_events_per_hour,
                trusted_per_day: config.trusted_host_events_per_day,
            },
            account_limit_growth: AccountLimitGrowth {
                after: Duration::from_secs(config.account_limit_growth_days * 24 * 60 * 60),
                factor: config.account_limit_growth_factor,
                cap: config.account_limit_growth_cap,
            },
            ..IngestConfig::default()
        }
    }
}
