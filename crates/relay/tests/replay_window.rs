//! Cursor replay of the whole window (issue 20): a log many times larger than every in-memory
//! bound of the firehose (the event log's read batch of 1,024 events, a live broadcast of 64
//! events, a `max_lag` of 500) is replayed completely from cursor 0, and from several cursors
//! at once while events are appended; every consumer gets every event once, in order, and goes
//! on live. A consumer that stops reading while live is still cut off.
//!
//! The bounded firehose runs on the scratch store of a [`TestRelay`] (SQLite, or PostgreSQL
//! with `TEST_DATABASE_URL`), with its own event log, consumer registry and server.

mod support;

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use atrelay::{
    config::FirehoseConfig,
    engine::consumers::{ConsumerLimits, Consumers},
    engine::ingest::{http_resolver, Ingest, IngestConfig},
    http::server,
    state::AppState,
};
use atrelay_eventlog::{Durability, EventLog};
use atrelay_stream::{decode_frame, encode_frame, Identity, Message};
use futures_util::StreamExt;
use support::{TestRelay, Ws, HANG_GUARD};
use tokio_tungstenite::tungstenite;

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
/// Events in the log before the consumers connect: 20 times the read batch, 300 times the
/// broadcast, 40 times `max_lag`.
const LOG_EVENTS: i64 = 20_000;
/// Capacity of the bounded relay's live broadcast.
const LIVE_BUFFER: usize = 64;
/// The bounded relay's `max_lag`.
const MAX_LAG: i64 = 500;

