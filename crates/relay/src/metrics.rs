//! The histograms the relay's hot paths observe into, and the process collector: one set per
//! process ([`instruments`]), exported beside the scrape-time series of [`crate::http::metrics::render`].
//!
//! Durations are in seconds. Bucket edges follow indigo's where it has the series
//! (`events_handle_duration`: 1 ms doubling, 15 buckets), so its dashboards read ours.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, HistogramVec, Registry};

/// Every instrument of the process.
pub struct Instruments {
    /// Where the instruments and the process collector are registered.
    pub registry: Registry,
    /// Time from reading an upstream frame to settling it (verified, logged or dropped).
    pub event_seconds: Histogram,
    /// indigo's `events_handle_duration{pds}`: the same, per host.
    pub events_handle_duration: HistogramVec,
    /// Time to verify one commit signature.
    pub signature_seconds: Histogram,
    /// Time to check one commit's proof (CAR, MST inversion and claims), signature excluded.
    pub proof_seconds: Histogram,
    /// Time of one batched store write of ingest (account state, cursor, log progress).
    pub store_batch_seconds: Histogram,
    /// Upstream-to-consumer latency of a live event: from reading its upstream frame (or, for
    /// an event the relay makes itself, its append to the log) to the flush of a consumer's
    /// socket with it.
    pub delivery_seconds: Histogram,
    /// How many events a consumer is behind the log's head after each run of frames it is
    /// sent.
    pub consumer_lag_events: Histogram,
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid histogram options");
    registry
        .register(Box::new(histogram.clone()))
        .expect("unique metric name");
    histogram
}

/// 1 ms doubling: 1 ms … 16 s, indigo's buckets for event handling.
fn millisecond_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.001, 2.0, 15).expect("valid buckets")
}

/// 10 µs doubling up to about 0.3 s, for single verifications.
fn microsecond_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.000_01, 2.0, 16).expect("valid buckets")
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    registry
        .register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process collector registers once");
    let events_handle_duration = HistogramVec::new(
        HistogramOpts::new(
            "events_handle_duration",
            "Time to handle one upstream event, per host (indigo's name).",
        )
        .buckets(millisecond_buckets()),
        &["pds"],
    )
    .expect("valid histogram options");
    registry
        .register(Box::new(events_handle_duration.clone()))
        .expect("unique metric name");
    Instruments {
        event_seconds: histogram(
            &registry,
            "atrelay_ingest_event_seconds",
            "Time from reading an upstream frame to settling it (verified and logged, or dropped).",
            millisecond_buckets(),
        ),
        events_handle_duration,
        signature_seconds: histogram(
            &registry,
            "atrelay_ingest_signature_verify_seconds",
            "Time to verify one commit signature.",
            microsecond_buckets(),
        ),
        proof_seconds: histogram(
            &registry,
            "atrelay_ingest_proof_verify_seconds",
            "Time to check one commit's proof (CAR, MST inversion, claims), signature excluded.",
            microsecond_buckets(),
        ),
        store_batch_seconds: histogram(
            &registry,
            "atrelay_ingest_store_batch_seconds",
            "Time of one batched store write of ingest.",
            millisecond_buckets(),
        ),
        delivery_seconds: histogram(
            &registry,
            "atrelay_firehose_delivery_seconds",
            "Upstream-to-consumer latency of a live event: from reading its upstream frame (or appending a relay-made event) to flushing a consumer's socket with it.",
            millisecond_buckets(),
        ),
        consumer_lag_events: histogram(
            &registry,
            "atrelay_firehose_consumer_lag_events",
            "Events a consumer is behind the log's head after each run of frames sent to it.",
            vec![0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7],
        ),
        registry,
    }
});

/// The process's instruments.
pub fn instruments() -> &'static Instruments {
    &INSTRUMENTS
}
