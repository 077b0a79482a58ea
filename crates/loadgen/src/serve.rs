//! Serving a generated load over real sockets: one HTTP server per PDS host on `127.0.0.1`
//! and one PLC-style DID directory.
//!
//! A host answers `subscribeRepos` with its frames from the subscriber's cursor (all of them
//! for no cursor or cursor 0, as a PDS replays its backlog), each stamped with the time it is
//! sent, then keeps the socket open as a quiet PDS would. It also answers `describeServer`,
//! `_health` and an empty `listRepos` (the relay's collection backfill asks; the load's
//! accounts reach the index through the firehose). The directory answers `GET /<did>` with a
//! document naming the account's key and its host's URL, 404 for any other DID.
//!
//! Frames go out as fast as the subscriber reads them, or at a set rate over all hosts (each
//! host sending its share on its own schedule, catching up after a slow step rather than
//! stretching the run).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;

use crate::load::{self, HostFrames, Manifest};

/// Where a running load can be reached; `serve` prints it as one JSON line on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The DID directory's base URL (the relay's `--plc-host`).
    pub directory: String,
    /// Each host as `127.0.0.1:<port>`, the name a relay is asked to crawl.
    pub hosts: Vec<String>,
    /// Every event the hosts will send.
    pub events: u64,
}

/// A load being served.
pub struct RunningLoad {
    /// Where it is.
    pub endpoints: Endpoints,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningLoad {
    /// Waits until every server stops (they do not, short of an accept error).
    pub async fn wait(self) {
        for server in self.servers {
            let _ = server.await;
        }
    }
}

/// Loads `dir` and starts its hosts and directory. `rate` is events per second over all hosts
/// (`None`: as fast as they are read); `limit` caps the events each host sends.
///
/// # Errors
/// An unreadable load directory or a port that cannot be bound.
pub async fn serve(dir: &Path, rate: Option<f64>, limit: Option<usize>) -> Result<RunningLoad> {
    let manifest = Manifest::read(dir)?;
    let mut listeners = Vec::with_capacity(manifest.hosts);
    let mut hosts = Vec::with_capacity(manifest.hosts);
    for _ in 0..manifest.hosts {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        hosts.push(listener.local_addr()?.to_string());
        listeners.push(listener);
    }
    let directory_listener = TcpListener::bind("127.0.0.1:0").await?;
    let directory_addr = directory_listener.local_addr()?;

    let mut documents = HashMap::new();
    let mut servers = Vec::new();
    let per_host_interval = rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(manifest.hosts as f64 / r));
    let mut events = 0u64;
    for (k, listener) in listeners.into_iter().enumerate() {
        let endpoint = format!("http://{}", hosts[k]);
        for account in load::read_accounts(dir, k)? {
            let document = atrelay_testkit::did_document_json(
                &account.did,
                &account.handle,
                &account.multikey,
                &endpoint,
            );
            documents.insert(account.did, Arc::new(document.to_string()));
        }
        let frames = HostFrames::read(dir, k)?;
        let sendable = limit.map_or(frames.len(), |l| l.min(frames.len()));
        events += sendable as u64;
        let state = HostState {
            frames: Arc::new(frames),
            sendable,
            interval: per_host_interval,
            did: format!("did:web:{}", hosts[k].replace(':', "%3A")),
        };
        servers.push(spawn_server(listener, host_router(state)));
    }
    servers.push(spawn_server(
        directory_listener,
        directory_router(Arc::new(documents)),
    ));
    Ok(RunningLoad {
        endpoints: Endpoints {
            directory: format!("http://{directory_addr}"),
            hosts,
            events,
        },
        servers,
    })
}

fn spawn_server(listener: TcpListener, router: Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(error) = axum::serve(listener, service).await {
            eprintln!("atrelay-loadgen: server stopped: {error}");
        }
    })
}

/// What one host's handlers share.
#[derive(Clone)]
struct HostState {
    frames: Arc<HostFrames>,
    /// Frames this host sends (all, or the `limit`).
    sendable: usize,
    /// Time between two frames at the set rate.
    interval: Option<Duration>,
    /// The host's service DID for `describeServer`.
    did: String,
}

fn host_router(state: HostState) -> Router {
    Router::new()
        .route(
            "/xrpc/com.atproto.sync.subscribeRepos",
            get(subscribe_repos),
        )
        .route(
            "/xrpc/com.atproto.server.describeServer",
            get(describe_server),
        )
        .route("/xrpc/com.atproto.sync.listRepos", get(list_repos))
        .route(
            "/xrpc/_health",
            get(|| async { Json(json!({"version": "atrelay-loadgen"})) }),
        )
        .with_state(state)
}

#[derive(Deserialize)]
struct CursorParam {
    cursor: Option<i64>,
}

async fn subscribe_repos(
    State(state): State<HostState>,
    Query(params): Query<CursorParam>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let start = params.cursor.map_or(0, |c| usize::try_from(c).unwrap_or(0));
    upgrade
        .max_message_size(1 << 20)
        .on_upgrade(move |socket| send_frames(socket, state, start))
}

/// Sends frames `start..sendable`, then holds the socket open until the subscriber leaves.
async fn send_frames(mut socket: WebSocket, state: HostState, start: usize) {
    let began = tokio::time::Instant::now();
    for (sent, i) in (start..state.sendable).enumerate() {
        if let Some(interval) = state.interval {
            tokio::time::sleep_until(began + interval * sent as u32).await;
        }
        let now = atrelay_repo::syntax::format_datetime(SystemTime::now());
        let Some(frame) = state.frames.stamped(i, &now) else {
            break;
        };
        if socket.send(Message::Binary(frame.into())).await.is_err() {
            return;
        }
    }
    while let Some(Ok(_)) = socket.recv().await {}
}

async fn describe_server(State(state): State<HostState>) -> Json<serde_json::Value> {
    Json(json!({
        "did": state.did,
        "availableUserDomains": [".loadgen.test"],
        "inviteCodeRequired": false,
    }))
}

async fn list_repos() -> Json<serde_json::Value> {
    Json(json!({ "repos": [] }))
}

fn directory_router(documents: Arc<HashMap<String, Arc<String>>>) -> Router {
    Router::new()
        .route("/{did}", get(resolve_did))
        .with_state(documents)
}

async fn resolve_did(
    State(documents): State<Arc<HashMap<String, Arc<String>>>>,
    UrlPath(did): UrlPath<String>,
) -> Response {
    match documents.get(&did) {
        Some(document) => (
            [(axum::http::header::CONTENT_TYPE, "application/did+ld+json")],
            document.as_str().to_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "DID not registered").into_response(),
    }
}

/// Reads the [`Endpoints`] line a `serve` process printed.
///
/// # Errors
/// A line that is not the JSON `serve` prints.
pub fn parse_endpoints(line: &str) -> Result<Endpoints> {
    serde_json::from_str(line.trim()).context("atrelay-loadgen serve printed no endpoints line")
}
