//! Keeps a host's task alive: a task that panics is restarted after a backoff, from the
//! state the log and the store agree on, instead of ending the host for good.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrelay_store::{Host, HostStatus};
use tokio::sync::{watch, Notify};

use super::health::{HostLink, LinkState};
use super::ratelimit::HostLimiter;
use super::verify::HostContext;
use super::{backoff, connection, recovery, Inner};

/// First delay before a crashed host task is restarted.
const RESTART_BASE: Duration = Duration::from_secs(1);
/// Longest such delay.
const RESTART_MAX: Duration = Duration::from_secs(60);

/// What one host's task works with.
pub(super) struct HostTask {
    pub inner: Arc<Inner>,
    pub host: Host,
    pub ctx: Arc<HostContext>,
    pub limiter: Arc<Mutex<HostLimiter>>,
    pub retry: Arc<Notify>,
    pub health: Arc<HostLink>,
    pub shutdown: watch::Receiver<bool>,
}

/// Runs the host's task until it ends by itself; a panic restarts it. Before a restart the
/// host's accepted events that reached the log but not the store are written, as at start-up
/// ([`recovery::recover`] for this host), and the host is followed again from its stored
/// cursor, so nothing is lost or sent twice.
pub(super) async fn supervise(task: HostTask) {
    let HostTask {
        inner,
        mut host,
        ctx,
        limiter,
        retry,
        health,
        mut shutdown,
    } = task;
    let mut restarts: u32 = 0;
    loop {
        let running = tokio::spawn(connection::run_host(
            inner.clone(),
            host.clone(),
            ctx.clone(),
            limiter.clone(),
            retry.clone(),
            health.clone(),
            shutdown.clone(),
        ));
        let failure = match running.await {
            Ok(()) => return,
            Err(error) if error.is_cancelled() => return,
            Err(error) => panic_message(error.into_panic()),
        };
        restarts = restarts.saturating_add(1);
        inner
            .drops
            .host_task_restarts
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(host = %host.hostname, %failure, restarts, "host task panicked; restarting it");
        health.set(
            LinkState::Restarting,
            Some(format!("task panicked: {failure}")),
        );
        let mut attempts = restarts;
        host = loop {
            let wait = backoff::delay(attempts, RESTART_BASE, RESTART_MAX);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            attempts = attempts.saturating_add(1);
            match restart_point(&inner, host.id).await {
                Ok(Some(fresh)) if fresh.status != HostStatus::Banned => break fresh,
                Ok(_) => return,
                // Restarting without it could repeat events: try again after a longer wait.
                Err(error) => {
                    tracing::warn!(host = %host.hostname, %error, "host recovery failed; retrying")
                }
            }
        };
    }
}

/// Writes the host's logged but unwritten events to the store and reads the host back with
/// its cursor moved past them; `None` when the host is gone.
async fn restart_point(inner: &Inner, host_id: i64) -> Result<Option<Host>, String> {
    let report = recovery::recover(&inner.store, &inner.log, Some(host_id))
        .await
        .map_err(|e| e.to_string())?;
    inner.unapplied.remove_host(host_id);
    tracing::info!(
        host_id,
        reapplied = report.reapplied,
        "host state recovered from the event log"
    );
    inner.store.host(host_id).await.map_err(|e| e.to_string())
}

/// The text of a panic payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".to_owned())
}
