//! The `atrelay` command line: its subcommands and the flags every command shares. `main.rs`
//! parses it; the definitions live here so tests can read them (the generated configuration
//! reference, the compose file check).

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::ServeConfig;
use crate::pull_hosts::PullHostsConfig;
use crate::splitter::SplitterConfig;

/// A full-network AT Protocol relay.
#[derive(Debug, Parser)]
#[command(name = "atrelay", version, about, long_about = None)]
pub struct Cli {
    /// How the process logs.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the relay service.
    Serve(Box<ServeConfig>),
    /// Apply the database migrations and exit.
    Migrate {
        /// Database URL, as for `serve`.
        #[arg(long = "db-url", env = "DATABASE_URL", hide_env_values = true, default_value = crate::config::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Copy the host list of another relay (its `listHosts`) into a running atrelay, one
    /// admin `requestCrawl` per host, rate-limited and resumable (indigo's `pull-hosts`).
    PullHosts(PullHostsConfig),
    /// Run a firehose fan-out node (indigo's rainbow): follow one relay's `subscribeRepos`,
    /// keep its seq numbers, and serve it to many consumers.
    Splitter(Box<SplitterConfig>),
    /// Print the version and exit.
    Version,
}

/// Logging flags, accepted by every command.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter: a level (`error`, `warn`, `info`, `debug`, `trace`) or `tracing` directives
    /// (`info,atrelay::engine::ingest=debug`). Unset: `RUST_LOG`, else `info`.
    #[arg(long = "log-level", env = "RELAY_LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// `text` (colours only when stdout is a terminal and `NO_COLOR` is unset) or `json` (one
    /// object per line, for log shippers).
    #[arg(
        long = "log-format",
        env = "RELAY_LOG_FORMAT",
        global = true,
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The command-line definition, for introspection.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
