//! Ingest end to end: fake PDSes (real signed repositories, real websockets) → requestCrawl →
//! relay → the relay's own firehose, on SQLite and PostgreSQL. One module per topic: `flow`
//! (order, drops, account states), `restart` (cursors, resets, where a new host starts),
//! `crawl` (requestCrawl checks) and `limits` (account limits, their growth, event rates).

use crate::support;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use atrelay::engine::ingest::DropReason;
use atrelay_store::{Setting, StoreError};
use atrelay_stream::{decode_frame, Message, WireStatus};
use atrelay_testkit::{
    sample_record, AccountOptions, FakeDirectory, FakePds, Misbehavior, RecordPath,
};
use support::{
    connect, next_message, unsequenced, wait_for_cursor, IngestSetup, TestRelay, Ws, HANG_GUARD,
};

fn setup(directory: &FakeDirectory) -> IngestSetup {
    IngestSetup::for_directory(directory)
}

/// Reads `n` messages, checking that the relay's seq strictly increases.
async fn read_messages(ws: &mut Ws, n: usize, last_seq: &mut i64) -> Vec<Message> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let message = next_message(ws).await;
        let seq = message.seq().expect("event without seq");
        assert!(seq > *last_seq, "relay seq {seq} after {last_seq}");
        *last_seq = seq;
        out.push(message);
    }
    out
}

/// The PDS's events, decoded, except those whose upstream seq is in `dropped`.
fn pds_messages(pds: &FakePds, dropped: &HashSet<i64>) -> Vec<Message> {
    pds.events()
        .into_iter()
        .filter(|event| !dropped.contains(&event.seq))
        .map(|event| unsequenced(decode_frame(&event.frame).expect("PDS frame")))
        .collect()
}

/// The relayed messages about `dids`, in order.
fn about(messages: &[Message], dids: &[String]) -> Vec<Message> {
    messages
        .iter()
        .filter(|m| m.did().is_some_and(|d| dids.iter().any(|x| x == d)))
        .cloned()
        .map(unsequenced)
        .collect()
}

async fn wait_until(mut condition: impl FnMut() -> bool) {
    tokio::time::timeout(HANG_GUARD, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("condition never held");
}

/// Writes one post as `did` (one `#commit`).
fn write(pds: &FakePds, did: &str) {
    pds.create_record(
        did,
        "app.bsky.feed.post",
        sample_record("app.bsky.feed.post", "hello"),
    )
    .unwrap();
}

/// The next relayed message about `did` that `want` accepts, skipping others.
async fn next_about(ws: &mut Ws, did: &str, want: impl Fn(&Message) -> bool) -> Message {
    loop {
        let message = next_message(ws).await;
        if message.did() == Some(did) && want(&message) {
            return message;
        }
    }
}

async fn repo_status(relay: &TestRelay, did: &str) -> serde_json::Value {
    relay
        .get(&format!("/xrpc/com.atproto.sync.getRepoStatus?did={did}"))
        .await
        .json()
        .await
        .unwrap()
}

/// Like `both_backends_ingest!`, with the ingest set-up `$setup(&directory)`.
macro_rules! both_backends_with {
    ($name:ident, $setup:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let directory = atrelay_testkit::FakeDirectory::start().await.unwrap();
                let relay =
                    crate::support::TestRelay::sqlite_ingest(super::$setup(&directory)).await;
                super::$name(relay, &directory).await.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let directory = atrelay_testkit::FakeDirectory::start().await.unwrap();
                let Some(relay) =
                    crate::support::TestRelay::postgres_ingest(super::$setup(&directory)).await
                else {
                    return;
                };
                super::$name(relay, &directory).await.finish().await;
            }
        }
    };
}

mod crawl;
mod flow;
mod limits;
mod restart;
