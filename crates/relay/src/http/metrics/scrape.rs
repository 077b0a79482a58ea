//! Series read from the relay's parts at each scrape: a fresh registry of counters and gauges
//! set to the current values, so one process can hold several relays (as the tests do) and
//! nothing is double counted.

use std::sync::atomic::Ordering;

use prometheus::proto::MetricFamily;
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, Opts, Registry};

use crate::engine::ingest::LinkState;
use crate::engine::tasks::TaskState;
use crate::state::AppState;

/// A registry filled for one scrape.
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn register(&self, collector: impl prometheus::core::Collector + 'static) {
        self.registry
            .register(Box::new(collector))
            .expect("each series is registered once per scrape");
    }

    fn gauge(&self, name: &str, help: &str, value: f64) {
        let gauge = Gauge::with_opts(Opts::new(name, help)).expect("valid gauge");
        gauge.set(value);
        self.register(gauge);
    }

    fn counter(&self, name: &str, help: &str, value: u64) {
        let counter = IntCounter::with_opts(Opts::new(name, help)).expect("valid counter");
        counter.inc_by(value);
        self.register(counter);
    }

    fn counter_vec<'a>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        rows: impl IntoIterator<Item = (Vec<&'a str>, u64)>,
    ) {
        let vec = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
        for (values, count) in rows {
            vec.with_label_values(&values).inc_by(count);
        }
        self.register(vec);
    }

    fn gauge_vec<'a>(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        rows: impl IntoIterator<Item = (Vec<&'a str>, f64)>,
    ) {
        let vec = GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
        for (values, value) in rows {
            vec.with_label_values(&values).set(value);
        }
        self.register(vec);
    }
}

/// Every scrape-time series, as metric families.
pub(super) fn families(state: &AppState) -> Vec<MetricFamily> {
    let scrape = Scrape {
        registry: Registry::new(),
    };
    event_log(&scrape, state);
    firehose(&scrape, state);
    ingest(&scrape, state);
    hosts(&scrape, state);
    tasks(&scrape, state);
    identity_cache(&scrape, state);
    database(&scrape, state);
    scrape.registry.gather()
}

fn event_log(scrape: &Scrape, state: &AppState) {
    let log = state.log.stats();
    scrape.gauge(
        "atrelay_eventlog_newest_seq",
        "Newest durable seq of the outbound event log.",
        log.newest_seq as f64,
    );
    scrape.gauge(
        "disk_persister_current_seq",
        "Newest durable seq of the outbound event log (indigo's name).",
        log.newest_seq as f64,
    );
    scrape.gauge(
        "atrelay_eventlog_oldest_seq",
        "Oldest seq still stored (0 when empty).",
        log.oldest_seq.unwrap_or(0) as f64,
    );
    scrape.gauge(
        "atrelay_eventlog_bytes",
        "Bytes on disk of the event log.",
        log.bytes as f64,
    );
    scrape.gauge(
        "atrelay_eventlog_segments",
        "Segment files of the event log.",
        log.segments as f64,
    );
    scrape.gauge(
        "atrelay_eventlog_pending_events",
        "Events appended but not yet durable.",
        log.pending as f64,
    );
}

fn firehose(scrape: &Scrape, state: &AppState) {
    let (admitted, refused) = state.consumers.admissions();
    let sent = state.consumers.frames_sent();
    scrape.gauge(
        "atrelay_firehose_consumers",
        "Connected firehose consumers.",
        state.consumers.len() as f64,
    );
    scrape.counter(
        "atrelay_firehose_frames_sent_total",
        "Frames sent to firehose consumers.",
        sent,
    );
    scrape.counter(
        "events_sent_counter",
        "Frames sent to firehose consumers (indigo's name, without its per-consumer labels).",
        sent,
    );
    scrape.counter(
        "atrelay_firehose_consumers_admitted_total",
        "Firehose consumers admitted.",
        admitted,
    );
    scrape.counter(
        "atrelay_firehose_consumers_refused_total",
        "Firehose consumers refused by the consumer limits.",
        refused,
    );
}

