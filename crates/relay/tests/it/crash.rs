//! Exactly once across crashes and outages (issue 13), against the real `atrelay serve`
//! binary and three fake PDS hosts that sign genuine commits:
//!
//! - `kill -9` of the relay at several points while it ingests, a restart on the same data
//!   each time; then a replay from cursor 0 holds every upstream event exactly once, in
//!   strictly increasing seq.
//! - PostgreSQL refusing connections for 11 s mid-ingest (its own database): ingest pauses and
//!   resumes by itself, and again every event arrives exactly once.
//! - The event log's disk failing under the binary (every fsync errors): the process stops
//!   with status 1 and says why; restarted once the disk is back, it recovers exactly once.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use atrelay_store::testing::OwnDatabase;
use atrelay_stream::{decode_frame_bytes, Message};
use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds};
use futures_util::StreamExt;
use support::process::Relay;

/// Hosts, accounts per host and events per account made before the relay starts.
const HOSTS: usize = 3;
const ACCOUNTS: usize = 6;
const COMMITS_PER_ACCOUNT: usize = 40;

/// What identifies an event across the upstream and the relay: its type, DID, and rev (commits,
/// syncs) or time (identity, account).
type Key = (String, String, String);

fn key(message: &Message) -> Option<Key> {
    let (kind, did, detail) = match message {
        Message::Commit(c) => ("commit", c.repo.clone(), c.rev.clone()),
        Message::Sync(s) => ("sync", s.did.clone(), s.rev.clone()),
        Message::Identity(i) => ("identity", i.did.clone(), i.time.clone()),
        Message::Account(a) => (
            "account",
            a.did.clone(),
            format!("{} {} {:?}", a.time, a.active, a.status),
        ),
        _ => return None,
    };
    Some((kind.to_owned(), did, detail))
}

/// Counts of each event key.
fn tally(keys: impl IntoIterator<Item = Key>) -> BTreeMap<Key, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Three hosts with accounts and a history of commits, identity and account events.
async fn upstream() -> (FakeDirectory, Vec<FakePds>) {
    let directory = FakeDirectory::start().await.unwrap();
    let mut hosts = Vec::new();
    for _ in 0..HOSTS {
        hosts.push(FakePds::start(&directory).await.unwrap());
    }
    for pds in &hosts {
        add_events(pds, COMMITS_PER_ACCOUNT);
    }
    (directory, hosts)
}

/// Gives every host `ACCOUNTS` accounts (on first use) and `commits` more commits per account,
/// with an identity event and a deactivate/activate pair along the way.
fn add_events(pds: &FakePds, commits: usize) {
    while pds.dids().len() < ACCOUNTS {
        pds.create_account(AccountOptions::default()).unwrap();
    }
    for did in pds.dids() {
        for i in 0..commits {
            let text = format!("post {i} of {did}");
            pds.create_record(
                &did,
                "app.bsky.feed.post",
                sample_record("app.bsky.feed.post", &text),
            )
            .unwrap();
            if i == commits / 3 {
                pds.emit_identity(&did).unwrap();
            }
            if i == commits / 2 {
                pds.set_status(&did, Some(atrelay_stream::AccountStatus::Deactivated))
                    .unwrap();
                pds.set_status(&did, None).unwrap();
            }
        }
    }
}

/// Every event the hosts emitted.
fn upstream_keys(hosts: &[FakePds]) -> BTreeMap<Key, usize> {
    tally(hosts.iter().flat_map(|pds| {
        pds.events()
            .into_iter()
            .filter_map(|event| decode_frame_bytes(&event.frame).ok().as_ref().and_then(key))
    }))
}

/// Arguments for a relay that dials loopback hosts, resolves DIDs at `directory`, and reads
/// each host at a pace that keeps ingest going for several seconds.
fn relay_args(directory: &FakeDirectory) -> Vec<String> {
    vec![
        "--allow-insecure-hosts".into(),
        "--plc-host".into(),
        directory.url(),
        "--host-events-per-second".into(),
        "40".into(),
    ]
}

fn start(db_url: &str, persist: &Path, args: &[String]) -> Relay {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Relay::start(db_url, persist, &args)
}

