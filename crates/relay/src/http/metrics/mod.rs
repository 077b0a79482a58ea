//! The Prometheus endpoint (`/metrics` on its own port), in the text exposition format of the
//! `prometheus` crate. Two kinds of series:
//!
//! - read from the relay's parts at scrape time ([`scrape`]): counters and gauges of ingest,
//!   the event log, consumers, background tasks, the identity cache and the database pool,
//!   under our `atrelay_*` names and, where the meaning is the same, indigo's names too, so
//!   dashboards built for indigo's relay keep working;
//! - observed on the hot paths ([`crate::metrics`]): latency histograms, and the process
//!   collector's `process_*` series.
//!
//! Labels stay bounded: per-host series are labelled with the hostname, nothing is labelled
//! per consumer or per DID.

mod scrape;

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};
use prometheus::{Encoder, TextEncoder};

use crate::metrics::instruments;
use crate::state::AppState;

/// The router of the metrics listener.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    (
        [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
        render(&state),
    )
}

/// Renders every metric of the relay.
pub fn render(state: &AppState) -> String {
    render_with_instruments(scrape::families(state))
}

/// `families` and the process-wide instruments (histograms) in the Prometheus text format: the
/// body of a `/metrics` answer, the relay's or the splitter's.
pub fn render_with_instruments(mut families: Vec<prometheus::proto::MetricFamily>) -> String {
    families.extend(instruments().registry.gather());
    let mut out = String::new();
    TextEncoder::new()
        .encode_utf8(&families, &mut out)
        .expect("metric families encode as text");
    out
}
