//! Events from several hosts flow through in order; misbehaviours are dropped; account states
//! gate what is passed on.

use super::*;

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
        let metrics = atrelay::http::metrics::render(&relay.state);
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
            assert_eq!(
                account.status,
                Some(WireStatus::Known(atrelay_store::AccountStatus::Deactivated))
            );
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

both_backends_ingest!(a_commit_under_a_key_rotated_without_notice_is_accepted);
/// The relay holds the old key (no `#identity` came): the commit's signature fails, the DID is
/// resolved again and the commit verifies under the new key; the proof is not redone.
async fn a_commit_under_a_key_rotated_without_notice_is_accepted(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    pds.request_crawl(&relay.base).await.unwrap();
    let mut ws = connect(&relay, Some(0)).await;
    let mut last_seq = 0;
    read_messages(&mut ws, 3, &mut last_seq).await;

    let rotated = pds
        .rotate_key_quietly(&did, atrelay_testkit::KeyCurve::P256)
        .unwrap();
    write(&pds, &did);
    let relayed = read_messages(&mut ws, 2, &mut last_seq).await;
    match &relayed[0] {
        Message::Commit(commit) => assert_eq!(commit.rev, rotated.rev),
        other => panic!("expected the commit under the new key, got {other:?}"),
    }
    assert!(matches!(&relayed[1], Message::Commit(_)));
    let counters = relay.state.ingest.counters();
    assert_eq!(counters.count(DropReason::BadSignature), 0);
    assert_eq!(counters.count(DropReason::ResolveFailed), 0);
    relay
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
