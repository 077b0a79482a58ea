//! [`FakeDirectory`]: a PLC directory on loopback. `GET /<did>` answers the DID document
//! (200), `404` for an unknown DID and `410` for a tombstoned one, like plc.directory.
//!
//! It also hosts did:web documents: `GET /.well-known/did.json` answers for the DID the
//! `Host` header names (see [`FakeDirectory::web_did`]). Any DID can be given a hostile
//! [`DirectoryReply`] instead of its document (an error status, a slow answer, an endless body), and
//! the directory counts requests per DID and the most it answered at once.

mod reply;
mod routes;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::did_doc::DidDocument;
use crate::error::TestkitError;

pub use reply::DirectoryReply;
use routes::{DirectoryState, Entry, Shared};
pub(crate) use server::{lock, ServerGuard};

/// A fake PLC directory. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone)]
pub struct FakeDirectory {
    /// Shared with the server task.
    state: Shared,
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

impl FakeDirectory {
    /// Starts a directory on `127.0.0.1` on a free port.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] when the socket cannot be bound.
    pub async fn start() -> Result<Self, TestkitError> {
        let state = Arc::new(Mutex::new(DirectoryState::default()));
        let guard = ServerGuard::serve(routes::router(state.clone())).await?;
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
    /// A [`DirectoryReply`]'s own delay comes on top.
    pub fn set_delay(&self, delay: std::time::Duration) {
        lock(&self.state).delay = delay;
    }

    /// Answers every later request for `did` (a PLC lookup, or the `/.well-known/did.json` of
    /// a [`web_did`](Self::web_did)) with `reply`, whatever is published for it, until
    /// [`clear_reply`](Self::clear_reply). Replaces an earlier reply.
    pub fn set_reply(&self, did: &str, reply: DirectoryReply) {
        lock(&self.state).replies.insert(did.to_owned(), reply);
    }

    /// Drops the reply set for `did`: its published document (or 404, or 410) is served again.
    pub fn clear_reply(&self, did: &str) {
        lock(&self.state).replies.remove(did);
    }

    /// The did:web DID this directory hosts under the name `host` (e.g. `localhost` or
    /// `127.0.0.1`) on its own port: `did:web:<host>%3A<port>`. A request for
    /// `/.well-known/did.json` with `Host: <host>:<port>` is answered for that DID, with what
    /// was [`publish`](Self::publish)ed or [`set_reply`](Self::set_reply)'d for it, so one
    /// directory hosts a distinct did:web identity per name that reaches it.
    pub fn web_did(&self, host: &str) -> String {
        routes::web_did_of_host(&format!("{host}:{}", self.guard.addr.port()))
    }

    /// How many requests for `did` the directory has received: PLC lookups, or document
    /// fetches for a [`web_did`](Self::web_did); 404s, 410s and replies included.
    pub fn request_count(&self, did: &str) -> u64 {
        lock(&self.state).requests.get(did).copied().unwrap_or(0)
    }

    /// The most requests the directory was answering at the same time (a request counts
    /// until its status and headers are sent, delays included).
    pub fn max_concurrent_requests(&self) -> usize {
        lock(&self.state).max_in_flight
    }
}