/// The relay's newest event-log seq, from its metrics.
async fn newest_seq(relay: &Relay) -> i64 {
    let Ok(response) = reqwest::get(format!("{}/metrics", relay.metrics)).await else {
        return -1;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("atrelay_eventlog_newest_seq "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(-1, |v| v as i64)
}

/// Waits until the log's newest seq reaches `target` (three minutes at most).
async fn wait_for_seq(relay: &mut Relay, target: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let seq = newest_seq(relay).await;
        if seq >= target {
            return seq;
        }
        assert!(
            Instant::now() < deadline,
            "the log stayed at {seq}, below {target}; output:\n{}",
            relay.output()
        );
        assert!(
            relay.exited().is_none(),
            "relay exited:\n{}",
            relay.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks the relay to follow every host.
async fn crawl_all(relay: &Relay, hosts: &[FakePds]) {
    for pds in hosts {
        pds.request_crawl(&relay.api).await.unwrap();
    }
}

/// Replays the relay's log from cursor 0: every event's key, checking seqs strictly increase.
async fn replay_all(relay: &Relay, expected: usize) -> BTreeMap<Key, usize> {
    let url = format!(
        "{}/xrpc/com.atproto.sync.subscribeRepos?cursor=0",
        relay.api.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut keys = Vec::new();
    let mut last_seq = 0;
    while keys.len() < expected {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        let Ok(Some(Ok(frame))) = next else { break };
        let tokio_tungstenite::tungstenite::Message::Binary(bytes) = frame else {
            continue;
        };
        let message = decode_frame_bytes(&bytes).unwrap();
        let seq = message.seq().unwrap();
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
        keys.extend(key(&message));
    }
    // Nothing more than expected arrives.
    if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(bytes)))) =
        tokio::time::timeout(Duration::from_secs(2), ws.next()).await
    {
        keys.extend(key(&decode_frame_bytes(&bytes).unwrap()));
    }
    tally(keys)
}

/// Waits until the relay's log holds `total` events, then checks the replay equals `expected`.
async fn check_exactly_once(relay: &mut Relay, expected: &BTreeMap<Key, usize>) {
    let total: usize = expected.values().sum();
    wait_for_seq(relay, total as i64).await;
    // Anything re-emitted would land after the last expected event: give it time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = replay_all(relay, total).await;
    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, n)| got.get(*k) < Some(n))
        .take(5)
        .collect();
    let repeated: Vec<_> = got
        .iter()
        .filter(|(k, n)| expected.get(*k).is_none_or(|e| *n > e))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && repeated.is_empty(),
        "{} events expected, {} replayed; missing {missing:?}; repeated or unknown {repeated:?}",
        total,
        got.values().sum::<usize>()
    );
    assert_eq!(
        newest_seq(relay).await,
        total as i64,
        "extra events in the log"
    );
}

