//! `atrelay`: the relay binary. Parses the command line and hands off to the library crate.

use atrelay::{
    admin::AdminAuth,
    cli::{Cli, Command},
    config::ServeConfig,
    consumers::{ConsumerLimits, Consumers},
    firehose::FirehoseConfig,
    health::{Readiness, ReadinessConfig},
    ingest::{Ingest, IngestConfig},
    redact::{redact_url as redact, scrub},
    server,
    state::AppState,
    tasks::Backoff,
};
use atrelay_eventlog::EventLog;
use atrelay_store::{ConnectOptions, Store};
use clap::Parser;

mod shutdown;

fn main() -> anyhow::Result<()> {
    // indigo's other environment names become ours before clap reads the environment.
    let aliases = atrelay::config::indigo::apply_env_aliases(&atrelay::cli::command());
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        println!("atrelay {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    // Kept to the end of main: dropping it flushes the trace export.
    let _telemetry = atrelay::logging::init(&cli.log)?;
    for applied in &aliases {
        tracing::info!(
            alias = applied.alias,
            canonical = %applied.canonical,
            "indigo's environment name accepted"
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Version => Ok(()),
        Command::Serve(config) => runtime.block_on(run_serve(*config)),
        Command::Migrate { database_url } => runtime.block_on(async {
            let store = open_store(&database_url, None).await?;
            store.close().await;
            println!("migrations applied to {}", redact(&database_url));
            anyhow::Ok(())
        }),
        Command::PullHosts(config) => runtime.block_on(async {
            atrelay::pull_hosts::run(&config).await?;
            anyhow::Ok(())
        }),
    }
}

async fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    let fd_limit = atrelay::edge::fdlimit::raise_to_hard_limit();
    let edge_limits = config.edge_limits(fd_limit);
    tracing::info!(
        fd_limit = ?fd_limit,
        max_connections = edge_limits.max_connections,
        reserved_admin_connections = edge_limits.reserved_connections,
        "HTTP connection limits"
    );
    tracing::info!(
        environment = %config.environment,
        api = %config.api_bind,
        metrics = %config.metrics_bind,
        plc_host = %config.plc_host,
        replay_window_secs = config.replay_window.as_secs(),
        max_db_connections = ?config.max_db_connections,
        default_account_limit = config.default_account_limit,
        "configuration"
    );
    let store = open_store(&config.database_url, config.max_db_connections).await?;
    tracing::info!(database = %redact(&config.database_url), "database ready");
    let log = EventLog::open(event_log_config(&config))?;
    tracing::info!(newest_seq = log.newest_seq(), oldest_seq = ?log.oldest_seq(), "event log ready");
    let ingest = Ingest::new(
        store.clone(),
        log.clone(),
        atrelay::ingest::http_resolver_with_cache(
            &config.plc_host,
            config.allow_insecure_hosts,
            config.ident_cache_size,
        )?,
        IngestConfig::from_serve(&config),
    );
    let collections =
        atrelay_collections::CollectionIndex::open(config.persist_dir.join("collections"))?;
    let readiness = readiness(&config);
    let (stop_tasks, stop) = tokio::sync::watch::channel(false);
    let feed = atrelay::collection_feed::spawn_supervised(
        log.clone(),
        collections.clone(),
        readiness
            .tasks
            .register(atrelay::collection_feed::TASK_NAME),
        stop.clone(),
    )?;
    let backfill = atrelay_collections::Backfill::new(
        collections.clone(),
        atrelay_collections::BackfillConfig {
            account_check: Some(atrelay::collection_crawl::account_check(
                ingest.resolver().clone(),
            )),
            max_car_bytes: config.collection_backfill_max_repo_bytes,
            max_concurrent_hosts: config.collection_backfill_concurrency.max(1),
            outbound: atrelay_net::Outbound::new(config.allow_insecure_hosts),
            ..atrelay_collections::BackfillConfig::default()
        },
    )?;
    let resumed = backfill.resume();
    let recheck = spawn_recheck(&backfill, &readiness, stop.clone());
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
        readiness: readiness.clone(),
    };
    let metrics_listener = tokio::net::TcpListener::bind(config.metrics_bind).await?;
    tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
    let metrics_router = atrelay::metrics::router(state.clone());
    let metrics_task = readiness.tasks.register("metrics-listener");
    tokio::spawn(async move {
        let result = axum::serve(metrics_listener, metrics_router).await;
        metrics_task.ended(
            result
                .err()
                .map(|error| format!("metrics listener: {error}")),
        );
    });
    let listener = tokio::net::TcpListener::bind(config.api_bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    let followed = ingest.resubscribe_all().await?;
    tracing::info!(hosts = followed, "following upstream hosts");
    let (auth, generated) = AdminAuth::configured_or_random(config.admin_passwords.clone());
    let auth = auth.with_max_failed_logins(config.admin_max_failed_logins);
    if let Some(password) = generated {
        tracing::warn!(
            "no admin password configured (RELAY_ADMIN_PASSWORD); for this run the admin \
             API accepts user admin with password {password}"
        );
    }
    let router = server::router_with_admin(state, auth);
    let mut server = tokio::spawn(server::serve_with_limits(listener, router, edge_limits, {
        let mut stop = stop.clone();
        async move { atrelay::tasks::stopped(&mut stop).await }
    }));
    let mut log_failure = None;
    let early_end = tokio::select! {
        () = shutdown_signal() => None,
        result = &mut server => Some(result),
        reason = event_log_failure(&log) => {
            tracing::error!(%reason, "the event log failed: no event can be accepted; stopping");
            log_failure = Some(reason);
            None
        }
    };
    tracing::info!(timeout_secs = config.shutdown_timeout_secs, "shutting down");
    stop_tasks.send_replace(true);
    let parts = Parts {
        server: match early_end {
            Some(result) => {
                tokio::spawn(
                    async move { result.unwrap_or_else(|e| Err(std::io::Error::other(e))) },
                )
            }
            None => server,
        },
        ingest,
        recheck,
        backfill,
        log,
        feed,
        collections,
        store,
    };
    let progress = shutdown::Progress::default();
    let timeout = std::time::Duration::from_secs(config.shutdown_timeout_secs);
    tokio::select! {
        result = tokio::time::timeout(timeout, stop_parts(parts, progress.clone())) => match result {
            Ok(_) if log_failure.is_some() => anyhow::bail!(
                "the event log failed ({}); no cursor was moved past an event that is not durable. \
                 Free the disk or fix the I/O error and start again: the log's torn tail is cut on \
                 open and ingest resumes from where the log and the store agree",
                log_failure.unwrap_or_default()
            ),
            Ok(failures) if failures.is_empty() => {
                tracing::info!("stopped");
                Ok(())
            }
            Ok(failures) => anyhow::bail!("stopped with errors: {}", failures.join("; ")),
            Err(_) => shutdown::give_up(&format!("did not finish within {}s", timeout.as_secs()), &progress),
        },
        () = shutdown_signal() => shutdown::give_up("interrupted by a second signal", &progress),
    }
}

/// The parts stopped at shutdown, in order.
struct Parts {
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    ingest: Ingest,
    recheck: tokio::task::JoinHandle<()>,
    backfill: atrelay_collections::Backfill,
    log: EventLog,
    feed: std::thread::JoinHandle<()>,
    collections: atrelay_collections::CollectionIndex,
    store: Store,
}

/// Stops every part in order (each step under its name in `progress`); returns what failed.
async fn stop_parts(parts: Parts, progress: shutdown::Progress) -> Vec<String> {
    use shutdown::Step;
    let mut failures = Vec::new();
    progress.begin(Step::Server);
    match parts.server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => failures.push(format!("HTTP server: {error}")),
        Err(error) => failures.push(format!("HTTP server task: {error}")),
    }
    progress.begin(Step::Ingest);
    parts.ingest.shutdown().await;
    progress.begin(Step::Backfill);
    let _ = parts.recheck.await;
    parts.backfill.shutdown().await;
    progress.begin(Step::EventLog);
    let log = parts.log;
    if !log.health().dir_present {
        failures.push(
            "event log: its directory was removed while running; events since are lost".to_owned(),
        );
    }
    match tokio::task::spawn_blocking(move || log.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => failures.push(format!("event log: {error}")),
        Err(error) => failures.push(format!("event log: {error}")),
    }
    progress.begin(Step::CollectionFeed);
    let feed = parts.feed;
    if !matches!(
        tokio::task::spawn_blocking(move || feed.join()).await,
        Ok(Ok(()))
    ) {
        failures.push("collection feed: its thread panicked".to_owned());
    }
    progress.begin(Step::CollectionIndex);
    let collections = parts.collections;
    match tokio::task::spawn_blocking(move || collections.persist()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => failures.push(format!("collection index: {error}")),
        Err(error) => failures.push(format!("collection index: {error}")),
    }
    progress.begin(Step::Database);
    parts.store.close().await;
    progress.begin(Step::Done);
    failures
}

