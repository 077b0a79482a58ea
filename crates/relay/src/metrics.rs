//! The Prometheus endpoint (`/metrics` on its own port): gauges and counters read from the
//! relay's parts at scrape time, in the text exposition format.

use std::fmt::Write;

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};

use crate::state::AppState;

/// The router of the metrics listener.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&state),
    )
}

/// Renders every metric of the relay.
pub fn render(state: &AppState) -> String {
    let mut out = String::new();
    let log = state.log.stats();
    let (admitted, refused) = state.consumers.admissions();
    let samples: [(&str, &str, &str, f64); 9] = [
        (
            "atrelay_ingest_unwritten_events",
            "gauge",
            "Accepted events whose account state is not yet written to the database (grows while it is unreachable).",
            state.ingest.unwritten_events() as f64,
        ),
        (
            "atrelay_eventlog_newest_seq",
            "gauge",
            "Newest durable seq of the outbound event log.",
            log.newest_seq as f64,
        ),
        (
            "atrelay_eventlog_oldest_seq",
            "gauge",
            "Oldest seq still stored (0 when empty).",
            log.oldest_seq.unwrap_or(0) as f64,
        ),
        (
            "atrelay_eventlog_bytes",
            "gauge",
            "Bytes on disk of the event log.",
            log.bytes as f64,
        ),
        (
            "atrelay_eventlog_segments",
            "gauge",
            "Segment files of the event log.",
            log.segments as f64,
        ),
        (
            "atrelay_eventlog_pending_events",
            "gauge",
            "Events appended but not yet durable.",
            log.pending as f64,
        ),
        (
            "atrelay_firehose_consumers",
            "gauge",
            "Connected firehose consumers.",
            state.consumers.len() as f64,
        ),
        (
            "atrelay_firehose_frames_sent_total",
            "counter",
            "Frames sent to firehose consumers.",
            state.consumers.frames_sent() as f64,
        ),
        (
            "atrelay_firehose_consumers_admitted_total",
            "counter",
            "Firehose consumers admitted.",
            admitted as f64,
        ),
    ];
    for (name, kind, help, value) in samples {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    render_ingest(&mut out, state);
    render_tasks(&mut out, state);
    let name = "atrelay_firehose_consumers_refused_total";
    let _ = writeln!(
        out,
        "# HELP {name} Firehose consumers refused by the consumer limits.\n# TYPE {name} counter\n{name} {refused}"
    );
    out
}

/// Ingest counters: every drop under its reason label, and what was accepted.
fn render_ingest(out: &mut String, state: &AppState) {
    let drops = state.ingest.drops();
    let name = "atrelay_ingest_dropped_events_total";
    let _ = writeln!(
        out,
        "# HELP {name} Upstream events not passed on, by reason.\n# TYPE {name} counter"
    );
    for (reason, count) in drops.snapshot() {
        let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {count}");
    }
    let counters = [
        (
            "atrelay_ingest_accepted_events_total",
            "Upstream events accepted into the event log.",
            &drops.accepted,
        ),
        (
            "atrelay_ingest_discontinuities_total",
            "Valid commits that did not chain to the stored state.",
            &drops.discontinuities,
        ),
        (
            "atrelay_ingest_future_cursor_resets_total",
            "Upstream FutureCursor errors recovered by restarting from live.",
            &drops.future_cursor_resets,
        ),
        (
            "atrelay_ingest_store_write_retries_total",
            "Batched store writes of ingest that failed and were retried.",
            &drops.store_write_retries,
        ),
        (
            "atrelay_ingest_host_task_restarts_total",
            "Host tasks restarted after a panic.",
            &drops.host_task_restarts,
        ),
        (
            "atrelay_ingest_throttled_new_accounts_total",
            "New accounts throttled because their host reached its account limit.",
            &drops.throttled_new_accounts,
        ),
        (
            "atrelay_ingest_unthrottled_accounts_total",
            "Throttled accounts let in because their host's account limit rose.",
            &drops.unthrottled_accounts,
        ),
        (
            "atrelay_ingest_account_limit_growths_total",
            "Host account limits raised by the good-standing growth rule.",
            &drops.account_limit_growths,
        ),
        (
            "atrelay_ingest_rate_limit_pauses_total",
            "Times a host's socket was left unread because it reached an event rate limit.",
            &drops.rate_limit_pauses,
        ),
    ];
    for (name, help, counter) in counters {
        let value = counter.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let name = "atrelay_ingest_peak_verifications_in_flight";
    let value = drops
        .peak_verifications_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP {name} Most events of one host in verification at once.\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Background tasks: errors by task, the current error streak, and the state (1 on the current
/// one).
fn render_tasks(out: &mut String, state: &AppState) {
    use crate::tasks::TaskState;
    let tasks = crate::health::task_statuses(state);
    let name = "atrelay_background_task_errors_total";
    let _ = writeln!(
        out,
        "# HELP {name} Errors of each background task.\n# TYPE {name} counter"
    );
    for task in &tasks {
        let _ = writeln!(
            out,
            "{name}{{task=\"{}\"}} {}",
            task.name, task.errors_total
        );
    }
    let name = "atrelay_background_task_consecutive_errors";
    let _ = writeln!(
        out,
        "# HELP {name} Errors of each background task since its last success.\n# TYPE {name} gauge"
    );
    for task in &tasks {
        let _ = writeln!(
            out,
            "{name}{{task=\"{}\"}} {}",
            task.name, task.consecutive_errors
        );
    }
    let name = "atrelay_background_task_state";
    let _ = writeln!(
        out,
        "# HELP {name} Each background task's state (1 on the current one).\n# TYPE {name} gauge"
    );
    for task in &tasks {
        for each in [
            TaskState::Running,
            TaskState::Backoff,
            TaskState::Stopped,
            TaskState::Failed,
        ] {
            let _ = writeln!(
                out,
                "{name}{{task=\"{}\",state=\"{}\"}} {}",
                task.name,
                each.as_str(),
                u8::from(task.state == each)
            );
        }
    }
}
