//! The relay assembled from its parts, the one place that knows how they are built and in
//! which order they stop. [`Relay::open`] opens the store, the event log and the collection
//! index and starts the background work that needs no listener; [`Relay::run`] binds the API
//! and metrics ports, follows the upstream hosts and serves until a signal or a failed event
//! log, then stops every part in order ([`shutdown`]).

pub mod shutdown;
pub(crate) mod signals;

use std::sync::Arc;
use std::time::Duration;

use atrelay_collections::{Backfill, BackfillConfig, CollectionIndex};
use atrelay_eventlog::EventLog;
use atrelay_store::{ConnectOptions, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::FirehoseConfig;
use crate::config::ServeConfig;
use crate::engine::consumers::{ConsumerLimits, Consumers};
use crate::engine::ingest::{Ingest, IngestConfig};
use crate::engine::outbound::Outbound;
use crate::engine::readiness::{Readiness, ReadinessConfig};
use crate::engine::repo_source::GuardedRepoSource;
use crate::engine::tasks::Backoff;
use crate::http::admin::AdminAuth;
use crate::redact::{redact_url, scrub};
use crate::state::AppState;
use shutdown::{Progress, Step};
use signals::Signals;

/// How often finished collection crawls are repeated to repair drift.
const COLLECTION_RECHECK_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Timeout of one request of the collection crawl (a whole repository CAR included).
const REPO_SOURCE_TIMEOUT: Duration = Duration::from_secs(300);

/// A change [`Tuning`] makes to one part's configuration after the flags are applied.
pub type Adjust<T> = Box<dyn FnOnce(&mut T) + Send>;

/// What tests and benchmarks set beyond the flags of a [`ServeConfig`]: an open scratch store,
/// quicker ingest and firehose timings, a smaller event log. [`Tuning::default`] changes
/// nothing: it is what `atrelay serve` runs with.
#[derive(Default)]
pub struct Tuning {
    /// A store already open (and migrated), used in place of opening `database_url`.
    pub store: Option<Store>,
    /// Ingest policy in place of the one the flags give ([`IngestConfig::from_serve`]).
    pub ingest: Option<IngestConfig>,
    /// Firehose timings in place of the ones the flags give.
    pub firehose: Option<FirehoseConfig>,
    /// Applied to the event log's configuration after the flags.
    pub event_log: Option<Adjust<atrelay_eventlog::Config>>,
    /// Applied to the collection backfill's configuration after the flags.
    pub backfill: Option<Adjust<BackfillConfig>>,
}

/// A relay with its store, event log, ingest, collection index and backfill open, ready to
/// serve ([`Relay::run`]) or to stop ([`Relay::shutdown`]).
pub struct Relay {
    config: ServeConfig,
    state: AppState,
    backfill: Backfill,
    /// Sending `true` stops the background tasks (feed, re-check, servers).
    stop_tasks: watch::Sender<bool>,
    /// The thread that feeds the collection index from the event log.
    feed: std::thread::JoinHandle<()>,
    /// The periodic collection re-check.
    recheck: JoinHandle<()>,
}

impl Relay {
    /// Opens every part `config` names and starts the collection feed, the backfill's resumed
    /// crawls and its periodic re-check. Upstream hosts are followed by [`Relay::run`].
    ///
    /// # Errors
    /// When the database, the event log or the collection index cannot be opened.
    pub async fn open(config: ServeConfig) -> anyhow::Result<Relay> {
        Relay::open_tuned(config, Tuning::default()).await
    }

    /// [`Relay::open`] with the parts `tuning` sets in place of the ones the flags give.
    ///
    /// # Errors
    /// When the database, the event log or the collection index cannot be opened.
    pub async fn open_tuned(config: ServeConfig, tuning: Tuning) -> anyhow::Result<Relay> {
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
        let store = match tuning.store {
            Some(store) => store,
            None => open_store(&config.database_url, config.max_db_connections).await?,
        };
        tracing::info!(database = %redact_url(&config.database_url), "database ready");
        let mut log_config = event_log_config(&config);
        if let Some(tune) = tuning.event_log {
            tune(&mut log_config);
        }
        let log = EventLog::open(log_config)?;
        tracing::info!(newest_seq = log.newest_seq(), oldest_seq = ?log.oldest_seq(), "event log ready");
        let ingest = Ingest::new(
            store.clone(),
            log.clone(),
            crate::engine::ingest::http_resolver_with_cache(
                &config.plc_host,
                config.allow_insecure_hosts,
                config.ident_cache_size,
            )?,
            tuning
                .ingest
                .unwrap_or_else(|| IngestConfig::from_serve(&config)),
        );
        let collections = CollectionIndex::open(config.persist_dir.join("collections"))?;
        let readiness = readiness(&config);
        let (stop_tasks, stop) = watch::channel(false);
        let feed = crate::engine::collection_feed::spawn_supervised(
            log.clone(),
            collections.clone(),
            readiness
                .tasks
                .register(crate::engine::collection_feed::TASK_NAME),
            stop.clone(),
        )?;
        let mut backfill_config = BackfillConfig {
            account_check: Some(crate::engine::collection_crawl::account_check(
                ingest.resolver().clone(),
            )),
            max_concurrent_hosts: config.collection_backfill_concurrency.max(1),
            ..BackfillConfig::default()
        };
        if let Some(tune) = tuning.backfill {
            tune(&mut backfill_config);
        }
        let repo_source = GuardedRepoSource::new(
            &Outbound::new(config.allow_insecure_hosts),
            REPO_SOURCE_TIMEOUT,
            config.collection_backfill_max_repo_bytes,
        )?;
        let backfill = Backfill::new(collections.clone(), Arc::new(repo_source), backfill_config)?;
        let resumed = backfill.resume();
        let recheck = spawn_recheck(&backfill, &readiness, stop);
        tracing::info!(hosts = resumed, "collection backfill resumed");
        let state = AppState {
            backfill: Some(backfill.clone()),
            collections,
            ingest,
            store,
            log,
            consumers: Consumers::new(ConsumerLimits {
                max_total: config.max_consumers,
                max_per_ip: config.max_consumers_per_ip,
            }),
            firehose: tuning.firehose.unwrap_or_else(|| FirehoseConfig {
                max_lag: config.consumer_max_lag,
                too_slow_after: Duration::from_secs(config.consumer_too_slow_after_secs),
                ..FirehoseConfig::default()
            }),
            readiness,
        };
        Ok(Relay {
            config,
            state,
            backfill,
            stop_tasks,
            feed,
            recheck,
        })
    }

    /// What the HTTP handlers share.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The public routes and `/admin/*` behind the configured passwords (a random one, logged,
    /// when none is configured).
    pub fn router(&self) -> axum::Router {
        let (auth, generated) =
            AdminAuth::configured_or_random(self.config.admin_passwords.clone());
        let auth = auth.with_max_failed_logins(self.config.admin_max_failed_logins);
        if let Some(password) = generated {
            tracing::warn!(
                "no admin password configured (RELAY_ADMIN_PASSWORD); for this run the admin \
                 API accepts user admin with password {password}"
            );
        }
        crate::http::server::router_with_admin(self.state.clone(), auth)
    }

    /// Binds the metrics and API ports, follows every active host and serves until Ctrl-C or
    /// SIGTERM or until the event log fails; then stops the parts in order within the
    /// configured shutdown timeout (a second signal or the timeout exits the process with
    /// [`shutdown::EXIT_SHUTDOWN_TIMEOUT`], naming what did not stop).
    ///
    /// # Errors
    /// When a port cannot be bound, crash recovery fails, the event log failed (the message
    /// says how to restart) or a part did not stop cleanly.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut signals = Signals::install()?;
        let fd_limit = crate::http::edge::fdlimit::raise_to_hard_limit();
        let edge_limits = self.config.edge_limits(fd_limit);
        tracing::info!(
            fd_limit = ?fd_limit,
            max_connections = edge_limits.max_connections,
            reserved_admin_connections = edge_limits.reserved_connections,
            "HTTP connection limits"
        );
        let metrics_listener = tokio::net::TcpListener::bind(self.config.metrics_bind).await?;
        tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
        let metrics_router = crate::http::metrics::router(self.state.clone());
        let metrics_task = self.state.readiness.tasks.register("metrics-listener");
        tokio::spawn(async move {
            let result = axum::serve(metrics_listener, metrics_router).await;
            metrics_task.ended(
                result
                    .err()
                    .map(|error| format!("metrics listener: {error}")),
            );
        });
        let listener = tokio::net::TcpListener::bind(self.config.api_bind).await?;
        tracing::info!(addr = %listener.local_addr()?, "API listening");
        let followed = self.state.ingest.resubscribe_all().await?;
        tracing::info!(hosts = followed, "following upstream hosts");
        let router = self.router();
        let mut server = tokio::spawn(crate::http::server::serve_with_limits(
            listener,
            router,
            edge_limits,
            {
                let mut stop = self.stop_tasks.subscribe();
                async move { crate::engine::tasks::stopped(&mut stop).await }
            },
        ));
        let mut log_failure = None;
        let early_end = tokio::select! {
            () = signals.next() => None,
            result = &mut server => Some(result),
            reason = event_log_failure(&self.state.log) => {
                tracing::error!(%reason, "the event log failed: no event can be accepted; stopping");
                log_failure = Some(reason);
                None
            }
        };
        let timeout = Duration::from_secs(self.config.shutdown_timeout_secs);
        tracing::info!(timeout_secs = timeout.as_secs(), "shutting down");
        let server = match early_end {
            Some(result) => {
                tokio::spawn(
                    async move { result.unwrap_or_else(|e| Err(std::io::Error::other(e))) },
                )
            }
            None => server,
        };
        let progress = Progress::default();
        tokio::select! {
            result = tokio::time::timeout(timeout, self.stop(Some(server), progress.clone())) => match result {
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
            () = signals.next() => shutdown::give_up("interrupted by a second signal", &progress),
        }
    }

    /// Stops every part in order without a server (one [`Relay::run`] did not start); returns
    /// what failed to stop cleanly.
    pub async fn shutdown(self) -> Vec<String> {
        self.stop(None, Progress::default()).await
    }

    /// Stops the background tasks, then each part in order (each step under its name in
    /// `progress`): the HTTP server, ingest, backfill, the event log, the collection feed and
    /// index, the database. Returns what failed.
    async fn stop(
        self,
        server: Option<JoinHandle<std::io::Result<()>>>,
        progress: Progress,
    ) -> Vec<String> {
        self.stop_tasks.send_replace(true);
        let mut failures = Vec::new();
        progress.begin(Step::Server);
        if let Some(server) = server {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => failures.push(format!("HTTP server: {error}")),
                Err(error) => failures.push(format!("HTTP server task: {error}")),
            }
        }
        progress.begin(Step::Ingest);
        self.state.ingest.shutdown().await;
        progress.begin(Step::Backfill);
        let _ = self.recheck.await;
        self.backfill.shutdown().await;
        progress.begin(Step::EventLog);
        let log = self.state.log.clone();
        if !log.health().dir_present {
            failures.push(
                "event log: its directory was removed while running; events since are lost"
                    .to_owned(),
            );
        }
        match tokio::task::spawn_blocking(move || log.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failures.push(format!("event log: {error}")),
            Err(error) => failures.push(format!("event log: {error}")),
        }
        progress.begin(Step::CollectionFeed);
        let feed = self.feed;
        if !matches!(
            tokio::task::spawn_blocking(move || feed.join()).await,
            Ok(Ok(()))
        ) {
            failures.push("collection feed: its thread panicked".to_owned());
        }
        progress.begin(Step::CollectionIndex);
        let collections = self.state.collections.clone();
        match tokio::task::spawn_blocking(move || collections.persist()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failures.push(format!("collection index: {error}")),
            Err(error) => failures.push(format!("collection index: {error}")),
        }
        progress.begin(Step::Database);
        self.state.store.close().await;
        progress.begin(Step::Done);
        failures
    }
}

