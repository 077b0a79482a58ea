//! Ingest end to end: fake PDSes (real signed repositories, real websockets) → requestCrawl →
//! relay → the relay's own firehose, on SQLite and PostgreSQL.

mod support;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use atrelay::ingest::DropReason;
use atrelay_store::{Setting, StoreError};
use atrelay_stream::{decode_frame, AccountStatus as WireStatus, Message};
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

both_backends_ingest!(events_from_several_pdses_flow_through_in_order);
async fn events_from_several_pdses_flow_through_in_order(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let mut pdses = Vec::new();
    for _ in 0..3 {
        let pds = FakePds::start(directory).await.unwrap();
        for curve in [
            atrelay_testkit::KeyCurve::K256,
            atrelay_testkit::KeyCurve::P256,
        ] {
            let did = pds
                .create_account(AccountOptions {
                    curve,
                    ..AccountOptions::default()
                })
                .unwrap();
            for _ in 0..3 {
                write(&pds, &did);
            }
            let commit = pds
                .put_record(
                    &did,
                    RecordPath::new("app.bsky.actor.profile", "self").unwrap(),
                    sample_record("app.bsky.actor.profile", "v1"),
                )
                .unwrap();
            assert!(commit.prev_data.is_some());
            pds.put_record(
                &did,
                RecordPath::new("app.bsky.actor.profile", "self").unwrap(),
                sample_record("app.bsky.actor.profile", "v2"),
            )
            .unwrap();
            pds.delete_record(
                &did,
                RecordPath::new("app.bsky.actor.profile", "self").unwrap(),
            )
            .unwrap();
        }
        pds.request_crawl(&relay.base).await.unwrap();
        pdses.push(pds);
    }
    let total: i64 = pdses.iter().map(FakePds::head_seq).sum();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    let mut relayed = read_messages(&mut ws, total as usize, &mut last_seq).await;

    // Events written while the relay is following arrive live.
    for pds in &pdses {
        for did in pds.dids() {
            write(pds, &did);
        }
    }
    relayed.extend(read_messages(&mut ws, 6, &mut last_seq).await);

    for pds in &pdses {
        assert_eq!(
            about(&relayed, &pds.dids()),
            pds_messages(pds, &HashSet::new()),
            "events of {}",
            pds.hostname()
        );
        wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
        for did in pds.dids() {
            let account = relay.store.account(&did).await.unwrap().unwrap();
            let repo = account.repo.unwrap();
            let (rev, head, data) = pds
                .with_repo(&did, |r| {
                    (
                        r.rev().to_owned(),
                        r.head_cid().to_string(),
                        r.data().to_string(),
                    )
                })
                .unwrap();
            assert_eq!(
                (repo.rev, repo.commit_cid, repo.data_cid),
                (rev, head, data)
            );
            assert!(account.upstream_status == atrelay_store::AccountStatus::Active);
        }
        let host = relay
            .store
            .host_by_hostname(pds.hostname())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(host.account_count, 2);
    }
    let counters = relay.state.ingest.counters();
    let dropped: u64 = DropReason::ALL.iter().map(|r| counters.count(*r)).sum();
    assert_eq!(dropped, 0, "{:?}", counters.snapshot());
    assert_eq!(
        counters
            .discontinuities
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    relay
}

both_backends_ingest!(misbehaviours_are_dropped_and_good_events_flow);
async fn misbehaviours_are_dropped_and_good_events_flow(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let a = pds.create_account(AccountOptions::default()).unwrap();
    let future = pds.create_account(AccountOptions::default()).unwrap();
    let wrong_host = pds.create_account(AccountOptions::default()).unwrap();
    let mut dropped = HashSet::new();
    write(&pds, &a);
    for misbehavior in [
        Misbehavior::BadSignature,
        Misbehavior::WrongPrevData,
        Misbehavior::RevBackwards,
        Misbehavior::OversizedBlocks,
        Misbehavior::GarbageFrame,
    ] {
        pds.misbehave(misbehavior);
        write(&pds, &a);
        dropped.insert(pds.head_seq());
        write(&pds, &a);
    }
    pds.misbehave(Misbehavior::FutureRev);
    write(&pds, &future);
    dropped.insert(pds.head_seq());
    // Everything about this account comes from a host its document does not name.
    let wrong_host_first = pds.head_seq() + 1;
    pds.misbehave(Misbehavior::WrongHost {
        endpoint: "http://127.0.0.1:1".to_owned(),
    });
    write(&pds, &wrong_host);
    dropped.extend(
        pds.events()
            .iter()
            .filter(|e| {
                decode_frame(&e.frame)
                    .ok()
                    .is_some_and(|m| m.did() == Some(wrong_host.as_str()))
            })
            .map(|e| e.seq),
    );
    assert!(dropped.contains(&wrong_host_first));
    write(&pds, &a);

    pds.request_crawl(&relay.base).await.unwrap();
    let expected = pds_messages(&pds, &dropped);
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    let relayed = read_messages(&mut ws, expected.len(), &mut last_seq).await;
    assert_eq!(
        relayed.into_iter().map(unsequenced).collect::<Vec<_>>(),
        expected
    );
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;

    let counters = relay.state.ingest.counters();
    for (reason, count) in [
        (DropReason::BadSignature, 1),
        (DropReason::InvalidProof, 1),
        (DropReason::RevNotNewer, 1),
        (DropReason::OverLimits, 1),
        (DropReason::BadFrame, 1),
        (DropReason::FutureRev, 1),
        (DropReason::WrongHost, 4),
    ] {
        assert_eq!(
            counters.count(reason),
            count,
            "{}: {:?}",
            reason.label(),
            counters.snapshot()
        );
        // The same count is exported to Prometheus under the reason's label.
        let line = format!(
            "atrelay_ingest_dropped_events_total{{reason=\"{}\"}} {count}",
            reason.label()
        );
        let metrics = atrelay::metrics::render(&relay.state);
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    // The good commit after each dropped one does not chain onto what the relay stored:
    // passed on, counted, and the account marked desynchronized until a commit chains.
    assert_eq!(
        counters
            .discontinuities
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
    assert!(!relay.state.ingest.accounts().is_desynchronized(&a));
    let status = relay
        .get(&format!(
            "/xrpc/com.atproto.sync.getRepoStatus?did={wrong_host}"
        ))
        .await;
    assert_eq!(status.status().as_u16(), 404);

    // Once the document names this host again, the next event is accepted: the relay
    // resolves the DID once more before refusing.
    pds.publish_document(&wrong_host).unwrap();
    write(&pds, &wrong_host);
    let message = next_message(&mut ws).await;
    assert_eq!(message.did(), Some(wrong_host.as_str()));
    assert!(matches!(message, Message::Commit(_)));
    relay
}

both_backends_ingest!(account_status_gates_commits_and_identity_passes);
async fn account_status_gates_commits_and_identity_passes(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    pds.request_crawl(&relay.base).await.unwrap();

    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    read_messages(&mut ws, 3, &mut last_seq).await;

    pds.set_status(&did, Some(atrelay_stream::AccountStatus::Deactivated))
        .unwrap();
    write(&pds, &did); // not passed on: the account is inactive
    pds.set_handle(&did, "renamed.test").unwrap();
    pds.set_status(&did, None).unwrap();
    write(&pds, &did);
    let relayed = read_messages(&mut ws, 4, &mut last_seq).await;
    match &relayed[0] {
        Message::Account(account) => {
            assert!(!account.active);
            assert_eq!(account.status, Some(WireStatus::Deactivated));
        }
        other => panic!("expected #account, got {other:?}"),
    }
    assert!(
        matches!(&relayed[1], Message::Identity(i) if i.handle.as_deref() == Some("renamed.test"))
    );
    assert!(matches!(&relayed[2], Message::Account(a) if a.active && a.status.is_none()));
    assert!(matches!(&relayed[3], Message::Commit(_)));
    assert_eq!(
        relay
            .state
            .ingest
            .counters()
            .count(DropReason::InactiveAccount),
        1
    );
    relay
}

both_backends_ingest!(restart_resumes_from_cursors_without_loss_or_repeat);
async fn restart_resumes_from_cursors_without_loss_or_repeat(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pdses = [
        FakePds::start(directory).await.unwrap(),
        FakePds::start(directory).await.unwrap(),
    ];
    for pds in &pdses {
        for _ in 0..2 {
            let did = pds.create_account(AccountOptions::default()).unwrap();
            write(pds, &did);
        }
        pds.request_crawl(&relay.base).await.unwrap();
    }
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    let first: i64 = pdses.iter().map(FakePds::head_seq).sum();
    read_messages(&mut ws, first as usize, &mut last_seq).await;
    drop(ws);

    // Writes racing the shutdown: some are ingested before it, the rest after the restart.
    for pds in &pdses {
        for did in pds.dids() {
            for _ in 0..5 {
                write(pds, &did);
            }
        }
    }
    let relay = relay.restart().await;
    for pds in &pdses {
        for did in pds.dids() {
            write(pds, &did);
        }
    }
    let total: i64 = pdses.iter().map(FakePds::head_seq).sum();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    let relayed = read_messages(&mut ws, total as usize, &mut last_seq).await;
    for pds in &pdses {
        assert_eq!(
            about(&relayed, &pds.dids()),
            pds_messages(pds, &HashSet::new())
        );
        wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    }
    // Nothing beyond what was read: no event was ingested twice.
    assert_eq!(relay.log.newest_seq(), last_seq);
    relay
}

both_backends_ingest!(upstream_reset_restarts_from_live);
async fn upstream_reset_restarts_from_live(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    for _ in 0..3 {
        write(&pds, &did);
    }
    pds.request_crawl(&relay.base).await.unwrap();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    read_messages(&mut ws, 6, &mut last_seq).await;
    wait_for_cursor(&relay, pds.hostname(), 6).await;

    pds.misbehave(Misbehavior::SequenceReset);
    pds.disconnect_subscribers();
    // The relay reconnects with cursor 6, gets FutureCursor and follows live.
    let ingest = relay.state.ingest.clone();
    wait_until(|| {
        ingest
            .counters()
            .future_cursor_resets
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();
    assert!(host.last_error.unwrap_or_default().contains("FutureCursor"));
    wait_until(|| pds.subscriber_count() == 1).await;
    write(&pds, &did);
    let message = next_message(&mut ws).await;
    assert!(matches!(message, Message::Commit(_)));
    assert_eq!(message.did(), Some(did.as_str()));
    relay
}

both_backends_ingest!(request_crawl_checks_hosts);
async fn request_crawl_checks_hosts(relay: TestRelay, directory: &FakeDirectory) -> TestRelay {
    let client = reqwest::Client::new();
    let crawl = |hostname: String| {
        let client = client.clone();
        let url = format!("{}/xrpc/com.atproto.sync.requestCrawl", relay.base);
        async move {
            let response = client
                .post(url)
                .json(&serde_json::json!({ "hostname": hostname }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    // Bad syntax, and hosts that do not answer.
    assert_eq!(crawl("localhost:2583/xrpc".into()).await.0, 400);
    assert_eq!(
        crawl("127.0.0.1:1".into()).await,
        (400, "HostNotFound".into())
    );
    // The relay itself identifies as a relay: a loop.
    let own = relay.base.trim_start_matches("http://").to_owned();
    assert_eq!(crawl(own).await.0, 400);
    // Banned domains.
    let pds = FakePds::start_with(
        directory,
        atrelay_testkit::PdsOptions {
            localhost_name: true,
            ..atrelay_testkit::PdsOptions::default()
        },
    )
    .await
    .unwrap();
    relay.store.ban_domain("localhost").await.unwrap();
    assert_eq!(
        crawl(pds.hostname().to_owned()).await,
        (400, "HostBanned".into())
    );
    relay.store.unban_domain("localhost").await.unwrap();
    // The enabled switch and the new-hosts-per-day limit come from the stored settings.
    relay
        .store
        .set_setting(Setting::RequestCrawlEnabled(false))
        .await
        .unwrap();
    assert_eq!(crawl(pds.hostname().to_owned()).await.0, 403);
    relay
        .store
        .set_setting(Setting::RequestCrawlEnabled(true))
        .await
        .unwrap();
    relay
        .store
        .set_setting(Setting::NewHostsPerDay(1))
        .await
        .unwrap();
    assert_eq!(crawl(pds.hostname().to_owned()).await, (200, String::new()));
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();
    assert!(host.no_ssl);
    assert!(relay.state.ingest.is_subscribed(host.id));
    // A known host does not count against the limit; a new one does.
    assert_eq!(crawl(pds.hostname().to_owned()).await.0, 200);
    let other = FakePds::start(directory).await.unwrap();
    assert_eq!(crawl(other.hostname().to_owned()).await.0, 429);
    assert!(matches!(
        relay.store.host_by_hostname(other.hostname()).await,
        Ok(None) | Err(StoreError::HostNotFound { .. })
    ));
    relay
}

#[tokio::test]
async fn production_relay_refuses_loopback_hosts() {
    let directory = FakeDirectory::start().await.unwrap();
    let mut setup = setup(&directory);
    setup.config.allow_insecure_hosts = false;
    let relay = TestRelay::sqlite_ingest(setup).await;
    let pds = FakePds::start(&directory).await.unwrap();
    let err = pds.request_crawl(&relay.base).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    let named = FakePds::start_with(
        &directory,
        atrelay_testkit::PdsOptions {
            localhost_name: true,
            ..atrelay_testkit::PdsOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(named.request_crawl(&relay.base).await.is_err());
    assert_eq!(relay.store.count_hosts(None).await.unwrap(), 0);
    relay.finish().await;
}

/// Ingest with an account limit of one per new host.
fn limited(directory: &FakeDirectory) -> IngestSetup {
    let mut setup = setup(directory);
    setup.config.default_account_limit = 1;
    setup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_past_the_host_limit_are_throttled_visibly_sqlite() {
    let directory = FakeDirectory::start().await.unwrap();
    let relay = TestRelay::sqlite_ingest(limited(&directory)).await;
    accounts_past_the_host_limit_are_throttled_visibly(relay, &directory)
        .await
        .finish()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_past_the_host_limit_are_throttled_visibly_postgres() {
    let directory = FakeDirectory::start().await.unwrap();
    let Some(relay) = TestRelay::postgres_ingest(limited(&directory)).await else {
        return;
    };
    accounts_past_the_host_limit_are_throttled_visibly(relay, &directory)
        .await
        .finish()
        .await;
}

async fn accounts_past_the_host_limit_are_throttled_visibly(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let first = pds.create_account(AccountOptions::default()).unwrap();
    let second = pds.create_account(AccountOptions::default()).unwrap();
    write(&pds, &first);
    pds.request_crawl(&relay.base).await.unwrap();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    // first: #identity, #account, #commit; second: #identity and an #account saying it is
    // throttled, its #commit held back; first's next #commit.
    let relayed = read_messages(&mut ws, 6, &mut last_seq).await;
    assert_eq!(
        about(&relayed, std::slice::from_ref(&first)),
        pds_messages(&pds, &HashSet::new())
            .into_iter()
            .filter(|m| m.did() == Some(first.as_str()))
            .collect::<Vec<_>>()
    );
    let second_events = about(&relayed, std::slice::from_ref(&second));
    assert_eq!(second_events.len(), 2);
    assert!(matches!(&second_events[0], Message::Identity(_)));
    match &second_events[1] {
        Message::Account(account) => {
            assert!(!account.active);
            assert_eq!(account.status, Some(WireStatus::Throttled));
        }
        other => panic!("expected #account, got {other:?}"),
    }
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    let account = relay.store.account(&second).await.unwrap().unwrap();
    assert_eq!(
        account.local_status,
        atrelay_store::AccountStatus::Throttled
    );
    assert!(account.local_reason.unwrap().contains("account limit"));
    let status: serde_json::Value = relay
        .get(&format!(
            "/xrpc/com.atproto.sync.getRepoStatus?did={second}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["active"], false);
    assert_eq!(status["status"], "throttled");
    assert_eq!(
        relay
            .state
            .ingest
            .counters()
            .count(DropReason::InactiveAccount),
        1
    );
    relay
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

both_backends_ingest!(interleaved_dids_verify_in_parallel_and_keep_order);
async fn interleaved_dids_verify_in_parallel_and_keep_order(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let dids: Vec<String> = (0..12)
        .map(|_| pds.create_account(AccountOptions::default()).unwrap())
        .collect();
    // Round-robin writes: every DID's commits are interleaved with every other DID's.
    for _ in 0..3 {
        for did in &dids {
            write(&pds, did);
        }
    }
    pds.request_crawl(&relay.base).await.unwrap();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    let relayed = read_messages(&mut ws, pds.head_seq() as usize, &mut last_seq).await;
    // A host's events are settled in its own order, so each DID's come out in order.
    let expected = pds_messages(&pds, &HashSet::new());
    for did in &dids {
        let did = std::slice::from_ref(did);
        assert_eq!(about(&relayed, did), about(&expected, did));
    }
    assert_eq!(
        relayed.into_iter().map(unsequenced).collect::<Vec<_>>(),
        expected
    );
    // Each commit was checked against the state its predecessor left: all chain.
    let counters = relay.state.ingest.counters();
    let dropped: u64 = DropReason::ALL.iter().map(|r| counters.count(*r)).sum();
    assert_eq!(dropped, 0, "{:?}", counters.snapshot());
    assert_eq!(counters.discontinuities.load(Ordering::Relaxed), 0);
    // Events of different DIDs were in verification at the same time.
    assert!(
        counters
            .peak_verifications_in_flight
            .load(Ordering::Relaxed)
            >= 2
    );
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    relay
}

both_backends_ingest!(desynchronized_state_survives_a_restart);
async fn desynchronized_state_survives_a_restart(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    write(&pds, &did);
    // Dropped; the commit after it is valid but does not chain onto what the relay stored.
    pds.misbehave(Misbehavior::WrongPrevData);
    write(&pds, &did);
    write(&pds, &did);
    pds.request_crawl(&relay.base).await.unwrap();
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    assert!(relay.state.ingest.accounts().is_desynchronized(&did));
    assert!(
        relay
            .store
            .account(&did)
            .await
            .unwrap()
            .unwrap()
            .desynchronized
    );

    let relay = relay.restart().await;
    assert!(
        relay
            .store
            .account(&did)
            .await
            .unwrap()
            .unwrap()
            .desynchronized
    );
    // After the restart ingest reads the flag back: an #identity (which changes no chain)
    // keeps it.
    pds.set_handle(&did, "still-desynchronized.test").unwrap();
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    assert!(relay.state.ingest.accounts().is_desynchronized(&did));
    assert!(
        relay
            .store
            .account(&did)
            .await
            .unwrap()
            .unwrap()
            .desynchronized
    );
    // A commit that chains clears it, in memory and in the store.
    write(&pds, &did);
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    assert!(!relay.state.ingest.accounts().is_desynchronized(&did));
    assert!(
        !relay
            .store
            .account(&did)
            .await
            .unwrap()
            .unwrap()
            .desynchronized
    );
    relay
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

both_backends_with!(
    raising_the_account_limit_lets_throttled_accounts_in,
    limited
);
async fn raising_the_account_limit_lets_throttled_accounts_in(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let dids: Vec<String> = (0..3)
        .map(|_| pds.create_account(AccountOptions::default()).unwrap())
        .collect();
    for did in &dids {
        write(&pds, did);
    }
    pds.request_crawl(&relay.base).await.unwrap();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    // The first account is in (#identity, #account, its first commit and one more); the
    // other two are throttled (#identity and #account each, commits held back).
    read_messages(&mut ws, 8, &mut last_seq).await;
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    for did in &dids[1..] {
        assert_eq!(repo_status(&relay, did).await["status"], "throttled");
    }
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();

    let change = relay
        .state
        .ingest
        .change_account_limit(host.id, 2)
        .await
        .unwrap();
    assert_eq!((change.old_limit, change.new_limit), (1, 2));
    assert_eq!(change.unthrottled.len(), 1, "{change:?}");
    let let_in = change.unthrottled[0].clone();
    let still = dids[1..].iter().find(|d| **d != let_in).unwrap().clone();
    // Consumers learn it from a #account, and the account's commits flow again.
    match next_message(&mut ws).await {
        Message::Account(account) => {
            assert_eq!(account.did, let_in);
            assert!(account.active);
            assert_eq!(account.status, None);
        }
        other => panic!("expected #account, got {other:?}"),
    }
    assert_eq!(repo_status(&relay, &let_in).await["active"], true);
    assert_eq!(repo_status(&relay, &still).await["status"], "throttled");
    write(&pds, &let_in);
    write(&pds, &still);
    write(&pds, &dids[0]);
    let relayed = read_messages(&mut ws, 2, &mut last_seq).await;
    assert_eq!(relayed[0].did(), Some(let_in.as_str()));
    assert_eq!(relayed[1].did(), Some(dids[0].as_str()));
    assert!(relayed.iter().all(|m| matches!(m, Message::Commit(_))));
    let stored = relay.store.host(host.id).await.unwrap().unwrap();
    assert_eq!(stored.limits.account_limit, 2);
    let counters = relay.state.ingest.counters();
    assert_eq!(counters.throttled_new_accounts.load(Ordering::Relaxed), 2);
    assert_eq!(counters.unthrottled_accounts.load(Ordering::Relaxed), 1);
    let metrics = atrelay::metrics::render(&relay.state);
    assert!(metrics
        .lines()
        .any(|l| l == "atrelay_ingest_unthrottled_accounts_total 1"));
    relay
}

/// An account limit of one that doubles after 50 ms of good standing, up to four.
fn growing(directory: &FakeDirectory) -> IngestSetup {
    let mut setup = limited(directory);
    setup.config.account_limit_growth = atrelay::ingest::AccountLimitGrowth {
        after: Duration::from_millis(50),
        factor: 2,
        cap: 4,
    };
    setup
}

both_backends_with!(account_limit_grows_for_a_host_in_good_standing, growing);
async fn account_limit_grows_for_a_host_in_good_standing(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let dids: Vec<String> = (0..3)
        .map(|_| pds.create_account(AccountOptions::default()).unwrap())
        .collect();
    pds.request_crawl(&relay.base).await.unwrap();
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();
    // 1 → 2 → 4 (the cap): every account fits, however many were throttled on the way.
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            let stored = relay.store.host(host.id).await.unwrap().unwrap();
            let throttled = relay
                .store
                .count_accounts(&atrelay_store::AccountFilter {
                    host_id: Some(host.id),
                    local_status: Some(atrelay_store::AccountStatus::Throttled),
                    active_only: false,
                })
                .await
                .unwrap();
            if stored.limits.account_limit == 4 && throttled == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the account limit never grew to its cap");
    let rates = relay.state.ingest.host_rates();
    assert_eq!(rates.len(), 1);
    assert_eq!(rates[0].account_limit, 4);
    let counters = relay.state.ingest.counters();
    assert_eq!(counters.account_limit_growths.load(Ordering::Relaxed), 2);
    for did in &dids {
        assert_eq!(repo_status(&relay, did).await["active"], true);
    }
    // The growth stops at the cap.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        relay
            .store
            .host(host.id)
            .await
            .unwrap()
            .unwrap()
            .limits
            .account_limit,
        4
    );
    let mut ws = connect(&relay, Some(0)).await;
    write(&pds, &dids[2]);
    next_about(&mut ws, &dids[2], |m| matches!(m, Message::Commit(_))).await;
    relay
}

/// Regular hosts may send 4 events a second.
fn slow_hosts(directory: &FakeDirectory) -> IngestSetup {
    let mut setup = setup(directory);
    setup.config.rate_policy.per_second = 4;
    setup
}

both_backends_with!(host_event_rates_delay_and_never_drop, slow_hosts);
async fn host_event_rates_delay_and_never_drop(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    for _ in 0..6 {
        write(&pds, &did);
    }
    pds.request_crawl(&relay.base).await.unwrap();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    // All 9 arrive, in order, although the host sent twice its per-second rate at once.
    let events = pds.head_seq() as u64;
    assert_eq!(events, 9);
    let relayed = read_messages(&mut ws, events as usize, &mut last_seq).await;
    assert_eq!(
        relayed.into_iter().map(unsequenced).collect::<Vec<_>>(),
        pds_messages(&pds, &HashSet::new())
    );
    let counters = relay.state.ingest.counters();
    let dropped: u64 = DropReason::ALL.iter().map(|r| counters.count(*r)).sum();
    assert_eq!(dropped, 0);
    assert!(counters.rate_limit_pauses.load(Ordering::Relaxed) >= 1);
    let rates = relay.state.ingest.host_rates();
    assert_eq!(rates.len(), 1);
    let [second, hour, day] = rates[0].windows;
    assert!(rates[0].pauses >= 1);
    assert_eq!(second.limit, 4);
    // Hourly and daily limits scale with the account limit (100): indigo's defaults.
    assert_eq!((hour.limit, hour.used), (2_600, events));
    assert_eq!((day.limit, day.used), (21_000, events));
    relay
}

fn live_only(directory: &FakeDirectory) -> IngestSetup {
    let mut setup = setup(directory);
    setup.config.new_hosts_live_only = true;
    setup
}

both_backends_with!(new_hosts_live_only_skips_the_backlog, live_only);
async fn new_hosts_live_only_skips_the_backlog(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    new_host_start(relay, directory, true).await
}

both_backends_ingest!(new_hosts_start_from_their_oldest_event);
async fn new_hosts_start_from_their_oldest_event(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    new_host_start(relay, directory, false).await
}

/// A host with a backlog is crawled, then writes once more: with `live_only` only the new
/// commit is relayed, else the backlog too.
async fn new_host_start(relay: TestRelay, directory: &FakeDirectory, live_only: bool) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    write(&pds, &did);
    write(&pds, &did);
    let backlog = pds.head_seq();
    pds.request_crawl(&relay.base).await.unwrap();
    wait_until(|| pds.subscriber_count() == 1).await;
    write(&pds, &did);
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    let expected = if live_only { 1 } else { backlog + 1 };
    let relayed = read_messages(&mut ws, expected as usize, &mut last_seq).await;
    assert_eq!(relay.log.newest_seq(), last_seq);
    let last = relayed.last().unwrap().clone();
    assert_eq!(
        unsequenced(last),
        pds_messages(&pds, &HashSet::new()).pop().unwrap()
    );
    relay
}
