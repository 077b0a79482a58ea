//! Cursor replay of the whole window (issue 20): a log many times larger than every in-memory
//! bound of the firehose (the event log's read batch of 1,024 events, a live broadcast of 64
//! events, a `max_lag` of 500) is replayed completely from cursor 0, and from several cursors
//! at once while events are appended; every consumer gets every event once, in order, and goes
//! on live. A consumer that stops reading while live is still cut off.
//!
//! The bounded firehose is a [`TestRelay`] (SQLite, or PostgreSQL with `TEST_DATABASE_URL`)
//! opened with these tests' small bounds ([`Tweaks`]).

use crate::support;

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};

use atrelay::config::FirehoseConfig;
use atrelay_eventlog::EventLog;
use atrelay_stream::{decode_frame, encode_frame, Identity, Message};
use futures_util::StreamExt;
use support::{connect, TestRelay, Tweaks, Ws, HANG_GUARD};
use tokio_tungstenite::tungstenite;

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
/// Events in the log before the consumers connect: 20 times the read batch, 300 times the
/// broadcast, 40 times `max_lag`.
const LOG_EVENTS: i64 = 20_000;
/// Capacity of the bounded relay's live broadcast.
const LIVE_BUFFER: usize = 64;
/// The bounded relay's `max_lag`.
const MAX_LAG: i64 = 500;

/// The small bounds of these tests: a live broadcast of [`LIVE_BUFFER`] events and larger
/// segments, so the log spans many of them.
fn bounded() -> Tweaks {
    Tweaks {
        firehose: Some(bounded_config()),
        event_log: Some(|log| {
            log.segment_bytes = 256 << 10;
            log.live_buffer = LIVE_BUFFER;
        }),
    }
}

/// Waits until the relay has admitted `count` consumers, then a moment for their readers.
async fn wait_for_consumers(relay: &TestRelay, count: usize) {
    tokio::time::timeout(HANG_GUARD, async {
        while relay.state.consumers.len() < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("consumers never admitted");
    tokio::time::sleep(Duration::from_millis(200)).await;
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
                let relay = $crate::support::TestRelay::sqlite_tweaked(super::bounded()).await;
                super::$name(&relay).await;
                relay.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(relay) =
                    $crate::support::TestRelay::postgres_tweaked(super::bounded()).await
                else {
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
    assert_eq!(append_async(&relay.log, LOG_EVENTS, 100).await, LOG_EVENTS);

    let mut ws = connect(relay, Some(0)).await;
    let progress = AtomicI64::new(0);
    expect_every_event(&mut ws, 0, LOG_EVENTS, &progress).await;
    // Caught up: what is appended now arrives live.
    let last = append_async(&relay.log, 10, 100).await;
    expect_every_event(&mut ws, LOG_EVENTS, last, &progress).await;
    assert_eq!(relay.state.consumers.frames_sent(), last as u64);
    drop(ws);
}

both_backends_mt!(consumers_at_different_cursors_each_get_every_event_while_events_are_appended);
async fn consumers_at_different_cursors_each_get_every_event_while_events_are_appended(
    relay: &TestRelay,
) {
    append_async(&relay.log, LOG_EVENTS, 100).await;
    const APPENDED: i64 = 5_000;
    const LIVE: i64 = 10;
    let caught_up = LOG_EVENTS + APPENDED;
    let last = caught_up + LIVE;

    let cursors = [0, 1, 4_999, 12_345, LOG_EVENTS - 1, LOG_EVENTS];
    let mut consumers = Vec::new();
    for cursor in cursors {
        let mut ws = connect(relay, Some(cursor)).await;
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
        append_async(&relay.log, APPENDED / 10, 100).await;
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
    assert_eq!(append_async(&relay.log, LIVE, 100).await, last);
    for (_, task) in consumers {
        let ws = task.await.expect("a consumer missed or repeated an event");
        drop(ws);
    }
}

both_backends_mt!(a_consumer_that_stops_reading_while_live_is_cut_off);
async fn a_consumer_that_stops_reading_while_live_is_cut_off(relay: &TestRelay) {
    append_async(&relay.log, 1_000, 100).await;
    // Both replay the log first, then follow live; `stalled` stops reading once caught up.
    let mut stalled = connect(relay, Some(0)).await;
    let mut reading = connect(relay, Some(0)).await;
    let progress = AtomicI64::new(0);
    expect_every_event(&mut stalled, 0, 1_000, &progress).await;
    let reader = tokio::spawn(async move {
        let progress = AtomicI64::new(0);
        expect_every_event(&mut reading, 0, 16_000, &progress).await;
        reading
    });
    wait_for_consumers(relay, 2).await;

    // ~30 MB: far more than loopback socket buffers hold for the consumer that stopped reading.
    let last = append_async(&relay.log, 15_000, 2_000).await;
    assert_eq!(last, 16_000);
    let _reading = reader
        .await
        .expect("the reading consumer was held back or cut off");

    // While it does not read, the relay cuts it off (its send timeout is 2 s).
    tokio::time::timeout(HANG_GUARD, async {
        while relay.state.consumers.len() > 1 {
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
}
