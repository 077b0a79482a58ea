//! The splitter's Prometheus endpoint (`/metrics` on `--metrics-listen`): upstream lag in seqs
//! and seconds, frames in and out, consumers, the stored window, and the firehose's delivery
//! histograms and `process_*` series shared with the relay ([`crate::metrics`]).

use std::{sync::atomic::Ordering, time::SystemTime};

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus::{Encoder, Gauge, IntCounter, Opts, Registry, TextEncoder};

use super::{status::Phase, SplitterState};

/// The router of the metrics listener.
pub fn router(state: SplitterState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<SplitterState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            TextEncoder::new().format_type().to_owned(),
        )],
        render(&state),
    )
}

/// Renders every metric of the splitter in the text exposition format.
pub fn render(state: &SplitterState) -> String {
    let registry = Registry::new();
    let gauge = |name: &str, help: &str, value: f64| {
        let gauge = Gauge::with_opts(Opts::new(name, help)).expect("valid gauge");
        gauge.set(value);
        registry.register(Box::new(gauge)).expect("registered once");
    };
    let counter = |name: &str, help: &str, value: u64| {
        let counter = IntCounter::with_opts(Opts::new(name, help)).expect("valid counter");
        counter.inc_by(value);
        registry
            .register(Box::new(counter))
            .expect("registered once");
    };
    let status = &state.status;
    let log = &state.firehose.log;
    let consumers = &state.firehose.consumers;
    let newest = log.newest_seq();
    let last_read = status.last_read_seq.load(Ordering::Relaxed);
    gauge(
        "atrelay_splitter_upstream_connected",
        "1 while the upstream's firehose is followed",
        f64::from(u8::from(status.phase() == Phase::Connected)),
    );
    counter(
        "atrelay_splitter_upstream_connects_total",
        "Connections made to the upstream",
        status.connects.load(Ordering::Relaxed),
    );
    gauge(
        "atrelay_splitter_upstream_lag_seq",
        "Seqs read from the upstream and not yet stored (newest read minus newest stored)",
        (last_read - newest).max(0) as f64,
    );
    gauge(
        "atrelay_splitter_upstream_lag_seconds",
        "Age of the newest stored event: now minus its `time` field",
        status.event_age_seconds(SystemTime::now()),
    );
    counter(
        "atrelay_splitter_frames_in_total",
        "Frames read from the upstream and stored",
        status.frames_in.load(Ordering::Relaxed),
    );
    counter(
        "atrelay_splitter_frames_skipped_total",
        "Frames read from the upstream and not stored (#info, no seq, already stored)",
        status.frames_skipped.load(Ordering::Relaxed),
    );
    gauge(
        "atrelay_eventlog_newest_seq",
        "Newest stored seq (the upstream's numbering)",
        newest as f64,
    );
    gauge(
        "atrelay_eventlog_oldest_seq",
        "Oldest stored seq (0: none)",
        log.oldest_seq().unwrap_or(0) as f64,
    );
    gauge(
        "atrelay_firehose_consumers",
        "Firehose consumers connected",
        consumers.len() as f64,
    );
    counter(
        "atrelay_firehose_frames_sent_total",
        "Frames sent to consumers",
        consumers.frames_sent(),
    );
    let (admitted, refused) = consumers.admissions();
    counter(
        "atrelay_firehose_consumers_admitted_total",
        "Consumers admitted",
        admitted,
    );
    counter(
        "atrelay_firehose_consumers_refused_total",
        "Consumers refused by the consumer limits",
        refused,
    );
    crate::http::metrics::render_with_instruments(registry.gather())
}
