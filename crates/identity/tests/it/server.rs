//! A fake PLC directory and did:web host on 127.0.0.1:0.
//!
//! Replies are keyed by request path (`/did:plc:…` for PLC lookups) or, for
//! `/.well-known/did.json`, by `web:<Host header>`, so one server can host several did:web
//! identities under `localhost:<port>` and `127.0.0.1:<port>`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// What the server answers for one key.
#[derive(Clone)]
pub enum Reply {
    /// A status and a body, after an optional delay.
    Plain {
        status: u16,
        body: String,
        delay: Duration,
    },
    /// 200 with an endless-looking body streamed in chunks, without a Content-Length.
    Stream { chunk: usize, chunks: usize },
}

impl Reply {
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply::Plain {
            status: 200,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply::Plain {
            status,
            body: format!("{{\"error\":\"status {status}\"}}"),
            delay: Duration::ZERO,
        }
    }

    pub fn slow(body: impl Into<String>, delay: Duration) -> Reply {
        Reply::Plain {
            status: 200,
            body: body.into(),
            delay,
        }
    }
}

#[derive(Default)]
struct Inner {
    replies: Mutex<HashMap<String, Reply>>,
    hits: Mutex<HashMap<String, Arc<AtomicUsize>>>,
    /// Requests being handled right now, and the most seen at once.
    active: AtomicUsize,
    max_active: AtomicUsize,
}

/// A running fake server.
#[derive(Clone)]
pub struct FakeServer {
    inner: Arc<Inner>,
    pub port: u16,
}

impl FakeServer {
    pub async fn start() -> FakeServer {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeServer { inner, port }
    }

    /// Base URL to use as the PLC directory.
    pub fn plc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Serves `reply` for PLC lookups of `did`.
    pub fn plc(&self, did: &str, reply: Reply) {
        self.set(format!("/{did}"), reply);
    }

    /// Serves `reply` as the did:web document of `host` (e.g. `localhost`) on this server's
    /// port, and returns the matching DID.
    pub fn web(&self, host: &str, reply: Reply) -> String {
        self.set(format!("web:{host}:{}", self.port), reply);
        format!("did:web:{host}%3A{}", self.port)
    }

    /// How many requests arrived for PLC lookups of `did`.
    pub fn plc_hits(&self, did: &str) -> usize {
        self.hits(&format!("/{did}"))
    }

    /// How many requests arrived for the did:web document of `host`.
    pub fn web_hits(&self, host: &str) -> usize {
        self.hits(&format!("web:{host}:{}", self.port))
    }

    /// The most requests the server was handling at the same time.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_active.load(Ordering::SeqCst)
    }

    fn set(&self, key: String, reply: Reply) {
        self.inner.replies.lock().unwrap().insert(key, reply);
    }

    fn hits(&self, key: &str) -> usize {
        self.inner
            .hits
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |n| n.load(Ordering::SeqCst))
    }
}

async fn handle(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap) -> Response {
    let now_active = inner.active.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_active.fetch_max(now_active, Ordering::SeqCst);
    let response = reply_to(&inner, &uri, &headers).await;
    inner.active.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn reply_to(inner: &Inner, uri: &Uri, headers: &HeaderMap) -> Response {
    let key = if uri.path() == "/.well-known/did.json" {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        format!("web:{host}")
    } else {
        uri.path().to_owned()
    };
    inner
        .hits
        .lock()
        .unwrap()
        .entry(key.clone())
        .or_default()
        .fetch_add(1, Ordering::SeqCst);
    let reply = inner.replies.lock().unwrap().get(&key).cloned();
    match reply {
        None => (StatusCode::NOT_FOUND, "no such document").into_response(),
        Some(Reply::Plain {
            status,
            body,
            delay,
        }) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let status = StatusCode::from_u16(status).unwrap();
            (status, [("content-type", "application/json")], body).into_response()
        }
        Some(Reply::Stream { chunk, chunks }) => {
            let piece = bytes_of(chunk);
            let stream = futures_util::stream::iter(
                (0..chunks).map(move |_| Ok::<_, std::io::Error>(piece.clone())),
            );
            Response::new(Body::from_stream(stream))
        }
    }
}

fn bytes_of(len: usize) -> axum::body::Bytes {
    axum::body::Bytes::from(vec![b' '; len])
}
