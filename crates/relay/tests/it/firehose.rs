//! `subscribeRepos` over real websockets: live, replay at each cursor case, the crossover
//! under concurrent appends, and a slow consumer that must not hold anyone back.

use crate::support;

use std::time::{Duration, SystemTime};

use atrelay_eventlog::EventLog;
use atrelay_stream::{decode_frame, encode_frame, Identity, Message};
use bytes::Bytes;
use futures_util::StreamExt;
use support::TestRelay;
use tokio_tungstenite::{connect_async, tungstenite, MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

/// Appends an `#identity` event whose handle carries `padding` bytes; returns its seq.
fn append(log: &EventLog, padding: usize) -> i64 {
    let handle = format!("h{}.example.com", "x".repeat(padding));
    let ticket = log
        .append(DID, 1, |seq| {
            encode_frame(&Message::Identity(Identity {
                seq,
                did: DID.to_owned(),
                time: "2026-11-23T00:00:00.000Z".to_owned(),
                handle: Some(handle),
                extra: Default::default(),
            }))
        })
        .unwrap();
    ticket.wait().unwrap()
}

/// Appends `count` events; returns the last seq.
fn append_many(log: &EventLog, count: usize, padding: usize) -> i64 {
    let mut last = 0;
    for _ in 0..count {
        last = append(log, padding);
    }
    last
}

async fn connect(relay: &TestRelay, cursor: Option<i64>) -> Socket {
    connect_async(relay.firehose_url(cursor)).await.unwrap().0
}

/// Reads the next frame (skipping pings), or `None` when the stream ended.
async fn next_frame(socket: &mut Socket) -> Option<Message> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("no frame within 20 s")?;
        match frame {
            Ok(tungstenite::Message::Binary(bytes)) => {
                return Some(
                    decode_frame(&bytes).expect("the relay sent a frame that does not decode"),
                )
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn expect_seqs(socket: &mut Socket, seqs: std::ops::RangeInclusive<i64>) {
    for expected in seqs {
        let message = next_frame(socket).await.expect("stream ended early");
        assert_eq!(message.seq(), Some(expected), "{message:?}");
    }
}

both_backends!(live_consumer_gets_new_events_only);
async fn live_consumer_gets_new_events_only(relay: &TestRelay) {
    append(&relay.log, 0);
    append(&relay.log, 0);
    let mut socket = connect(relay, None).await;
    // The reader is made after the upgrade; give it a moment before appending.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = append(&relay.log, 0);
    let second = append(&relay.log, 0);
    expect_seqs(&mut socket, first..=second).await;
}

both_backends!(replay_cases);
async fn replay_cases(relay: &TestRelay) {
    let last = append_many(&relay.log, 10, 0);
    assert_eq!(last, 10);

    // Inside the window: strictly after the cursor, then live.
    let mut socket = connect(relay, Some(4)).await;
    expect_seqs(&mut socket, 5..=10).await;
    let next = append(&relay.log, 0);
    expect_seqs(&mut socket, next..=next).await;

    // Cursor 0: the whole window.
    let mut socket = connect(relay, Some(0)).await;
    expect_seqs(&mut socket, 1..=next).await;

    // Ahead of the newest event: FutureCursor, then the stream closes.
    let mut socket = connect(relay, Some(next + 5)).await;
    match next_frame(&mut socket).await {
        Some(Message::Error(frame)) => assert_eq!(frame.error, "FutureCursor"),
        other => panic!("expected a FutureCursor error frame, got {other:?}"),
    }
    assert!(next_frame(&mut socket).await.is_none());

    // Malformed cursors are refused before the upgrade with a 400.
    for bad in ["-1", "abc"] {
        let url = relay
            .firehose_url(None)
            .replace("subscribeRepos", &format!("subscribeRepos?cursor={bad}"));
        match connect_async(url).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
            other => panic!(
                "cursor {bad}: expected HTTP 400, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

both_backends!(outdated_cursor_gets_info_then_the_whole_window);
async fn outdated_cursor_gets_info_then_the_whole_window(relay: &TestRelay) {
    // 2 KiB events fill several 64 KiB segments; pruning "in the future" drops the sealed ones.
    let last = append_many(&relay.log, 200, 2000);
    let report = relay
        .log
        .prune(SystemTime::now() + Duration::from_secs(100 * 3600))
        .unwrap();
    let oldest = relay.log.oldest_seq().unwrap();
    assert!(oldest > 1, "retention dropped nothing: {report:?}");

    let mut socket = connect(relay, Some(1)).await;
    match next_frame(&mut socket).await {
        Some(Message::Info(info)) => assert_eq!(info.name, "OutdatedCursor"),
        other => panic!("expected #info OutdatedCursor, got {other:?}"),
    }
    expect_seqs(&mut socket, oldest..=last).await;
}

both_backends!(crossover_under_concurrent_appends_has_no_gap_or_duplicate);
async fn crossover_under_concurrent_appends_has_no_gap_or_duplicate(relay: &TestRelay) {
    for _ in 0..500 {
        append(&relay.log, 100);
    }
    let log = relay.log.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut last = 0;
        for _ in 0..3000 {
            last = append(&log, 100);
        }
        last
    });
    // Consumers join at different points while the writer runs.
    let mut sockets = Vec::new();
    for cursor in [0, 250, 499] {
        sockets.push((cursor, connect(relay, Some(cursor)).await));
    }
    let last = writer.await.unwrap();
    for (cursor, mut socket) in sockets {
        expect_seqs(&mut socket, cursor + 1..=last).await;
    }
}

both_backends!(a_consumer_that_never_reads_is_dropped_without_slowing_others);
async fn a_consumer_that_never_reads_is_dropped_without_slowing_others(relay: &TestRelay) {
    let mut slow = connect(relay, None).await;
    let mut fast = connect(relay, None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // ~30 MB: far more than loopback socket buffers hold for the reader that never reads.
    let log = relay.log.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut seqs = Vec::new();
        for _ in 0..15_000 {
            seqs.push(append(&log, 2000));
        }
        seqs
    });
    let mut received = 0;
    let mut previous = 0;
    while received < 15_000 {
        let message = next_frame(&mut fast).await.expect("fast consumer cut off");
        let seq = message.seq().unwrap();
        assert!(seq > previous, "seq {seq} after {previous}");
        previous = seq;
        received += 1;
    }
    let seqs = writer.await.unwrap();
    assert_eq!(previous, *seqs.last().unwrap());

    // The relay must drop the slow consumer on its own, while it still reads nothing: draining
    // it earlier would unblock its socket, and a consumer that then keeps up is rightly kept.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while relay.state.consumers.len() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay still serves the consumer that reads nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Now drain what the slow consumer was sent: it must have been cut off early.
    let mut slow_received = 0;
    let mut too_slow_frame = false;
    while let Some(message) = next_frame(&mut slow).await {
        match message {
            Message::Error(frame) => {
                assert_eq!(frame.error, "ConsumerTooSlow");
                too_slow_frame = true;
            }
            _ => slow_received += 1,
        }
    }
    assert!(
        slow_received < 15_000,
        "the slow consumer got every event ({slow_received}); it should have been dropped"
    );
    eprintln!("slow consumer got {slow_received} events before being dropped (error frame: {too_slow_frame})");
}

#[tokio::test]
async fn metrics_count_consumers_and_frames() {
    let relay = TestRelay::sqlite().await;
    let last = append_many(&relay.log, 3, 0);
    let mut socket = connect(&relay, Some(0)).await;
    expect_seqs(&mut socket, 1..=last).await;
    let text = atrelay::http::metrics::render(&relay.state);
    for line in [
        "atrelay_firehose_consumers 1",
        "atrelay_firehose_frames_sent_total 3",
        "atrelay_eventlog_newest_seq 3",
        "atrelay_firehose_consumers_admitted_total 1",
        "# TYPE atrelay_firehose_frames_sent_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    relay.finish().await;
}

#[tokio::test]
async fn frames_are_the_logged_bytes() {
    let relay = TestRelay::sqlite().await;
    let seq = append(&relay.log, 10);
    let mut reader = relay.log.reader(Some(seq - 1)).unwrap();
    let logged: Bytes = reader.next().await.unwrap().into_body();
    let mut socket = connect(&relay, Some(seq - 1)).await;
    let frame = loop {
        match socket.next().await.unwrap().unwrap() {
            tungstenite::Message::Binary(bytes) => break bytes,
            _ => continue,
        }
    };
    assert_eq!(frame, logged);
    relay.finish().await;
}
