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
}
