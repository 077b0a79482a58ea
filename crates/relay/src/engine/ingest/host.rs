//! What the ingest of one host shares between its task, its verifications in flight and the
//! admin side: the host's identity, its account limit and count, and its traffic counters.

use std::sync::atomic::AtomicI64;

/// The host an event arrived from, as the checks need it; shared (in an `Arc`) by the host's
/// task, its verifications in flight and the admin side, which may change the limit.
#[derive(Debug)]
pub struct HostContext {
    /// The host's id.
    pub id: i64,
    /// The host's name as stored (`pds.example.com`, `localhost:2583`).
    pub hostname: String,
    /// Trusted hosts get the higher event rates.
    pub trusted: bool,
    /// New accounts beyond this many are throttled.
    pub account_limit: AtomicI64,
    /// Accounts the host serves, counted up as new ones arrive.
    pub account_count: AtomicI64,
    /// What the host has sent, for metrics.
    pub traffic: HostTraffic,
    /// indigo's `events_handle_duration` for this host, looked up once.
    pub handle_duration: prometheus::Histogram,
}

/// Counts of what one host has sent since it was followed (all frames, before any check).
#[derive(Debug, Default)]
pub struct HostTraffic {
    /// Binary frames read.
    pub events: std::sync::atomic::AtomicU64,
    /// `#commit` frames among them.
    pub commits: std::sync::atomic::AtomicU64,
    /// `#sync` frames among them.
    pub syncs: std::sync::atomic::AtomicU64,
}

impl HostContext {
    /// The context of `host` as its task starts.
    pub fn new(host: &atrelay_store::Host) -> HostContext {
        HostContext {
            id: host.id,
            hostname: host.hostname.clone(),
            trusted: host.trusted,
            account_limit: AtomicI64::new(host.limits.account_limit),
            account_count: AtomicI64::new(host.account_count),
            traffic: HostTraffic::default(),
            handle_duration: crate::metrics::instruments()
                .events_handle_duration
                .with_label_values(&[host.hostname.as_str()]),
        }
    }
}
