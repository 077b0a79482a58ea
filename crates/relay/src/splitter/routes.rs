//! The splitter's public routes: the firehose, the proxied sync routes, health and status.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{Html, IntoResponse},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};
use tower_http::cors::CorsLayer;

use super::{proxy, status::Phase, SplitterState};
use crate::http::{firehose, server};

/// The splitter's router: `subscribeRepos` from its own log, the read-only sync routes and
/// `requestCrawl` proxied to the upstream, `/xrpc/_health`, `/status` (JSON) and `/dash/`.
pub fn router(state: SplitterState) -> Router {
    let mut router = Router::new()
        .route("/", get(banner))
        .route("/_health", get(health))
        .route("/xrpc/_health", get(health))
        .route("/status", get(status))
        .route("/dash/", get(dash))
        .route(
            "/xrpc/com.atproto.sync.subscribeRepos",
            get(firehose::subscribe_repos),
        )
        .route(
            "/xrpc/com.atproto.sync.requestCrawl",
            post(proxy::request_crawl),
        );
    for path in proxy::PROXIED_GETS {
        router = router.route(path, get(proxy::get));
    }
    server::with_common_layers(router.with_state(state).layer(CorsLayer::permissive()))
}

async fn banner() -> &'static str {
    concat!(
        "atrelay splitter ",
        env!("CARGO_PKG_VERSION"),
        ": a firehose fan-out node\n\nThe firehose is at /xrpc/com.atproto.sync.subscribeRepos\n"
    )
}

/// `GET /xrpc/_health`: 200 with `"status":"ok"` while the upstream is followed and the log
/// takes appends; otherwise 503 with `"status":"error"` and the reason. Either way the body
/// holds the upstream connection's state.
async fn health(State(state): State<SplitterState>) -> (StatusCode, Json<Value>) {
    let view = state.status.view();
    let log_failed = state.firehose.log.health().failed;
    let problem = match (&log_failed, view.phase) {
        (Some(failed), _) => Some(format!("event log failed: {failed}")),
        (None, Phase::Connected) => None,
        (None, phase) => Some(format!("upstream not connected ({})", phase_name(phase))),
    };
    let upstream = json!({
        "url": state.upstream.ws_base,
        "state": view.phase,
        "since": view.since,
        "lastError": view.last_error,
    });
    match problem {
        None => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "upstream": upstream })),
        ),
        Some(msg) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "error", "msg": msg, "upstream": upstream })),
        ),
    }
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Connecting => "connecting",
        Phase::Connected => "connected",
        Phase::Backoff => "backoff",
        Phase::UpstreamBehind => "upstream_behind",
        Phase::Stopped => "stopped",
    }
}

/// `GET /status`: the upstream connection, the stored window and the consumers, as JSON.
async fn status(State(state): State<SplitterState>) -> Json<Value> {
    let view = state.status.view();
    let log = &state.firehose.log;
    let consumers = &state.firehose.consumers;
    let newest = log.newest_seq();
    Json(json!({
        "upstream": {
            "url": state.upstream.ws_base,
            "state": view.phase,
            "since": view.since,
            "lastError": view.last_error,
            "connects": view.connects,
            "lastReadSeq": view.last_read_seq,
            "lagSeq": (view.last_read_seq - newest).max(0),
            "lagSeconds": state.status.event_age_seconds(std::time::SystemTime::now()),
        },
        "log": { "newestSeq": newest, "oldestSeq": log.oldest_seq() },
        "framesIn": view.frames_in,
        "framesOut": consumers.frames_sent(),
        "consumers": consumers.len(),
    }))
}

/// `GET /dash/`: a page that shows `/status`, refreshed every two seconds.
async fn dash() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Html(include_str!("dash.html")),
    )
}
