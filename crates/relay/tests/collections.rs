//! `listReposByCollection` on a relay that ingests from fake PDSes: the index follows the
//! relay's own verified commits and account events, did:web accounts included.

mod support;

use std::time::{Duration, Instant};

use atrelay_stream::AccountStatus;
use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds, RecordPath};
use support::TestRelay;

const CAPTAIN: &str = "io.atcr.hold.captain";
/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(30);

async fn listed(relay: &TestRelay, collection: &str) -> Vec<String> {
    let response = relay
        .get(&format!(
            "/xrpc/com.atproto.sync.listReposByCollection?collection={collection}"
        ))
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["repos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|repo| repo["did"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls until the collection lists exactly `expected` (in DID order); returns how long it took.
async fn wait_listed(relay: &TestRelay, collection: &str, expected: &[&str]) -> Duration {
    let mut expected: Vec<String> = expected.iter().map(|did| did.to_string()).collect();
    expected.sort();
    let started = Instant::now();
    loop {
        let now = listed(relay, collection).await;
        if now == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < HANG_GUARD,
            "{collection} lists {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

both_backends_ingest!(collection_index_follows_verified_commits);
async fn collection_index_follows_verified_commits(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let web = pds
        .create_account(AccountOptions {
            did_web: true,
            ..AccountOptions::default()
        })
        .unwrap();
    let plc = pds.create_account(AccountOptions::default()).unwrap();
    assert!(web.starts_with("did:web:") && plc.starts_with("did:plc:"));
    pds.request_crawl(&relay.base).await.unwrap();

    let captain = RecordPath::new(CAPTAIN, "self").unwrap();
    for did in [&web, &plc] {
        pds.put_record(did, captain.clone(), sample_record(CAPTAIN, "hold"))
            .unwrap();
    }
    let latency = wait_listed(&relay, CAPTAIN, &[&web, &plc]).await;
    eprintln!("new {CAPTAIN} records listed {latency:?} after their commits");

    // A second record keeps the DID listed; deleting the last one removes it.
    let crew = RecordPath::new(CAPTAIN, "crew").unwrap();
    pds.put_record(&web, crew.clone(), sample_record(CAPTAIN, "crew"))
        .unwrap();
    pds.delete_record(&web, captain.clone()).unwrap();
    pds.put_record(&plc, captain.clone(), sample_record(CAPTAIN, "updated"))
        .unwrap();
    wait_listed(&relay, CAPTAIN, &[&web, &plc]).await;
    pds.delete_record(&web, crew).unwrap();
    wait_listed(&relay, CAPTAIN, &[&plc]).await;

    // Deactivation hides the account; reactivation restores it.
    pds.set_status(&plc, Some(AccountStatus::Deactivated))
        .unwrap();
    wait_listed(&relay, CAPTAIN, &[]).await;
    pds.set_status(&plc, None).unwrap();
    wait_listed(&relay, CAPTAIN, &[&plc]).await;

    let response = relay
        .get("/xrpc/com.atproto.sync.listReposByCollection?collection=not-an-nsid")
        .await;
    assert_eq!(response.status(), 400);
    relay
}
