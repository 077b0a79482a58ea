//! The relay's configuration: every flag of `atrelay serve`, each also read from an environment
//! variable. Names follow indigo's relay where it has one, so an operator's environment carries over.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;

/// Where `make run` keeps its SQLite database when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/relay.sqlite";

/// Settings for `atrelay serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Database URL: `sqlite://...` (the default, created on first start) or `postgres://...`.
    #[arg(
        long = "db-url",
        env = "DATABASE_URL",
        default_value = "sqlite://data/relay.sqlite"
    )]
    pub database_url: String,

    /// Directory for the event log and other local state.
    #[arg(
        long = "persist-dir",
        env = "RELAY_PERSIST_DIR",
        default_value = "data/persist"
    )]
    pub persist_dir: PathBuf,

    /// Address the public API (XRPC, firehose, admin, dashboard) listens on.
    #[arg(long = "bind", env = "RELAY_API_BIND", default_value = "0.0.0.0:2470")]
    pub api_bind: SocketAddr,

    /// Address the Prometheus metrics endpoint (`/metrics`) listens on.
    #[arg(
        long = "metrics-listen",
        env = "RELAY_METRICS_LISTEN",
        default_value = "0.0.0.0:2471"
    )]
    pub metrics_bind: SocketAddr,

    /// Admin passwords for HTTP Basic auth on `/admin/*` (user `admin`); several allow rotation.
    #[arg(
        long = "admin-password",
        env = "RELAY_ADMIN_PASSWORD",
        value_delimiter = ','
    )]
    pub admin_passwords: Vec<String>,

    /// PLC directory used to resolve `did:plc` identities.
    #[arg(
        long = "plc-host",
        env = "RELAY_PLC_HOST",
        default_value = "https://plc.directory"
    )]
    pub plc_host: String,

    /// Dev mode: allow loopback and private hosts, ports, plain `ws://` and `http://`, and
    /// `did:web` with a port. Never in production.
    #[arg(long = "allow-insecure-hosts", env = "RELAY_ALLOW_INSECURE_HOSTS")]
    pub allow_insecure_hosts: bool,

    /// Accept commits from legacy PDSes whose diffs lack `prevData` or do not invert
    /// (signatures and claims are still checked). Strict by default.
    #[arg(
        long = "lenient-sync-validation",
        env = "RELAY_LENIENT_SYNC_VALIDATION"
    )]
    pub lenient_sync_validation: bool,

    /// New hosts a public `requestCrawl` may add per 24 hours (an admin setting overrides it).
    #[arg(
        long = "new-hosts-per-day-limit",
        env = "RELAY_NEW_HOSTS_PER_DAY_LIMIT",
        default_value_t = 50
    )]
    pub new_hosts_per_day_limit: i64,

    /// Refuse public `requestCrawl` (an admin setting overrides it).
    #[arg(long = "disable-request-crawl", env = "RELAY_DISABLE_REQUEST_CRAWL")]
    pub disable_request_crawl: bool,

    /// Account limit of a new host; accounts beyond it are throttled.
    #[arg(
        long = "default-account-limit",
        env = "RELAY_DEFAULT_ACCOUNT_LIMIT",
        default_value_t = 100
    )]
    pub default_account_limit: i64,

    /// Follow hosts seen for the first time from their live position instead of the oldest
    /// event they hold (`cursor=0`), as indigo does.
    #[arg(long = "new-hosts-live-only", env = "RELAY_NEW_HOSTS_LIVE_ONLY")]
    pub new_hosts_live_only: bool,

    /// Events per second a regular host may send, plus one per 1,000 of its account limit;
    /// more are delayed (its socket is not read), never dropped.
    #[arg(
        long = "host-events-per-second",
        env = "RELAY_HOST_EVENTS_PER_SECOND",
        default_value_t = 50
    )]
    pub host_events_per_second: u64,

    /// Events per hour a regular host may send, plus its account limit.
    #[arg(
        long = "host-events-per-hour",
        env = "RELAY_HOST_EVENTS_PER_HOUR",
        default_value_t = 2_500
    )]
    pub host_events_per_hour: u64,

    /// Events per day a regular host may send, plus ten times its account limit.
    #[arg(
        long = "host-events-per-day",
        env = "RELAY_HOST_EVENTS_PER_DAY",
        default_value_t = 20_000
    )]
    pub host_events_per_day: u64,

    /// Events per second a trusted host may send.
    #[arg(
        long = "trusted-host-events-per-second",
        env = "RELAY_TRUSTED_HOST_EVENTS_PER_SECOND",
        default_value_t = 5_000
    )]
    pub trusted_host_events_per_second: u64,

    /// Events per hour a trusted host may send.
    #[arg(
        long = "trusted-host-events-per-hour",
        env = "RELAY_TRUSTED_HOST_EVENTS_PER_HOUR",
        default_value_t = 50_000_000
    )]
    pub trusted_host_events_per_hour: u64,

    /// Events per day a trusted host may send.
    #[arg(
        long = "trusted-host-events-per-day",
        env = "RELAY_TRUSTED_HOST_EVENTS_PER_DAY",
        default_value_t = 500_000_000
    )]
    pub trusted_host_events_per_day: u64,

    /// Hosts trusted from their first crawl (higher event rates, account limit 10,000,000);
    /// `*.example.com` matches every subdomain. indigo's flag and default.
    #[arg(
        long = "trusted-domains",
        env = "RELAY_TRUSTED_DOMAINS",
        value_delimiter = ',',
        default_value = "*.host.bsky.network"
    )]
    pub trusted_domains: Vec<String>,

    /// Days a host must stay connected without faulty events, while its account count is at
    /// its limit, before the limit grows (0 turns growth off).
    #[arg(
        long = "account-limit-growth-days",
        env = "RELAY_ACCOUNT_LIMIT_GROWTH_DAYS",
        default_value_t = 7
    )]
    pub account_limit_growth_days: u64,

    /// Factor one growth step multiplies a host's account limit by.
    #[arg(
        long = "account-limit-growth-factor",
        env = "RELAY_ACCOUNT_LIMIT_GROWTH_FACTOR",
        default_value_t = 2
    )]
    pub account_limit_growth_factor: i64,

    /// Growth never takes an account limit beyond this (operators may set more).
    #[arg(
        long = "account-limit-growth-cap",
        env = "RELAY_ACCOUNT_LIMIT_GROWTH_CAP",
        default_value_t = 100_000
    )]
    pub account_limit_growth_cap: i64,

    /// Sequence number floor for a fresh relay replacing another, so consumer cursors stay
    /// monotonic across the switch.
    #[arg(
        long = "initial-seq-number",
        env = "RELAY_INITIAL_SEQ_NUMBER",
        default_value_t = 1
    )]
    pub initial_seq: i64,

    /// How long the event log keeps events for cursor replay, in hours.
    #[arg(
        long = "replay-window-hours",
        env = "RELAY_REPLAY_WINDOW_HOURS",
        default_value_t = 72
    )]
    pub replay_window_hours: u64,

    /// Largest total size of the event log in bytes (0: no limit); the oldest segments go first.
    #[arg(
        long = "replay-max-bytes",
        env = "RELAY_REPLAY_MAX_BYTES",
        default_value_t = 0
    )]
    pub replay_max_bytes: u64,

    /// A firehose consumer that has caught up with the live head and then stays more than this
    /// many events behind it for `--consumer-too-slow-after` seconds is dropped with
    /// `ConsumerTooSlow`. A consumer replaying from an old cursor is never dropped for its lag.
    #[arg(
        long = "consumer-max-lag",
        env = "RELAY_CONSUMER_MAX_LAG",
        default_value_t = 100_000
    )]
    pub consumer_max_lag: i64,

    /// Most firehose consumers connected at once.
    #[arg(
        long = "max-consumers",
        env = "RELAY_MAX_CONSUMERS",
        default_value_t = 10_000
    )]
    pub max_consumers: usize,

    /// Most firehose consumers connected at once from one IP address.
    #[arg(
        long = "max-consumers-per-ip",
        env = "RELAY_MAX_CONSUMERS_PER_IP",
        default_value_t = 100
    )]
    pub max_consumers_per_ip: usize,

    // --- Firehose: slow consumers (issue 20) ---
    /// Seconds a caught-up firehose consumer may stay more than `--consumer-max-lag` events
    /// behind the live head before it is dropped with `ConsumerTooSlow`.
    #[arg(
        long = "consumer-too-slow-after",
        env = "RELAY_CONSUMER_TOO_SLOW_AFTER",
        default_value_t = 30
    )]
    pub consumer_too_slow_after_secs: u64,
}
