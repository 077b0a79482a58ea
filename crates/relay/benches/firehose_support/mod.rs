//! What the firehose benchmarks share: a relay serving the real router on a loopback port (SQLite
//! store, an event log with the default fsync policy, no upstream hosts), events to fill its log
//! with, and websocket consumers that count the frames they get.

#![allow(dead_code)]

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use atrelay::{app::Relay, http::server, state::AppState};
use atrelay_eventlog::EventLog;
use atrelay_stream::{encode_frame, Identity, Message};
use clap::Parser;
use futures_util::StreamExt;

/// A relay serving `subscribeRepos` on `127.0.0.1`.
pub struct BenchRelay {
    /// `ws://127.0.0.1:<port>/xrpc/com.atproto.sync.subscribeRepos`.
    pub firehose: String,
    /// The log the firehose serves; benchmarks append to it directly.
    pub log: EventLog,
    /// The handles the server was built with.
    pub state: AppState,
    relay: Relay,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl BenchRelay {
    /// Starts a relay (as `atrelay serve` opens it, [`Relay::open`]) that admits up to
    /// `max_consumers` consumers, all from one address.
    pub async fn start(max_consumers: usize) -> BenchRelay {
        let dir = tempfile::tempdir().unwrap();
        let flags = [
            "atrelay".to_owned(),
            "serve".to_owned(),
            format!(
                "--db-url=sqlite://{}",
                dir.path().join("relay.sqlite").display()
            ),
            format!("--persist-dir={}", dir.path().display()),
            format!("--max-consumers={max_consumers}"),
            format!("--max-consumers-per-ip={max_consumers}"),
        ];
        let config = match atrelay::cli::Cli::try_parse_from(flags).unwrap().command {
            atrelay::cli::Command::Serve(config) => *config,
            other => panic!("parsed {other:?}"),
        };
        let relay = Relay::open(config).await.unwrap();
        let state = relay.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let firehose = format!(
            "ws://{}/xrpc/com.atproto.sync.subscribeRepos",
            listener.local_addr().unwrap()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(
            listener,
            server::router(state.clone()),
            async {
                let _ = stopped.await;
            },
        ));
        BenchRelay {
            firehose,
            log: state.log.clone(),
            state,
            relay,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The firehose URL with an optional cursor.
    pub fn url(&self, cursor: Option<i64>) -> String {
        match cursor {
            Some(cursor) => format!("{}?cursor={cursor}", self.firehose),
            None => self.firehose.clone(),
        }
    }

    /// Stops the server and every part of the relay.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let failures = self.relay.shutdown().await;
        assert!(
            failures.is_empty(),
            "the relay did not stop cleanly: {failures:?}"
        );
    }
}

/// A DID for the benchmark's events.
pub const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

/// An `#identity` frame of about `frame_bytes` bytes (the handle is padded).
fn identity_frame(seq: i64, frame_bytes: usize) -> bytes::Bytes {
    let padding = frame_bytes.saturating_sub(120);
    encode_frame(&Message::Identity(Identity {
        seq,
        did: DID.to_owned(),
        time: "2026-11-29T00:00:00.000Z".to_owned(),
        handle: Some(format!("h{}.example.com", "x".repeat(padding))),
        extra: Default::default(),
    }))
}

/// Appends `count` events of about `frame_bytes` each; returns the last seq once durable.
pub fn append_events(log: &EventLog, count: usize, frame_bytes: usize) -> i64 {
    let mut last = None;
    for _ in 0..count {
        last = Some(
            log.append(DID, 1, |seq| identity_frame(seq, frame_bytes))
                .unwrap(),
        );
    }
    last.map(|ticket| ticket.wait().unwrap()).unwrap_or(0)
}

/// A consumer reading binary frames and adding each to its counter.
pub struct Counting {
    /// Frames received so far.
    pub received: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Counting {
    /// Connects to `url` and counts frames until the stream ends or the consumer is dropped.
    pub async fn connect(url: &str) -> Counting {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if message.is_binary() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Counting { received, task }
    }

    /// Frames received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the relay has admitted `count` consumers, then a little longer for each to have
/// made its log reader (just after the upgrade), so that what is appended next reaches all.
pub async fn wait_for_consumers(relay: &BenchRelay, count: usize) {
    while relay.state.consumers.len() < count {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

/// Resident memory of this process in bytes (`VmRSS` of Linux's `/proc/self/status`).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmRSS in kB");
    kib * 1024
}