fn ingest(scrape: &Scrape, state: &AppState) {
    let counters = state.ingest.counters();
    scrape.gauge(
        "atrelay_ingest_unwritten_events",
        "Accepted events whose account state is not yet written to the database (grows while it is unreachable).",
        state.ingest.unwritten_events() as f64,
    );
    let reasons = counters.snapshot();
    scrape.counter_vec(
        "atrelay_ingest_dropped_events_total",
        "Upstream events not passed on, by reason.",
        &["reason"],
        reasons
            .iter()
            .map(|(reason, count)| (vec![*reason], *count)),
    );
    let new_accounts = counters.new_accounts.load(Ordering::Relaxed);
    scrape.counter(
        "relay_new_users_discovered",
        "Accounts seen for the first time (indigo's name).",
        new_accounts,
    );
    let totals = [
        (
            "atrelay_ingest_accepted_events_total",
            "Upstream events accepted into the event log.",
            &counters.accepted,
        ),
        (
            "atrelay_ingest_new_accounts_total",
            "Accounts seen for the first time.",
            &counters.new_accounts,
        ),
        (
            "atrelay_ingest_discontinuities_total",
            "Valid commits that did not chain to the stored state.",
            &counters.discontinuities,
        ),
        (
            "atrelay_ingest_future_cursor_resets_total",
            "Upstream FutureCursor errors recovered by restarting from live.",
            &counters.future_cursor_resets,
        ),
        (
            "atrelay_ingest_store_write_retries_total",
            "Batched store writes of ingest that failed and were retried.",
            &counters.store_write_retries,
        ),
        (
            "atrelay_ingest_host_task_restarts_total",
            "Host tasks restarted after a panic.",
            &counters.host_task_restarts,
        ),
        (
            "atrelay_ingest_throttled_new_accounts_total",
            "New accounts throttled because their host reached its account limit.",
            &counters.throttled_new_accounts,
        ),
        (
            "atrelay_ingest_unthrottled_accounts_total",
            "Throttled accounts let in because their host's account limit rose.",
            &counters.unthrottled_accounts,
        ),
        (
            "atrelay_ingest_account_limit_growths_total",
            "Host account limits raised by the good-standing growth rule.",
            &counters.account_limit_growths,
        ),
        (
            "atrelay_ingest_rate_limit_pauses_total",
            "Times a host's socket was left unread because it reached an event rate limit.",
            &counters.rate_limit_pauses,
        ),
    ];
    for (name, help, counter) in totals {
        scrape.counter(name, help, counter.load(Ordering::Relaxed));
    }
    scrape.gauge(
        "atrelay_ingest_peak_verifications_in_flight",
        "Most events of one host in verification at once.",
        counters
            .peak_verifications_in_flight
            .load(Ordering::Relaxed) as f64,
    );
}

/// Per-host series: what each followed host sent, and how many hosts are in each state.
fn hosts(scrape: &Scrape, state: &AppState) {
    let traffic = state.ingest.host_traffic();
    let per_host = |pick: fn(&(String, u64, u64, u64)) -> u64| {
        traffic
            .iter()
            .map(move |row| (vec![row.0.as_str()], pick(row)))
            .collect::<Vec<_>>()
    };
    for (ours, indigo, what, pick) in [
        (
            "atrelay_ingest_host_events_received_total",
            "events_received_counter",
            "Frames read from each host, before any check",
            (|row| row.1) as fn(&(String, u64, u64, u64)) -> u64,
        ),
        (
            "atrelay_ingest_host_commits_received_total",
            "repo_commits_received_counter",
            "#commit frames read from each host",
            |row| row.2,
        ),
        (
            "atrelay_ingest_host_syncs_received_total",
            "repo_sync_received_counter",
            "#sync frames read from each host",
            |row| row.3,
        ),
    ] {
        scrape.counter_vec(ours, &format!("{what}."), &["host"], per_host(pick));
        scrape.counter_vec(
            indigo,
            &format!("{what} (indigo's name)."),
            &["pds"],
            per_host(pick),
        );
    }
    let links = state.ingest.host_links();
    let connected = links
        .iter()
        .filter(|(_, link)| link.state == LinkState::Connected)
        .count();
    scrape.gauge(
        "relay_connected_inbound",
        "Hosts with an open upstream connection (indigo's name).",
        connected as f64,
    );
    let states = [
        LinkState::Connecting,
        LinkState::Connected,
        LinkState::Backoff,
        LinkState::StoreRetry,
        LinkState::Restarting,
        LinkState::Stopped,
    ];
    scrape.gauge_vec(
        "atrelay_ingest_hosts",
        "Followed hosts by the state of their task.",
        &["state"],
        states.iter().map(|each| {
            let count = links.iter().filter(|(_, link)| link.state == *each).count();
            (vec![each.as_str()], count as f64)
        }),
    );
}

