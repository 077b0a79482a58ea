//! Account limits (throttling, raising, growth) and per-host event rates.

use super::*;

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
            assert_eq!(
                account.status,
                Some(WireStatus::Known(atrelay_store::AccountStatus::Throttled))
            );
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
    let metrics = atrelay::http::metrics::render(&relay.state);
    assert!(metrics
        .lines()
        .any(|l| l == "atrelay_ingest_unthrottled_accounts_total 1"));
    relay
}

/// An account limit of one that doubles after 50 ms of good standing, up to four.
fn growing(directory: &FakeDirectory) -> IngestSetup {
    let mut setup = limited(directory);
    setup.config.account_limit_growth = atrelay::engine::ingest::AccountLimitGrowth {
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
