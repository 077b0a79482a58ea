//! Restarts and resets: stored cursors, an upstream reset, and where a new host starts.

use super::*;

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
