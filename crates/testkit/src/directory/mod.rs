//! [`FakeDirectory`]: a PLC directory on loopback. `GET /<did>` answers the DID document
//! (200), `404` for an unknown DID and `410` for a tombstoned one, like plc.directory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::did_doc::DidDocument;
use crate::error::TestkitError;

mod server;

pub(crate) use server::{lock, ServerGuard};

/// A fake PLC directory. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeDirectory {
    /// Shared with the server task.
    state: Arc<Mutex<DirectoryState>>,
    /// Keeps the server alive; dropping the last clone shuts it down.
    guard: Arc<ServerGuard>,
}

impl std::fmt::Debug for FakeDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeDirectory")
            .field("addr", &self.guard.addr)
            .finish()
    }
}

/// What the directory knows about one DID.
#[derive(Debug, Clone)]
enum Entry {
    /// The current document.
    Active(Value),
    /// The DID was tombstoned.
    Tombstoned,
}

#[derive(Debug, Default)]
struct DirectoryState {
    /// DID → entry.
    entries: HashMap<String, Entry>,
    /// DID → number of `GET`s served for it (including 404s and 410s).
    requests: HashMap<String, u64>,
    /// How long every lookup waits before it is answered.
    delay: std::time::Duration,
}

impl FakeDirectory {
    /// Starts a directory on `127.0.0.1` on a free port.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] when the socket cannot be bound.
    pub async fn start() -> Result<Self, TestkitError> {
        let state = Arc::new(Mutex::new(DirectoryState::default()));
        let router = Router::new()
            .route("/{did}", get(serve_document))
            .with_state(state.clone());
        let guard = ServerGuard::serve(router).await?;
        Ok(Self {
            state,
            guard: Arc::new(guard),
        })
    }

    /// The base URL, `http://127.0.0.1:<port>` (what a resolver's `plc_url` should be).
    pub fn url(&self) -> String {
        format!("http://{}", self.guard.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.guard.addr
    }

    /// Publishes (or replaces) a DID's document.
    pub fn publish(&self, doc: &DidDocument) {
        self.publish_json(&doc.did, doc.to_json());
    }

    /// Publishes an arbitrary JSON document for `did` (for malformed-document tests).
    pub fn publish_json(&self, did: &str, document: Value) {
        lock(&self.state)
            .entries
            .insert(did.to_owned(), Entry::Active(document));
    }

    /// Tombstones `did`: later lookups answer 410.
    pub fn tombstone(&self, did: &str) {
        lock(&self.state)
            .entries
            .insert(did.to_owned(), Entry::Tombstoned);
    }

    /// Forgets `did`: later lookups answer 404.
    pub fn remove(&self, did: &str) {
        lock(&self.state).entries.remove(did);
    }

    /// The current document of `did`, if it has one.
    pub fn document(&self, did: &str) -> Option<Value> {
        match lock(&self.state).entries.get(did) {
            Some(Entry::Active(doc)) => Some(doc.clone()),
            _ => None,
        }
    }

    /// Makes every later lookup wait `delay` before it is answered, as a slow directory would.
    pub fn set_delay(&self, delay: std::time::Duration) {
        lock(&self.state).delay = delay;
    }

    /// How many lookups of `did` the directory has answered.
    pub fn request_count(&self, did: &str) -> u64 {
        lock(&self.state).requests.get(did).copied().unwrap_or(0)
    }
}

async fn serve_document(
    State(state): State<Arc<Mutex<DirectoryState>>>,
    Path(did): Path<String>,
) -> Response {
    let (entry, delay) = {
        let mut state = lock(&state);
        *state.requests.entry(did.clone()).or_default() += 1;
        (state.entries.get(&did).cloned(), state.delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
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