/// The readiness thresholds from the flags, with an empty task registry.
fn readiness(config: &ServeConfig) -> Readiness {
    Readiness::new(ReadinessConfig {
        max_event_silence: (config.ready_max_event_silence_secs > 0)
            .then(|| Duration::from_secs(config.ready_max_event_silence_secs)),
        task_error_threshold: config.ready_task_error_threshold,
    })
}

/// The periodic collection re-check, supervised: a pass that cannot start a crawl is retried
/// after a backoff (1 min, doubling) instead of a full interval.
fn spawn_recheck(
    backfill: &Backfill,
    readiness: &Readiness,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let backfill = backfill.clone();
    tokio::spawn(crate::engine::tasks::run_periodic(
        readiness.tasks.register("collection-recheck"),
        COLLECTION_RECHECK_INTERVAL,
        Backoff::new(Duration::from_secs(60), COLLECTION_RECHECK_INTERVAL),
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

/// The event log's configuration from the flags.
fn event_log_config(config: &ServeConfig) -> atrelay_eventlog::Config {
    let mut log = atrelay_eventlog::Config::new(config.persist_dir.join("events"));
    // Consumers still learn of a takedown from its `#account` event.
    log.takedown_visible_kinds = vec![crate::engine::ingest::events::KIND_ACCOUNT];
    log.seq_floor = config.initial_seq;
    log.retention_age = config.replay_window;
    if config.replay_max_bytes > 0 {
        log.retention_bytes = config.replay_max_bytes;
    }
    log
}

/// Opens the store (applying migrations); an error names the database without its password,
/// even where the driver's message quotes the URL.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn open_store(url: &str, max_connections: Option<u32>) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        max_connections,
        ..ConnectOptions::default()
    };
    Store::open(url, &options).await.map_err(|error| {
        anyhow::anyhow!(
            "cannot open the database {}: {}",
            redact_url(url),
            scrub(&error.to_string(), url)
        )
    })
}

/// Completes with the reason once the event log stops taking appends (a failed write or
/// fsync: see `atrelay_eventlog`). The log is not reopened in place: after an fsync error the
/// page cache cannot be trusted, so the process stops and a restart recovers from disk.
async fn event_log_failure(log: &EventLog) -> String {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        every.tick().await;
        if let Some(reason) = log.health().failed {
            return reason;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    /// `serve` with its database and persistent state under `dir`, everything else default.
    fn serve_config(dir: &std::path::Path) -> ServeConfig {
        let database = format!("sqlite://{}", dir.join("relay.sqlite").display());
        let persist = dir.join("persist");
        let cli = Cli::try_parse_from([
            "atrelay",
            "serve",
            "--db-url",
            database.as_str(),
            "--persist-dir",
            persist.to_str().unwrap(),
        ])
        .unwrap();
        match cli.command {
            Command::Serve(config) => *config,
            other => panic!("parsed {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_relay_stops_every_part_and_opens_again_on_what_it_kept() {
        let dir = tempfile::tempdir().unwrap();
        let relay = Relay::open(serve_config(dir.path())).await.unwrap();
        let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
        let ticket = relay
            .state()
            .log
            .append(did, crate::engine::ingest::events::KIND_IDENTITY, |seq| {
                atrelay_stream::encode_frame(&atrelay_stream::Message::Identity(
                    atrelay_stream::Identity {
                        seq,
                        did: did.to_owned(),
                        time: "2026-12-07T00:00:00.000Z".to_owned(),
                        handle: None,
                        extra: Default::default(),
                    },
                ))
            })
            .unwrap();
        ticket.durable().await.unwrap();
        let failures = relay.shutdown().await;
        assert!(failures.is_empty(), "{failures:?}");

        let again = Relay::open(serve_config(dir.path())).await.unwrap();
        assert_eq!(again.state().log.newest_seq(), ticket.seq());
        assert!(again.state().store.ping().await.is_ok());
        let failures = again.shutdown().await;
        assert!(failures.is_empty(), "{failures:?}");
    }
}