/// `kill -9` three times mid-ingest on `db_url`, then everything exactly once.
async fn kill_nine_mid_ingest(db_url: &str) {
    let (directory, hosts) = upstream().await;
    let expected = upstream_keys(&hosts);
    let total: usize = expected.values().sum();
    let data = tempfile::tempdir().unwrap();
    let persist = data.path().join("persist");
    let args = relay_args(&directory);

    let mut relay = start(db_url, &persist, &args);
    crawl_all(&relay, &hosts).await;
    for fraction in [5, 3, 2] {
        // Kill at a point well inside the ingest: a fifth, a third, half of the events.
        let reached = wait_for_seq(&mut relay, (total / fraction) as i64).await;
        assert!(reached < total as i64, "ingest finished before the kill");
        relay.kill_hard();
        relay = start(db_url, &persist, &args);
    }
    check_exactly_once(&mut relay, &expected).await;

    // The restarted relay still follows the hosts live.
    for pds in &hosts {
        add_events(pds, 3);
    }
    check_exactly_once(&mut relay, &upstream_keys(&hosts)).await;
    let (code, _, output) = tokio::task::spawn_blocking(move || relay.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_mid_ingest_neither_loses_nor_repeats_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("relay.sqlite").display());
    kill_nine_mid_ingest(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_mid_ingest_neither_loses_nor_repeats_postgres() {
    let Some(db) = OwnDatabase::create("crash").await else {
        return;
    };
    kill_nine_mid_ingest(db.url()).await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_mid_ingest_pauses_and_resumes_by_itself() {
    let Some(mut db) = OwnDatabase::create("outage").await else {
        return;
    };
    let (directory, hosts) = upstream().await;
    let total: usize = upstream_keys(&hosts).values().sum();
    let data = tempfile::tempdir().unwrap();
    let persist = data.path().join("persist");
    let mut relay = start(db.url(), &persist, &relay_args(&directory));
    crawl_all(&relay, &hosts).await;
    wait_for_seq(&mut relay, (total / 4) as i64).await;

    db.refuse_connections().await;
    let outage = Instant::now();
    // New events keep coming from the hosts during the outage.
    for pds in &hosts {
        add_events(pds, 2);
    }
    let during = newest_seq(&relay).await;
    while outage.elapsed() < Duration::from_secs(11) {
        assert!(
            relay.exited().is_none(),
            "relay exited:\n{}",
            relay.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after_outage = newest_seq(&relay).await;
    assert!(
        after_outage < total as i64,
        "ingest was not paused by the outage (log at {after_outage} of {total}, {during} at its start)"
    );
    db.allow_connections().await;

    // No admin action: everything arrives, once.
    check_exactly_once(&mut relay, &upstream_keys(&hosts)).await;
    let output = relay.output();
    assert!(
        output.contains("store write failed") || output.contains("store unavailable"),
        "the outage left no trace in the log:\n{output}"
    );
    let (code, _, output) = tokio::task::spawn_blocking(move || relay.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{output}");
    db.drop_database().await;
}

both_backends_ingest!(a_failed_log_write_stops_ingest_and_a_restart_recovers_exactly_once);
async fn a_failed_log_write_stops_ingest_and_a_restart_recovers_exactly_once(
    relay: support::TestRelay,
    directory: &FakeDirectory,
) -> support::TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    add_events(&pds, 10);
    pds.request_crawl(&relay.base).await.unwrap();
    support::wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;

    // The disk fails: the next fsync (at the latest when a 64 KiB segment is sealed) errors.
    relay.log.inject_fsync_failure(true);
    add_events(&pds, 30);
    tokio::time::timeout(support::HANG_GUARD, async {
        while relay.log.health().failed.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the injected fsync failure never failed the log");
    let durable = relay.log.newest_seq();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Nothing more is accepted, the host's cursor stops, and readiness says why.
    assert_eq!(relay.log.newest_seq(), durable);
    let stopped = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap()
        .last_seq;
    assert!(
        stopped < Some(pds.head_seq()),
        "cursor moved to the end: {stopped:?}"
    );
    let ready = relay.get("/_ready").await;
    assert_eq!(ready.status(), 503, "{}", ready.text().await.unwrap());

    // The disk is back; the process restarts on the same files.
    relay.log.inject_fsync_failure(false);
    let relay = relay.restart().await;
    add_events(&pds, 2);
    support::wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    let expected = upstream_keys(std::slice::from_ref(&pds));
    let total: usize = expected.values().sum();
    let mut ws = support::connect(&relay, Some(0)).await;
    let mut keys = Vec::new();
    let mut last_seq = 0;
    while keys.len() < total {
        let message = support::next_message(&mut ws).await;
        let seq = message.seq().unwrap();
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
        keys.extend(key(&message));
    }
    assert_eq!(tally(keys), expected);
    assert_eq!(
        relay.log.newest_seq(),
        last_seq,
        "events beyond the upstream ones"
    );
    relay
}

/// The binary whose event log fails (every fsync errors, armed through the log's fault-point
/// file) exits with status 1 and a clear message instead of running on without a log; once
/// the disk is back, a restart on the same files delivers every event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_whose_event_log_fails_exits_1_and_a_restart_recovers() {
    let (directory, hosts) = upstream().await;
    let expected = upstream_keys(&hosts);
    let total: usize = expected.values().sum();
    let data = tempfile::tempdir().unwrap();
    let persist = data.path().join("persist");
    let url = format!("sqlite://{}", data.path().join("relay.sqlite").display());
    let disk_error = data.path().join("disk-error");
    let args = relay_args(&directory);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut relay = Relay::start_with_env(
        &url,
        &persist,
        &args,
        &[(
            atrelay_eventlog::FAIL_FSYNC_WHILE_EXISTS_ENV,
            disk_error.as_os_str(),
        )],
    );
    crawl_all(&relay, &hosts).await;
    let reached = wait_for_seq(&mut relay, (total / 4) as i64).await;
    assert!(reached < total as i64, "ingest finished before the failure");

    std::fs::write(&disk_error, b"").unwrap();
    let failed_at = Instant::now();
    let code = loop {
        if let Some(code) = relay.exited() {
            break code;
        }
        assert!(
            failed_at.elapsed() < Duration::from_secs(60),
            "the relay kept running on a failed log:\n{}",
            relay.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let output = relay.output();
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("the event log failed") && output.contains("injected fsync failure"),
        "no clear reason printed:\n{output}"
    );

    std::fs::remove_file(&disk_error).unwrap();
    let mut relay = start(&url, &persist, &relay_args(&directory));
    check_exactly_once(&mut relay, &expected).await;
    let (code, _, output) = tokio::task::spawn_blocking(move || relay.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{output}");
}
