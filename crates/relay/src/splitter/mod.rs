//! `atrelay splitter`: a firehose fan-out node that follows one upstream relay (indigo's
//! rainbow). It mirrors the upstream's `subscribeRepos` into its own event log with the
//! upstream's seq numbers ([`upstream`]), serves `subscribeRepos` from that log with the relay's
//! own firehose code ([`crate::http::firehose`]: replay window, `FutureCursor`,
//! `OutdatedCursor`, `ConsumerTooSlow`, consumer limits), proxies the read-only sync routes
//! and `requestCrawl` to the upstream ([`proxy`]), and reports the upstream connection on
//! `/xrpc/_health`, `/status` and `/metrics` ([`routes`], [`metrics`]).
//!
//! A consumer can move between splitters of one upstream, and the upstream itself, keeping its
//! cursor: the seqs are the same everywhere. The splitter needs no database: its only state is
//! the log under `--persist-dir`, and its cursor on the upstream is the newest seq stored there.

pub mod config;
pub mod metrics;
pub mod proxy;
pub mod routes;
pub mod status;
pub mod upstream;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use atrelay_eventlog::EventLog;
use axum::extract::FromRef;
use tokio::sync::watch;

pub use config::{SplitterConfig, Upstream};
use status::UpstreamStatus;

use crate::{
    engine::consumers::Consumers,
    http::edge::{fdlimit, EdgeLimits},
    http::firehose::Firehose,
};

/// Descriptors kept for everything but consumer connections (log segments, the upstream, the
/// metrics listener).
const FD_RESERVE: u64 = 1024;

/// How long the parts may take to stop after a signal.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Handles shared by the splitter's routes.
#[derive(Clone)]
pub struct SplitterState {
    /// The log consumers read, its consumers and their policy.
    pub firehose: Firehose,
    /// The upstream relay.
    pub upstream: Upstream,
    /// The client proxied requests go out with (no redirects followed).
    pub http: reqwest::Client,
    /// The upstream connection's state and counters.
    pub status: Arc<UpstreamStatus>,
}

impl FromRef<SplitterState> for Firehose {
    fn from_ref(state: &SplitterState) -> Self {
        state.firehose.clone()
    }
}

/// Runs a splitter until SIGTERM or SIGINT: opens the log, binds the ports, follows the
/// upstream and serves; then stops the follower, the server and the log, in that order.
///
/// # Errors
/// When the log cannot be opened (for example another process holds `--persist-dir`) or a
/// port cannot be bound.
pub async fn run(config: SplitterConfig) -> anyhow::Result<()> {
    let mut signals = crate::app::signals::Signals::install()?;
    let fd_limit = fdlimit::raise_to_hard_limit();
    let edge_limits = EdgeLimits {
        max_connections: fdlimit::fit_connection_cap(
            EdgeLimits::default().max_connections,
            fd_limit,
            FD_RESERVE,
        ),
        ..EdgeLimits::default()
    };
    tracing::info!(
        fd_limit = ?fd_limit,
        max_connections = edge_limits.max_connections,
        "HTTP connection limits"
    );
    let log_config = config.event_log();
    let log_dir = log_config.dir.clone();
    let log = tokio::task::spawn_blocking(move || EventLog::open(log_config))
        .await?
        .with_context(|| format!("open the splitter's event log in {}", log_dir.display()))?;
    let status = Arc::new(UpstreamStatus::default());
    let state = SplitterState {
        firehose: Firehose {
            log: log.clone(),
            consumers: Consumers::new(config.consumer_limits()),
            config: config.firehose(),
        },
        upstream: config.upstream.clone(),
        http: proxy::client().context("build the upstream HTTP client")?,
        status: status.clone(),
    };
    tracing::info!(
        upstream = %config.upstream.ws_base,
        newest_stored = log.newest_seq(),
        oldest_stored = ?log.oldest_seq(),
        "splitter starting"
    );

    let metrics_listener = tokio::net::TcpListener::bind(config.metrics_bind)
        .await
        .with_context(|| format!("bind the metrics listener on {}", config.metrics_bind))?;
    tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
    let metrics_router = metrics::router(state.clone());
    let metrics_task =
        tokio::spawn(async move { axum::serve(metrics_listener, metrics_router).await });
    let listener = tokio::net::TcpListener::bind(config.api_bind)
        .await
        .with_context(|| format!("bind the API listener on {}", config.api_bind))?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");

    let (stop, stopped) = watch::channel(false);
    let follower = upstream::Follower {
        upstream: config.upstream.clone(),
        log: log.clone(),
        status,
        start_cursor: config.start_cursor,
        max_backoff: config.reconnect_max_backoff,
    };
    let follower = tokio::spawn(follower.run(stopped.clone()));
    let mut server_stop = stopped;
    let server = tokio::spawn(crate::http::server::serve_with_limits(
        listener,
        routes::router(state),
        edge_limits,
        async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        },
    ));

    signals.next().await;
    tracing::info!("stopping the splitter");
    let _ = stop.send(true);
    let stopping = async {
        let _ = follower.await;
        // Closing the log ends every consumer's reader, so the server's drain can finish.
        let closed = tokio::task::spawn_blocking(move || log.close()).await;
        let _ = server.await;
        closed
    };
    metrics_task.abort();
    match tokio::time::timeout(SHUTDOWN_TIMEOUT, stopping).await {
        Ok(Ok(Ok(()))) => {
            tracing::info!("splitter stopped");
            Ok(())
        }
        Ok(Ok(Err(error))) => Err(error).context("close the event log"),
        Ok(Err(error)) => Err(error).context("close the event log"),
        Err(_) => anyhow::bail!("the splitter did not stop within {SHUTDOWN_TIMEOUT:?}"),
    }
}