/// Background tasks: errors by task, the current error streak, and the state (1 on the
/// current one).
fn tasks(scrape: &Scrape, state: &AppState) {
    let tasks = crate::http::health::task_statuses(state);
    scrape.counter_vec(
        "atrelay_background_task_errors_total",
        "Errors of each background task.",
        &["task"],
        tasks
            .iter()
            .map(|task| (vec![task.name.as_str()], task.errors_total)),
    );
    scrape.gauge_vec(
        "atrelay_background_task_consecutive_errors",
        "Errors of each background task since its last success.",
        &["task"],
        tasks
            .iter()
            .map(|task| (vec![task.name.as_str()], task.consecutive_errors as f64)),
    );
    let states = [
        TaskState::Running,
        TaskState::Backoff,
        TaskState::Stopped,
        TaskState::Failed,
    ];
    scrape.gauge_vec(
        "atrelay_background_task_state",
        "Each background task's state (1 on the current one).",
        &["task", "state"],
        tasks.iter().flat_map(|task| {
            states.iter().map(move |each| {
                (
                    vec![task.name.as_str(), each.as_str()],
                    f64::from(u8::from(task.state == *each)),
                )
            })
        }),
    );
}

fn identity_cache(scrape: &Scrape, state: &AppState) {
    let Some((cache, entries)) = state.ingest.resolver().cache_metrics() else {
        return;
    };
    let hits = cache.hits.load(Ordering::Relaxed);
    let misses = cache.misses.load(Ordering::Relaxed);
    scrape.counter(
        "atrelay_identity_cache_hits_total",
        "DID lookups answered from the identity cache.",
        hits,
    );
    scrape.counter(
        "atrelay_identity_cache_misses_total",
        "DID lookups that resolved the DID.",
        misses,
    );
    scrape.counter(
        "atproto_directory_identity_cache_hits",
        "DID lookups answered from the identity cache (indigo's name).",
        hits,
    );
    scrape.counter(
        "atproto_directory_identity_cache_misses",
        "DID lookups that resolved the DID (indigo's name).",
        misses,
    );
    scrape.counter(
        "atrelay_identity_resolve_errors_total",
        "DID resolutions that failed.",
        cache.errors.load(Ordering::Relaxed),
    );
    scrape.gauge(
        "atrelay_identity_cache_entries",
        "Identities in the cache.",
        entries as f64,
    );
}

fn database(scrape: &Scrape, state: &AppState) {
    let pool = state.store.pool_stats();
    scrape.gauge(
        "atrelay_store_pool_connections",
        "Open database connections (idle or in use).",
        f64::from(pool.open),
    );
    scrape.gauge(
        "atrelay_store_pool_idle_connections",
        "Open database connections not in use.",
        f64::from(pool.idle),
    );
    scrape.gauge(
        "atrelay_store_pool_max_connections",
        "The most database connections the pool opens.",
        f64::from(pool.max),
    );
}
