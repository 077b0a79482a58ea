//! `atrelay splitter` as a real process following an in-process relay over loopback: its
//! consumers get the relay's frames byte for byte with the relay's seqs, a consumer moves
//! between splitters with its cursor, a splitter killed with `kill -9` resumes without gap or
//! duplicate, an upstream restart is followed, an upstream behind the splitter (reset) is
//! reported, and the read-only sync routes are proxied.

use crate::support;

use std::time::Duration;

use atrelay_eventlog::EventLog;
use atrelay_stream::{decode_frame, encode_frame, Identity, Message};
use bytes::Bytes;
use futures_util::StreamExt;
use support::{process, TestRelay, HANG_GUARD};
use tokio_tungstenite::{connect_async, tungstenite, MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

/// Appends an `#identity` event to the relay's log; returns its seq once durable.
fn append(log: &EventLog) -> i64 {
    let ticket = log
        .append(DID, 4, |seq| {
            encode_frame(&Message::Identity(Identity {
                seq,
                did: DID.to_owned(),
                time: "2026-12-08T00:00:00.000Z".to_owned(),
                handle: Some(format!("h{seq}.example.com")),
                extra: Default::default(),
            }))
        })
        .unwrap();
    ticket.wait().unwrap()
}

fn append_many(log: &EventLog, count: usize) -> i64 {
    let mut last = 0;
    for _ in 0..count {
        last = append(log);
    }
    last
}

/// `ws://` of an `http://` base.
fn ws(base: &str) -> String {
    base.replacen("http://", "ws://", 1)
}

async fn subscribe(base: &str, cursor: Option<i64>) -> Socket {
    let url = match cursor {
        Some(cursor) => format!(
            "{}/xrpc/com.atproto.sync.subscribeRepos?cursor={cursor}",
            ws(base)
        ),
        None => format!("{}/xrpc/com.atproto.sync.subscribeRepos", ws(base)),
    };
    connect_async(url).await.expect("subscribe").0
}

/// The next binary frame, or `None` when the stream ended.
async fn next_frame(socket: &mut Socket) -> Option<Bytes> {
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, socket.next())
            .await
            .expect("no frame within the hang guard")?;
        match frame {
            Ok(tungstenite::Message::Binary(bytes)) => return Some(bytes),
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

fn seq_of(frame: &[u8]) -> Option<i64> {
    decode_frame(frame).expect("frames decode").seq()
}

/// Reads frames until the one with seq `last`; every frame must carry a seq.
async fn frames_until(socket: &mut Socket, last: i64) -> Vec<Bytes> {
    let mut frames = Vec::new();
    loop {
        let frame = next_frame(socket).await.expect("stream ended early");
        let seq = seq_of(&frame).expect("a sequenced frame");
        frames.push(frame);
        if seq >= last {
            return frames;
        }
    }
}

/// Waits until the splitter at `base` stored `seq` (its `/status`).
async fn wait_stored(base: &str, seq: i64) {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            if let Ok(answer) = reqwest::get(format!("{base}/status")).await {
                let status: serde_json::Value = answer.json().await.unwrap();
                if status["log"]["newestSeq"].as_i64() >= Some(seq) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the splitter never stored the seq");
}

/// Waits until the splitter's health says the upstream is in `state`.
async fn wait_upstream_state(base: &str, state: &str) -> serde_json::Value {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            if let Ok(answer) = reqwest::get(format!("{base}/xrpc/_health")).await {
                let health: serde_json::Value = answer.json().await.unwrap();
                if health["upstream"]["state"] == state {
                    return health;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the upstream never got to {state}"))
}

fn splitter(relay_base: &str, dir: &std::path::Path) -> process::Relay {
    process::Relay::splitter(
        &ws(relay_base),
        dir,
        &["--start-cursor", "0", "--reconnect-max-backoff", "200ms"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_splitters_serve_the_relays_frames_and_a_consumer_moves_between_them() {
    let relay = TestRelay::sqlite().await;
    append_many(&relay.log, 40);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = splitter(&relay.base, dir_a.path());
    let b = splitter(&relay.base, dir_b.path());
    // Live consumers of both splitters, connected before the rest is appended.
    wait_stored(&a.api, 40).await;
    wait_stored(&b.api, 40).await;
    let mut live_a = subscribe(&a.api, None).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let last = append_many(&relay.log, 60);
    assert_eq!(last, 100);

    let mut from_relay = subscribe(&relay.base, Some(0)).await;
    let expected = frames_until(&mut from_relay, last).await;
    assert_eq!(expected.len(), 100);
    for splitter in [&a, &b] {
        let mut socket = subscribe(&splitter.api, Some(0)).await;
        let frames = frames_until(&mut socket, last).await;
        assert!(
            frames == expected,
            "{} sent other bytes than the relay",
            splitter.api
        );
    }
    let live = frames_until(&mut live_a, last).await;
    assert!(live == expected[40..], "the live consumer got other frames");

    // A consumer reads 30 frames from one splitter and goes on from the other with its cursor.
    let mut first = subscribe(&a.api, Some(0)).await;
    let mut moved = frames_until(&mut first, 30).await;
    drop(first);
    let mut second = subscribe(&b.api, Some(30)).await;
    moved.extend(frames_until(&mut second, last).await);
    assert!(
        moved == expected,
        "the moving consumer missed or repeated frames"
    );

    // The same cursor rules as the relay.
    let mut ahead = subscribe(&a.api, Some(last + 10)).await;
    let error = decode_frame(&next_frame(&mut ahead).await.unwrap()).unwrap();
    assert!(
        matches!(&error, Message::Error(e) if e.error == "FutureCursor"),
        "{error:?}"
    );
    assert!(next_frame(&mut ahead).await.is_none());

    // Health, status and metrics.
    let health = reqwest::get(format!("{}/xrpc/_health", a.api))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = health.json().await.unwrap();
    assert_eq!(health["upstream"]["state"], "connected", "{health}");
    let metrics = reqwest::get(format!("{}/metrics", a.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "atrelay_splitter_upstream_connected 1",
        "atrelay_splitter_frames_in_total 100",
        "atrelay_splitter_upstream_lag_seq 0",
        "atrelay_eventlog_newest_seq 100",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    assert!(metrics.contains("atrelay_firehose_frames_sent_total"));
    assert!(metrics.contains("atrelay_splitter_upstream_lag_seconds"));

    // The read-only sync routes are the relay's answers; redirects are passed back.
    for path in [
        "/xrpc/com.atproto.sync.listHosts",
        "/xrpc/com.atproto.sync.listRepos?limit=5",
        "/xrpc/com.atproto.sync.getHostStatus?hostname=pds.example.com",
        "/xrpc/com.atproto.sync.getRepoStatus?did=did:plc:nobody",
        "/xrpc/com.atproto.sync.getLatestCommit?did=bad",
        "/xrpc/com.atproto.sync.getRepo?did=did:plc:nobody",
        "/xrpc/com.atproto.sync.listReposByCollection?collection=app.bsky.feed.post",
    ] {
        let direct = relay.get(path).await;
        let proxied = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}{path}", a.api))
            .send()
            .await
            .unwrap();
        assert_eq!(proxied.status(), direct.status(), "{path}");
        assert_eq!(
            proxied.headers().get("location"),
            direct.headers().get("location"),
            "{path}"
        );
        assert_eq!(
            proxied.text().await.unwrap(),
            direct.text().await.unwrap(),
            "{path}"
        );
    }
    let crawl = reqwest::Client::new()
        .post(format!("{}/xrpc/com.atproto.sync.requestCrawl", a.api))
        .json(&serde_json::json!({ "hostname": "not a hostname" }))
        .send()
        .await
        .unwrap();
    assert_eq!(crawl.status(), 400);
    let crawl: serde_json::Value = crawl.json().await.unwrap();
    assert_eq!(crawl["error"], "InvalidRequest", "{crawl}");
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_splitter_killed_mid_stream_resumes_without_gap_or_duplicate() {
    let relay = TestRelay::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let first = splitter(&relay.base, dir.path());
    // The relay takes events the whole time: before, during and after the kill.
    let log = relay.log.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_writer = stop.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut last = 0;
        while !stop_writer.load(std::sync::atomic::Ordering::Relaxed) {
            last = append(&log);
            std::thread::sleep(Duration::from_micros(500));
        }
        last
    });
    wait_stored(&first.api, 100).await;
    first.kill_hard();
    let at_kill = relay.log.newest_seq();
    let second = splitter(&relay.base, dir.path());
    wait_stored(&second.api, at_kill + 100).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let last = writer.await.unwrap();

    let mut from_relay = subscribe(&relay.base, Some(0)).await;
    let expected = frames_until(&mut from_relay, last).await;
    let mut socket = subscribe(&second.api, Some(0)).await;
    let frames = frames_until(&mut socket, last).await;
    let seqs: Vec<i64> = frames.iter().map(|f| seq_of(f).unwrap()).collect();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    assert!(
        frames == expected,
        "the restarted splitter sent other bytes"
    );
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_restart_is_followed_and_an_upstream_reset_is_reported() {
    let relay = TestRelay::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let split = splitter(&relay.base, dir.path());
    append_many(&relay.log, 20);
    wait_stored(&split.api, 20).await;

    let relay = relay.restart_same_port().await;
    let last = append_many(&relay.log, 20);
    assert_eq!(last, 40);
    wait_stored(&split.api, last).await;
    let mut from_relay = subscribe(&relay.base, Some(0)).await;
    let expected = frames_until(&mut from_relay, last).await;
    let mut socket = subscribe(&split.api, Some(0)).await;
    assert!(frames_until(&mut socket, last).await == expected);
    let (code, _, output) = split.terminate();
    assert_eq!(code, Some(0), "{output}");

    // A new, empty relay at another address: the splitter's cursor is ahead of it.
    let fresh = TestRelay::sqlite().await;
    let mut split = process::Relay::splitter(
        &ws(&fresh.base),
        dir.path(),
        &[
            "--reconnect-max-backoff",
            "200ms",
            "--max-consumers-per-ip",
            "1",
        ],
    );
    let health = wait_upstream_state(&split.api, "upstream_behind").await;
    assert_eq!(health["status"], "error", "{health}");
    assert!(
        split.output().contains("upstream answered FutureCursor"),
        "{}",
        split.output()
    );
    // What it stored is still served, under the consumer limits.
    let mut socket = subscribe(&split.api, Some(0)).await;
    assert!(frames_until(&mut socket, last).await == expected);
    let url = format!("{}/xrpc/com.atproto.sync.subscribeRepos", ws(&split.api));
    match connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("a second consumer from one address was admitted: {other:?}"),
    }
    drop(split);
    relay.finish().await;
    fresh.finish().await;
}

#[test]
fn a_bad_upstream_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_atrelay"))
        .args(["splitter", "--upstream", "relay.example", "--persist-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("write wss://relay.example"), "{stderr}");
}
