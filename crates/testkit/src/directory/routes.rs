//! The directory's HTTP side. `GET /<did>` is a PLC lookup; `GET /.well-known/did.json` is a
//! did:web fetch for the DID named by the `Host` header. Both are answered from the shared
//! [`DirectoryState`]: the DID's [`DirectoryReply`] override if it has one, else its document (200),
//! 410 when tombstoned or 404 when unknown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::reply::DirectoryReply;
use super::server::lock;

/// What the directory knows about one DID.
#[derive(Debug, Clone)]
pub(super) enum Entry {
    /// The current document.
    Active(Value),
    /// The DID was tombstoned.
    Tombstoned,
}

/// Everything the directory serves and counts, shared with the server task.
#[derive(Debug, Default)]
pub(super) struct DirectoryState {
    /// DID → entry.
    pub(super) entries: HashMap<String, Entry>,
    /// DID → the reply served instead of its entry.
    pub(super) replies: HashMap<String, DirectoryReply>,
    /// DID → number of requests for it (including 404s, 410s and overrides).
    pub(super) requests: HashMap<String, u64>,
    /// How long every lookup waits before it is answered.
    pub(super) delay: Duration,
    /// Requests being answered right now.
    pub(super) in_flight: usize,
    /// The most requests ever answered at the same time.
    pub(super) max_in_flight: usize,
}

/// The state as the handlers hold it.
pub(super) type Shared = Arc<Mutex<DirectoryState>>;

/// The directory's routes over `state`.
pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/.well-known/did.json", get(serve_web))
        .route("/{did}", get(serve_plc))
        .with_state(state)
}

/// The did:web DID whose document lives at `https://<host>/.well-known/did.json`; a port in
/// `host` is written `%3A<port>`.
pub(super) fn web_did_of_host(host: &str) -> String {
    format!("did:web:{}", host.replace(':', "%3A"))
}

async fn serve_plc(State(state): State<Shared>, Path(did): Path<String>) -> Response {
    answer(&state, did).await
}

async fn serve_web(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    answer(&state, web_did_of_host(host)).await
}

/// Counts a request in flight until dropped, even when the client gives up and the handler
/// is cancelled.
struct InFlight<'a>(&'a Mutex<DirectoryState>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(self.0).in_flight -= 1;
    }
}

async fn answer(state: &Mutex<DirectoryState>, did: String) -> Response {
    let (entry, reply, delay) = {
        let mut state = lock(state);
        *state.requests.entry(did.clone()).or_default() += 1;
        state.in_flight += 1;
        state.max_in_flight = state.max_in_flight.max(state.in_flight);
        (
            state.entries.get(&did).cloned(),
            state.replies.get(&did).cloned(),
            state.delay,
        )
    };
    let _in_flight = InFlight(state);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(reply) = reply {
        return reply.respond().await;
    }
    match entry {
        Some(Entry::Active(doc)) => Json(doc).into_response(),
        Some(Entry::Tombstoned) => (
            StatusCode::GONE,
            Json(json!({"message": format!("DID not available: {did}")})),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("DID not registered: {did}")})),
        )
            .into_response(),
    }
}