/// How often finished collection crawls are repeated to repair drift.
const COLLECTION_RECHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The readiness thresholds from the flags, with an empty task registry.
fn readiness(config: &ServeConfig) -> Readiness {
    Readiness::new(ReadinessConfig {
        max_event_silence: (config.ready_max_event_silence_secs > 0)
            .then(|| std::time::Duration::from_secs(config.ready_max_event_silence_secs)),
        task_error_threshold: config.ready_task_error_threshold,
    })
}

/// The periodic collection re-check, supervised: a pass that cannot start a crawl is retried
/// after a backoff (1 min, doubling) instead of a full interval.
fn spawn_recheck(
    backfill: &atrelay_collections::Backfill,
    readiness: &Readiness,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let backfill = backfill.clone();
    tokio::spawn(atrelay::tasks::run_periodic(
        readiness.tasks.register("collection-recheck"),
        COLLECTION_RECHECK_INTERVAL,
        Backoff::new(
            std::time::Duration::from_secs(60),
            COLLECTION_RECHECK_INTERVAL,
        ),
        stop,
        move || {
            let failed = backfill.recheck_due(COLLECTION_RECHECK_INTERVAL);
            async move {
                if failed.is_empty() {
                    return Ok(());
                }
                Err(failed
                    .iter()
                    .map(|(host, error)| format!("{host}: {error}"))
                    .collect::<Vec<_>>()
                    .join("; "))
            }
        },
    ))
}

