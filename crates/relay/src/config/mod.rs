//! The relay's configuration: every flag of `atrelay serve`, each also read from an environment
//! variable. Names follow indigo's relay where it has one, and indigo's other names and value
//! forms are accepted too ([`indigo`]), so an operator's environment carries over.

pub mod duration;
mod firehose;
pub mod indigo;
pub mod listen;

pub use firehose::FirehoseConfig;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

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
        hide_env_values = true,
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

    /// Largest number of pooled database connections; by default 10 for PostgreSQL and 4 for
    /// SQLite (one writer at a time, so more only queue).
    #[arg(long = "max-db-conn", env = "MAX_DB_CONNECTIONS")]
    pub max_db_connections: Option<u32>,

    /// Address the public API (XRPC, firehose, admin, dashboard) listens on; `:2470` (port
    /// only, as indigo writes it) means every IPv4 interface.
    #[arg(
        long = "bind",
        env = "RELAY_API_BIND",
        default_value = "0.0.0.0:2470",
        value_parser = listen::parse_listen_addr
    )]
    pub api_bind: SocketAddr,

    /// Address the Prometheus metrics endpoint (`/metrics`) listens on; `:2471` works too.
    #[arg(
        long = "metrics-listen",
        env = "RELAY_METRICS_LISTEN",
        default_value = "0.0.0.0:2471",
        value_parser = listen::parse_listen_addr
    )]
    pub metrics_bind: SocketAddr,

    /// Deployment name (`dev`, `production`, ...), shown in the start-up log line; indigo's
    /// `--env`.
    #[arg(long = "env", env = "ENVIRONMENT", default_value = "dev")]
    pub environment: String,

    /// Admin passwords for HTTP Basic auth on `/admin/*` (user `admin`); several allow rotation.
    #[arg(
        long = "admin-password",
        env = "RELAY_ADMIN_PASSWORD",
        hide_env_values = true,
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

    /// Identities (DID documents) kept in memory; the least recently used go first.
    #[arg(
        long = "ident-cache-size",
        env = "RELAY_IDENT_CACHE_SIZE",
        default_value_t = 1_000_000
    )]
    pub ident_cache_size: usize,

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

    /// How long the event log keeps events for cursor replay, as a Go-style duration (`72h`,
    /// `90m`, `1h30m`).
    #[arg(
        long = "replay-window",
        env = "RELAY_REPLAY_WINDOW",
        default_value = "72h",
        value_parser = duration::parse_go_duration
    )]
    pub replay_window: Duration,

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

    // --- Lifecycle: bounded shutdown and readiness (issue 13) ---
    /// Seconds a shutdown (SIGTERM/SIGINT) may take; past it the process exits with status 3,
    /// naming what did not stop.
    #[arg(
        long = "shutdown-timeout",
        env = "RELAY_SHUTDOWN_TIMEOUT",
        default_value_t = 30
    )]
    pub shutdown_timeout_secs: u64,

    /// `/_ready` fails when hosts are followed but no event was accepted for this many seconds
    /// (0: never).
    #[arg(
        long = "ready-max-event-silence",
        env = "RELAY_READY_MAX_EVENT_SILENCE",
        default_value_t = 600
    )]
    pub ready_max_event_silence_secs: u64,

    /// `/_ready` fails when a background task has failed this many times in a row.
    #[arg(
        long = "ready-task-error-threshold",
        env = "RELAY_READY_TASK_ERROR_THRESHOLD",
        default_value_t = 3
    )]
    pub ready_task_error_threshold: u64,

    // --- HTTP edge: connection and request limits, admin login throttling -----------------
    /// A request's headers must arrive within this many seconds of its first byte (and a new
    /// connection's first request within this time of the accept), else it is closed.
    #[arg(
        long = "http-header-timeout-secs",
        env = "RELAY_HTTP_HEADER_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub http_header_timeout_secs: u64,

    /// A connection with no request in flight and no bytes moving for this many seconds is
    /// closed (HTTP keep-alive idle timeout).
    #[arg(
        long = "http-idle-timeout-secs",
        env = "RELAY_HTTP_IDLE_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub http_idle_timeout_secs: u64,

    /// A request body must arrive in full within this many seconds (408 otherwise).
    #[arg(
        long = "http-body-timeout-secs",
        env = "RELAY_HTTP_BODY_TIMEOUT_SECS",
        default_value_t = 30
    )]
    pub http_body_timeout_secs: u64,

    /// Largest request body accepted, in bytes (413 otherwise).
    #[arg(
        long = "http-max-body-bytes",
        env = "RELAY_HTTP_MAX_BODY_BYTES",
        default_value_t = 1 << 20
    )]
    pub http_max_body_bytes: usize,

    /// Most HTTP connections open at once, websocket consumers included; lowered at start to
    /// fit under the file-descriptor limit less `--fd-reserve`.
    #[arg(
        long = "max-connections",
        env = "RELAY_MAX_CONNECTIONS",
        default_value_t = 20_000
    )]
    pub max_connections: usize,

    /// Connections accepted past `--max-connections` for admin and health requests only.
    #[arg(
        long = "reserved-admin-connections",
        env = "RELAY_RESERVED_ADMIN_CONNECTIONS",
        default_value_t = 64
    )]
    pub reserved_admin_connections: usize,

    /// File descriptors kept free of HTTP connections, for the database, the event log and
    /// upstream hosts.
    #[arg(long = "fd-reserve", env = "RELAY_FD_RESERVE", default_value_t = 4096)]
    pub fd_reserve: u64,

    /// Most public requests (XRPC, firehose upgrades) handled at once; past it, 503.
    #[arg(
        long = "max-concurrent-requests",
        env = "RELAY_MAX_CONCURRENT_REQUESTS",
        default_value_t = 2048
    )]
    pub max_concurrent_requests: usize,

    /// Most admin requests handled at once; past it, 503.
    #[arg(
        long = "max-concurrent-admin-requests",
        env = "RELAY_MAX_CONCURRENT_ADMIN_REQUESTS",
        default_value_t = 64
    )]
    pub max_concurrent_admin_requests: usize,

    /// Failed admin logins a client (IPv4 address or IPv6 /64) may make per minute before
    /// it is answered 429 for the rest of the minute.
    #[arg(
        long = "admin-max-failed-logins",
        env = "RELAY_ADMIN_MAX_FAILED_LOGINS",
        default_value_t = 10
    )]
    pub admin_max_failed_logins: u32,

    // --- Outbound connections and collection backfill (the guarded dialler) ---
    /// Largest repository CAR the collection backfill downloads, in bytes; a larger one is
    /// abandoned while it is being read and counted as failed.
    #[arg(
        long = "collection-backfill-max-repo-bytes",
        env = "RELAY_COLLECTION_BACKFILL_MAX_REPO_BYTES",
        default_value_t = crate::engine::repo_source::DEFAULT_MAX_CAR_BYTES
    )]
    pub collection_backfill_max_repo_bytes: usize,

    /// Most hosts the collection backfill crawls at once (the daily re-check included);
    /// more wait for a slot.
    #[arg(
        long = "collection-backfill-concurrency",
        env = "RELAY_COLLECTION_BACKFILL_CONCURRENCY",
        default_value_t = atrelay_collections::DEFAULT_MAX_CONCURRENT_HOSTS
    )]
    pub collection_backfill_concurrency: usize,

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

impl ServeConfig {
    /// The HTTP edge limits these flags describe, the connection cap fitted under `fd_limit`.
    pub fn edge_limits(&self, fd_limit: Option<u64>) -> crate::http::edge::EdgeLimits {
        use std::time::Duration;
        crate::http::edge::EdgeLimits {
            header_read_timeout: Duration::from_secs(self.http_header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.http_idle_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(self.http_body_timeout_secs.max(1)),
            max_body_bytes: self.http_max_body_bytes,
            max_connections: crate::http::edge::fdlimit::fit_connection_cap(
                self.max_connections,
                fd_limit,
                self.fd_reserve,
            ),
            reserved_connections: self.reserved_admin_connections,
            max_public_requests: self.max_concurrent_requests.max(1),
            max_admin_requests: self.max_concurrent_admin_requests.max(1),
            ..crate::http::edge::EdgeLimits::default()
        }
    }
}
