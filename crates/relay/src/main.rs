//! `atrelay`: the relay binary. Parses the command line and hands off to the library crate.

use atrelay::{
    admin::AdminAuth,
    config::ServeConfig,
    consumers::{ConsumerLimits, Consumers},
    firehose::FirehoseConfig,
    ingest::{Ingest, IngestConfig},
    server,
    state::AppState,
};
use atrelay_eventlog::EventLog;
use atrelay_store::{ConnectOptions, Store};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A full-network AT Protocol relay.
#[derive(Debug, Parser)]
#[command(name = "atrelay", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay service.
    Serve(Box<ServeConfig>),
    /// Apply the database migrations and exit.
    Migrate {
        /// Database URL, as for `serve`.
        #[arg(long = "db-url", env = "DATABASE_URL", default_value = atrelay::config::DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Print the version and exit.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("atrelay {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve(config) => {
            init_logging();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(run_serve(*config))
        }
        Command::Migrate { database_url } => {
            init_logging();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let store = Store::open(&database_url, &ConnectOptions::default()).await?;
                store.close().await;
                println!("migrations applied to {}", redact(&database_url));
                anyhow::Ok(())
            })
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("RELAY_LOG_LEVEL")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    let store = Store::open(&config.database_url, &ConnectOptions::default()).await?;
    tracing::info!(database = %redact(&config.database_url), "database ready");
    let log = EventLog::open(event_log_config(&config))?;
    tracing::info!(newest_seq = log.newest_seq(), oldest_seq = ?log.oldest_seq(), "event log ready");
    let ingest = Ingest::new(
        store.clone(),
        log.clone(),
        atrelay::ingest::http_resolver(&config.plc_host, config.allow_insecure_hosts)?,
        IngestConfig::from_serve(&config),
    );
    let collections =
        atrelay_collections::CollectionIndex::open(config.persist_dir.join("collections"))?;
    let feed = atrelay::collection_feed::spawn(log.clone(), collections.clone())?;
    let backfill = atrelay_collections::Backfill::new(
        collections.clone(),
        atrelay_collections::BackfillConfig {
            account_check: Some(atrelay::collection_crawl::account_check(
                ingest.resolver().clone(),
            )),
            ..atrelay_collections::BackfillConfig::default()
        },
    )?;
    let resumed = backfill.resume();
    let recheck = backfill.spawn_recheck(COLLECTION_RECHECK_INTERVAL);
    tracing::info!(hosts = resumed, "collection backfill resumed");
    let state = AppState {
        backfill: Some(backfill.clone()),
        collections: collections.clone(),
        ingest: ingest.clone(),
        store: store.clone(),
        log: log.clone(),
        consumers: Consumers::new(ConsumerLimits {
            max_total: config.max_consumers,
            max_per_ip: config.max_consumers_per_ip,
        }),
        firehose: FirehoseConfig {
            max_lag: config.consumer_max_lag,
            too_slow_after: std::time::Duration::from_secs(config.consumer_too_slow_after_secs),
            ..FirehoseConfig::default()
        },
    };
    let metrics_listener = tokio::net::TcpListener::bind(config.metrics_bind).await?;
    tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
    let metrics_router = atrelay::metrics::router(state.clone());
    tokio::spawn(async move {
        if let Err(error) = axum::serve(metrics_listener, metrics_router).await {
            tracing::error!(%error, "metrics listener failed");
        }
    });
    let listener = tokio::net::TcpListener::bind(config.api_bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    let followed = ingest.resubscribe_all().await?;
    tracing::info!(hosts = followed, "following upstream hosts");
    let (auth, generated) = AdminAuth::configured_or_random(config.admin_passwords.clone());
    if let Some(password) = generated {
        tracing::warn!(
            "no admin password configured (RELAY_ADMIN_PASSWORD); for this run the admin \
             API accepts user admin with password {password}"
        );
    }
    let router = server::router_with_admin(state, auth);
    server::serve(listener, router, shutdown_signal()).await?;
    ingest.shutdown().await;
    recheck.abort();
    backfill.shutdown().await;
    log.close()?;
    // The feed ends once the log is closed; then make the index durable.
    let _ = tokio::task::spawn_blocking(move || feed.join()).await;
    collections.persist()?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// How often finished collection crawls are repeated to repair drift.
const COLLECTION_RECHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn event_log_config(config: &ServeConfig) -> atrelay_eventlog::Config {
    let mut log = atrelay_eventlog::Config::new(config.persist_dir.join("events"));
    // Consumers still learn of a takedown from its `#account` event.
    log.takedown_visible_kinds = vec![atrelay::ingest::verify::KIND_ACCOUNT];
    log.seq_floor = config.initial_seq;
    log.retention_age = std::time::Duration::from_secs(config.replay_window_hours * 3600);
    if config.replay_max_bytes > 0 {
        log.retention_bytes = config.replay_max_bytes;
    }
    log
}

/// The database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
