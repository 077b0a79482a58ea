//! Keeps a host's task alive: a task that panics is restarted after a backoff, from the
//! state the log and the store agree on, instead of ending the host for good.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrelay_store::{Host, HostStatus};
use tokio::sync::{watch, Notify};

use super::health::{HostLink, LinkState};
use super::host::HostContext;
use super::ratelimit::HostLimiter;
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
            .counters
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use atrelay_eventlog::{Config, Durability, EventLog};
    use atrelay_store::{ConnectOptions, HostLimits, HostStatus, NewHost, Store};
    use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds};

    use crate::engine::ingest::{faults, http_resolver, Ingest, IngestConfig, LinkState};

    /// Upstream seqs of the host's events in the log, with how often each was logged.
    async fn logged_upstream_seqs(log: &EventLog, host_id: i64, until: i64) -> BTreeMap<i64, u32> {
        let mut reader = log.recovery_reader(0).unwrap();
        let mut seqs = BTreeMap::new();
        let mut last = 0;
        while last < until {
            let event = tokio::time::timeout(Duration::from_secs(10), reader.next())
                .await
                .expect("the log stopped short")
                .unwrap();
            last = event.seq();
            let origin = event.origin().expect("ingested events carry their origin");
            assert_eq!(origin.source, host_id);
            *seqs.entry(origin.source_seq).or_insert(0) += 1;
        }
        seqs
    }

    /// A host task that panics with accepted events not yet in the store is restarted, shows
    /// `restarting` meanwhile, and every upstream event ends up in the log once and the
    /// store's cursor at the host's head.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_host_task_is_restarted_and_loses_or_repeats_nothing() {
        let directory = FakeDirectory::start().await.unwrap();
        let pds = FakePds::start(&directory).await.unwrap();
        for _ in 0..3 {
            let did = pds.create_account(AccountOptions::default()).unwrap();
            for i in 0..10 {
                let record = sample_record("app.bsky.feed.post", &format!("post {i}"));
                pds.create_record(&did, "app.bsky.feed.post", record)
                    .unwrap();
            }
        }
        let head = pds.head_seq();

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("relay.sqlite").display());
        let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
        let mut log_config = Config::new(dir.path().join("events"));
        log_config.durability = Durability::OsBuffered;
        let log = EventLog::open(log_config).unwrap();
        let config = IngestConfig {
            allow_insecure_hosts: true,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(200),
            // Long enough that the panic finds accepted events still waiting for the store.
            flush_interval: Duration::from_secs(2),
            ..IngestConfig::default()
        };
        let resolver = http_resolver(&directory.url(), true).unwrap();
        let ingest = Ingest::new(store.clone(), log.clone(), resolver, config);
        let host = store
            .create_host(&NewHost {
                hostname: pds.hostname().to_owned(),
                no_ssl: true,
                trusted: false,
                status: HostStatus::Active,
                limits: HostLimits::with_account_limit(100),
            })
            .await
            .unwrap();
        faults::panic_after_accepting(pds.hostname(), 12);
        ingest.subscribe(host.clone());

        // The panic, then the restart state.
        let restarting = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let links = ingest.host_links();
                if let Some((_, link)) = links.iter().find(|(id, _)| *id == host.id) {
                    if link.state == LinkState::Restarting {
                        return link.detail.clone().unwrap_or_default();
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the host never showed `restarting`");
        assert!(restarting.contains("fault point"), "{restarting}");

        // After the restart everything arrives, each event once.
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let stored = store.host(host.id).await.unwrap().unwrap();
                if stored.last_seq == Some(head) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the host's cursor never reached its head after the restart");
        let logged = logged_upstream_seqs(&log, host.id, log.newest_seq()).await;
        let expected: BTreeMap<i64, u32> = (1..=head).map(|seq| (seq, 1)).collect();
        assert_eq!(logged, expected, "upstream events in the log, with counts");
        assert_eq!(
            ingest
                .counters()
                .host_task_restarts
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let (_, link) = ingest
            .host_links()
            .into_iter()
            .find(|(id, _)| *id == host.id)
            .unwrap();
        assert_eq!(link.state, LinkState::Connected);
        ingest.shutdown().await;
    }
}