/// A firehose with small bounds, on the store of a test relay.
struct Bounded {
    ws_url: String,
    log: EventLog,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Bounded {
    async fn start(relay: &TestRelay, firehose: FirehoseConfig) -> Bounded {
        let dir = tempfile::tempdir().unwrap();
        let mut config = atrelay_eventlog::Config::new(dir.path().join("events"));
        config.durability = Durability::OsBuffered;
        config.segment_bytes = 256 << 10;
        config.live_buffer = LIVE_BUFFER;
        let log = EventLog::open(config).unwrap();
        // No host is followed: the resolver is never asked.
        let ingest = Ingest::new(
            relay.store.clone(),
            log.clone(),
            http_resolver(atrelay_identity::DEFAULT_PLC_URL, false).unwrap(),
            IngestConfig::default(),
        );
        let collections =
            atrelay_collections::CollectionIndex::open(dir.path().join("collections")).unwrap();
        let state = AppState {
            backfill: None,
            collections,
            ingest,
            store: relay.store.clone(),
            log: log.clone(),
            consumers: Consumers::new(ConsumerLimits {
                max_total: 32,
                max_per_ip: 32,
            }),
            firehose,
            readiness: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws_url = format!(
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
        Bounded {
            ws_url,
            log,
            state,
            stop: Some(stop),
            _dir: dir,
        }
    }

    async fn connect(&self, cursor: Option<i64>) -> Ws {
        let url = match cursor {
            Some(cursor) => format!("{}?cursor={cursor}", self.ws_url),
            None => self.ws_url.clone(),
        };
        tokio_tungstenite::connect_async(url).await.unwrap().0
    }

    /// Waits until the relay has admitted `count` consumers, then a moment for their readers.
    async fn wait_for_consumers(&self, count: usize) {
        tokio::time::timeout(HANG_GUARD, async {
            while self.state.consumers.len() < count {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("consumers never admitted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.state.ingest.shutdown().await;
        self.log.close().unwrap();
    }
}

/// The limits of these tests: `max_lag` far below the log's size, a short "too slow" duration
/// and send timeout, so that only a consumer that really stalls is cut off.
fn bounded_config() -> FirehoseConfig {
    FirehoseConfig {
        max_lag: MAX_LAG,
        too_slow_after: Duration::from_secs(10),
        send_timeout: Duration::from_secs(2),
        ..FirehoseConfig::default()
    }
}

/// Appends `count` `#identity` events with `padding` bytes of handle; returns the last seq once
/// durable.
fn append_many(log: &EventLog, count: i64, padding: usize) -> i64 {
    let handle = format!("h{}.example.com", "x".repeat(padding));
    let mut last = None;
    for _ in 0..count {
        let handle = handle.clone();
        last = Some(
            log.append(DID, 1, |seq| {
                encode_frame(&Message::Identity(Identity {
                    seq,
                    did: DID.to_owned(),
                    time: "2026-12-04T00:00:00.000Z".to_owned(),
                    handle: Some(handle),
                    extra: Default::default(),
                }))
            })
            .unwrap(),
        );
    }
    last.map_or(0, |ticket| ticket.wait().unwrap())
}

/// Appends on the blocking pool (the log's waits block).
async fn append_async(log: &EventLog, count: i64, padding: usize) -> i64 {
    let log = log.clone();
    tokio::task::spawn_blocking(move || append_many(&log, count, padding))
        .await
        .unwrap()
}

/// The next frame's message; `None` once the stream ended.
async fn next_frame(ws: &mut Ws) -> Option<Message> {
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, ws.next())
            .await
            .expect("no frame within the hang guard")?;
        match frame {
            Ok(tungstenite::Message::Binary(bytes)) => {
                return Some(decode_frame(&bytes).expect("the relay sent a bad frame"))
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Reads events up to `last` and checks they are exactly `after + 1 ..= last`, in order;
/// `progress` follows the newest seq received.
async fn expect_every_event(ws: &mut Ws, after: i64, last: i64, progress: &AtomicI64) {
    let mut expected = after + 1;
    while expected <= last {
        let message = next_frame(ws)
            .await
            .unwrap_or_else(|| panic!("stream ended before seq {expected} (cursor {after})"));
        assert_eq!(
            message.seq(),
            Some(expected),
            "cursor {after}: wrong event {message:?}"
        );
        progress.store(expected, Ordering::Relaxed);
        expected += 1;
    }
}

/// Runs an async test function on SQLite and, with `TEST_DATABASE_URL`, on PostgreSQL, on a
/// two-thread runtime (consumers, relay and appenders run side by side).
macro_rules! both_backends_mt {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let relay = $crate::support::TestRelay::sqlite().await;
                super::$name(&relay).await;
                relay.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(relay) = $crate::support::TestRelay::postgres().await else {
                    return;
                };
                super::$name(&relay).await;
                relay.finish().await;
            }
        }
    };
}

both_backends_mt!(one_consumer_replays_the_whole_log_from_cursor_0_then_goes_live);
async fn one_consumer_replays_the_whole_log_from_cursor_0_then_goes_live(relay: &TestRelay) {
    let bounded = Bounded::start(relay, bounded_config()).await;
    assert_eq!(
        append_async(&bounded.log, LOG_EVENTS, 100).await,
        LOG_EVENTS
    );

    let mut ws = bounded.connect(Some(0)).await;
    let progress = AtomicI64::new(0);
    expect_every_event(&mut ws, 0, LOG_EVENTS, &progress).await;
    // Caught up: what is appended now arrives live.
    let last = append_async(&bounded.log, 10, 100).await;
    expect_every_event(&mut ws, LOG_EVENTS, last, &progress).await;
    assert_eq!(bounded.state.consumers.frames_sent(), last as u64);
    drop(ws);
    bounded.finish().await;
}

both_backends_mt!(consumers_at_different_cursors_each_get_every_event_while_events_are_appended);
async fn consumers_at_different_cursors_each_get_every_event_while_events_are_appended(
    relay: &TestRelay,
) {
    let bounded = Bounded::start(relay, bounded_config()).await;
    append_async(&bounded.log, LOG_EVENTS, 100).await;
    const APPENDED: i64 = 5_000;
    const LIVE: i64 = 10;
    let caught_up = LOG_EVENTS + APPENDED;
    let last = caught_up + LIVE;

    let cursors = [0, 1, 4_999, 12_345, LOG_EVENTS - 1, LOG_EVENTS];
    let mut consumers = Vec::new();
    for cursor in cursors {
        let mut ws = bounded.connect(Some(cursor)).await;
        let progress = Arc::new(AtomicI64::new(cursor));
        let seen = progress.clone();
        consumers.push((
            progress,
            tokio::spawn(async move {
                expect_every_event(&mut ws, cursor, last, &seen).await;
                ws
            }),
        ));
    }
    // Appended while the consumers replay, in bursts.
    for _ in 0..10 {
        append_async(&bounded.log, APPENDED / 10, 100).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Once all have caught up, the last events reach them live.
    tokio::time::timeout(HANG_GUARD, async {
        while consumers
            .iter()
            .any(|(progress, _)| progress.load(Ordering::Relaxed) < caught_up)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the consumers never caught up");
    assert_eq!(append_async(&bounded.log, LIVE, 100).await, last);
    for (_, task) in consumers {
        let ws = task.await.expect("a consumer missed or repeated an event");
        drop(ws);
    }
    bounded.finish().await;
}

both_backends_mt!(a_consumer_that_stops_reading_while_live_is_cut_off);
async fn a_consumer_that_stops_reading_while_live_is_cut_off(relay: &TestRelay) {
    let bounded = Bounded::start(relay, bounded_config()).await;
    append_async(&bounded.log, 1_000, 100).await;
    // Both replay the log first, then follow live; `stalled` stops reading once caught up.
    let mut stalled = bounded.connect(Some(0)).await;
    let mut reading = bounded.connect(Some(0)).await;
    let progress = AtomicI64::new(0);
    expect_every_event(&mut stalled, 0, 1_000, &progress).await;
    let reader = tokio::spawn(async move {
        let progress = AtomicI64::new(0);
        expect_every_event(&mut reading, 0, 16_000, &progress).await;
        reading
    });
    bounded.wait_for_consumers(2).await;

    // ~30 MB: far more than loopback socket buffers hold for the consumer that stopped reading.
    let last = append_async(&bounded.log, 15_000, 2_000).await;
    assert_eq!(last, 16_000);
    let _reading = reader
        .await
        .expect("the reading consumer was held back or cut off");

    // While it does not read, the relay cuts it off (its send timeout is 2 s).
    tokio::time::timeout(HANG_GUARD, async {
        while bounded.state.consumers.len() > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the stalled consumer was never cut off");
    // Drain what it was sent before: it must have been cut off early.
    let mut received = 0;
    let mut error = None;
    while let Some(message) = next_frame(&mut stalled).await {
        match message {
            Message::Error(frame) => error = Some(frame.error),
            _ => received += 1,
        }
    }
    assert!(
        received < 15_000,
        "the stalled consumer got every event ({received}); it should have been cut off"
    );
    if let Some(error) = error {
        assert_eq!(error, "ConsumerTooSlow");
    }
    bounded.finish().await;
}