fn event_log_config(config: &ServeConfig) -> atrelay_eventlog::Config {
    let mut log = atrelay_eventlog::Config::new(config.persist_dir.join("events"));
    // Consumers still learn of a takedown from its `#account` event.
    log.takedown_visible_kinds = vec![atrelay::ingest::events::KIND_ACCOUNT];
    log.seq_floor = config.initial_seq;
    log.retention_age = config.replay_window;
    if config.replay_max_bytes > 0 {
        log.retention_bytes = config.replay_max_bytes;
    }
    log
}

/// Opens the store; an error names the database without its password, even where the
/// driver's message quotes the URL.
async fn open_store(url: &str, max_connections: Option<u32>) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections,
        ..ConnectOptions::default()
    };
    Store::open(url, &options).await.map_err(|error| {
        anyhow::anyhow!(
            "cannot open the database {}: {}",
            redact(url),
            scrub(&error.to_string(), url)
        )
    })
}

/// Completes with the reason once the event log stops taking appends (a failed write or
/// fsync: see `atrelay_eventlog`). The log is not reopened in place: after an fsync error the
/// page cache cannot be trusted, so the process stops and a restart recovers from disk.
async fn event_log_failure(log: &EventLog) -> String {
    let mut every = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        every.tick().await;
        if let Some(reason) = log.health().failed {
            return reason;
        }
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
