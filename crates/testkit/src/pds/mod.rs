//! [`FakePds`]: a loopback PDS hosting several [`FakeRepo`]s, with a sequenced in-memory
//! event list served over `subscribeRepos`, the sync and repo XRPC queries a relay calls, and
//! switches that make it misbehave.
//!
//! This file holds the server's state and its start; the handle's calls are split by what
//! they touch: `accounts` (creating, moving and changing accounts and their identity),
//! `commits` (records and commits, with the commit misbehaviours), `event_log` (the sequenced
//! event list and its subscribers) and `options` (how to start a PDS and create an account).

mod accounts;
mod commits;
mod event_log;
mod firehose;
mod options;
mod routes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use atrelay_stream::AccountStatus;
use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::clock::TidClock;
use crate::did_doc::DidDocument;
use crate::directory::{FakeDirectory, ServerGuard};
use crate::error::TestkitError;
use crate::misbehave::Misbehavior;
use crate::repo::FakeRepo;

pub use options::{AccountOptions, KeyCurve, PdsOptions, DEFAULT_LIVE_CAPACITY};

/// One event of the PDS's log: its `seq` and the frame bytes subscribers receive.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The stream sequence number.
    pub seq: i64,
    /// The frame (or garbage bytes, for [`Misbehavior::GarbageFrame`]).
    pub frame: Bytes,
}

/// One hosted account.
#[derive(Debug)]
pub(crate) struct Account {
    /// The repository.
    pub(crate) repo: FakeRepo,
    /// The document as this PDS publishes it.
    pub(crate) doc: DidDocument,
    /// `None` when active, else why not.
    pub(crate) status: Option<AccountStatus>,
}

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct PdsState {
    /// DID → account, in DID order (the `listRepos` order).
    pub(crate) accounts: BTreeMap<String, Account>,
    /// The retained events, oldest first.
    pub(crate) log: Vec<StoredEvent>,
    /// The highest `seq` dropped from the front of the log by [`FakePds::trim_log`] (0 when
    /// nothing was dropped): a cursor below it is outdated.
    pub(crate) trimmed_through: i64,
    /// The `seq` the next event gets.
    pub(crate) next_seq: i64,
    /// Misbehaviours waiting for their event.
    pending: Vec<Misbehavior>,
    /// The did:web account whose document `/.well-known/did.json` serves.
    pub(crate) web_did: Option<String>,
    /// Record keys for `create_record`.
    rkeys: TidClock,
    /// Accounts created so far (for default handles).
    n_created: u64,
}

impl PdsState {
    /// The last `seq` handed out (0 before the first event).
    pub(crate) fn head_seq(&self) -> i64 {
        self.next_seq - 1
    }
}

/// State shared by the handle and the server tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Accounts, log and switches.
    pub(crate) state: Mutex<PdsState>,
    /// Live events, sent under the state lock so replay and live never overlap.
    pub(crate) live: broadcast::Sender<StoredEvent>,
    /// Bumped to make every subscriber disconnect.
    pub(crate) kick: watch::Sender<u64>,
    /// `127.0.0.1:<port>`.
    pub(crate) hostname: String,
    /// The PLC directory where did:plc documents are published.
    directory: FakeDirectory,
}

/// A fake PDS. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct FakePds {
    /// State shared with the server.
    shared: Arc<Shared>,
    /// Keeps the server running.
    guard: Arc<PdsGuard>,
}

/// Stops the server and disconnects subscribers when the last handle goes.
#[derive(Debug)]
struct PdsGuard {
    /// The HTTP server.
    server: ServerGuard,
    /// To kick subscribers, whose tasks outlive the HTTP server's graceful shutdown.
    shared: Arc<Shared>,
}

impl Drop for PdsGuard {
    fn drop(&mut self) {
        self.shared.kick.send_modify(|n| *n += 1);
    }
}

impl FakePds {
    /// Starts a PDS on `127.0.0.1` on a free port; its did:plc accounts are published in
    /// `directory`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] when the socket cannot be bound.
    pub async fn start(directory: &FakeDirectory) -> Result<Self, TestkitError> {
        Self::start_with(directory, PdsOptions::default()).await
    }

    /// Like [`FakePds::start`], with options.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] when the socket cannot be bound.
    pub async fn start_with(
        directory: &FakeDirectory,
        options: PdsOptions,
    ) -> Result<Self, TestkitError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hostname = if options.localhost_name {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        };
        let (live, _) = broadcast::channel(
            options
                .live_capacity
                .unwrap_or(DEFAULT_LIVE_CAPACITY)
                .max(1),
        );
        let (kick, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(PdsState {
                accounts: BTreeMap::new(),
                log: Vec::new(),
                next_seq: 1,
                trimmed_through: 0,
                pending: Vec::new(),
                web_did: None,
                rkeys: TidClock::new(rand::random::<u16>()),
                n_created: 0,
            }),
            live,
            kick,
            hostname,
            directory: directory.clone(),
        });
        let server = ServerGuard::serve_on(listener, routes::router(shared.clone()))?;
        Ok(Self {
            guard: Arc::new(PdsGuard {
                server,
                shared: shared.clone(),
            }),
            shared,
        })
    }

    /// The host name a relay knows this PDS by: `127.0.0.1:<port>` (or `localhost:<port>`).
    pub fn hostname(&self) -> &str {
        &self.shared.hostname
    }

    /// The base URL, `http://<hostname>` (the `serviceEndpoint` of its accounts).
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.hostname)
    }

    /// The firehose URL, `ws://<hostname>/xrpc/com.atproto.sync.subscribeRepos`.
    pub fn firehose_url(&self) -> String {
        format!(
            "ws://{}/xrpc/com.atproto.sync.subscribeRepos",
            self.shared.hostname
        )
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.guard.server.addr.port()
    }

    /// The directory this PDS publishes did:plc documents in.
    pub fn directory(&self) -> &FakeDirectory {
        &self.shared.directory
    }

    /// Asks a relay to crawl this PDS: `POST <relay_url>/xrpc/com.atproto.sync.requestCrawl`
    /// with `{"hostname": "<hostname>"}`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Http`] when the request fails, [`TestkitError::HttpStatus`] for a
    /// non-2xx answer.
    pub async fn request_crawl(&self, relay_url: &str) -> Result<(), TestkitError> {
        let url = format!(
            "{}/xrpc/com.atproto.sync.requestCrawl",
            relay_url.trim_end_matches('/')
        );
        let response = reqwest::Client::new()
            .post(&url)
            .json(&serde_json::json!({ "hostname": self.hostname() }))
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let mut body = response.text().await.unwrap_or_default();
        body.truncate(500);
        Err(TestkitError::HttpStatus {
            url,
            status: status.as_u16(),
            body,
        })
    }
}

fn unknown(did: &str) -> TestkitError {
    TestkitError::UnknownAccount {
        did: did.to_owned(),
    }
}
