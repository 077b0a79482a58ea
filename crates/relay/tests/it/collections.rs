//! `listReposByCollection` on a relay that ingests from fake PDSes: the index follows the
//! relay's own verified commits and account events, did:web accounts included.

use crate::support;

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

/// The listing routes' paging and parameter checks, on an index filled directly.
#[tokio::test]
async fn listing_pages_and_refuses_bad_parameters() {
    let relay = TestRelay::sqlite().await;
    let mut clock = atrelay_testkit::TidClock::new(1);
    for i in 0..5u32 {
        let did = format!("did:plc:{i:024}");
        let op = atrelay_collections::Op::new(
            atrelay_collections::OpAction::Create,
            format!("{CAPTAIN}/r{i}"),
        );
        relay
            .state
            .collections
            .apply_commit(&did, &clock.next_tid().to_text(), None, &[op])
            .unwrap();
    }
    let base = "/xrpc/com.atproto.sync.listReposByCollection";
    let page = |query: String| {
        let relay = &relay;
        async move {
            let response = relay.get(&format!("{base}?{query}")).await;
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }
    };
    let (status, body) = page(format!("collection={CAPTAIN}&limit=3")).await;
    assert_eq!(status, 200);
    assert_eq!(body["repos"].as_array().unwrap().len(), 3);
    assert_eq!(
        body["repos"][0],
        serde_json::json!({ "did": format!("did:plc:{:024}", 0) })
    );
    let cursor = body["cursor"].as_str().unwrap().to_owned();
    let (_, body) = page(format!("collection={CAPTAIN}&limit=3&cursor={cursor}")).await;
    assert_eq!(body["repos"].as_array().unwrap().len(), 2);
    assert!(body.get("cursor").is_none(), "the last page has no cursor");
    let (_, body) = page(format!("collection={CAPTAIN}")).await;
    assert_eq!(body["repos"].as_array().unwrap().len(), 5);
    let (status, body) = page("collection=com.example.none".to_owned()).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "repos": [] }));

    for bad in [
        "collection=not..an.nsid".to_owned(),
        "collection=nsid".to_owned(),
        String::new(),
        format!("collection={CAPTAIN}&limit=0"),
        format!("collection={CAPTAIN}&limit=2001"),
        format!("collection={CAPTAIN}&limit=ten"),
    ] {
        let (status, body) = page(bad.clone()).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"], "InvalidRequest", "{bad}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, body) = page("collection=nsid".to_owned()).await;
    assert!(body["message"].as_str().unwrap().contains("NSID"));

    for path in [
        "/xrpc/com.atproto.sync.listCollections",
        "/v1/listCollections",
    ] {
        let response = relay.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body, serde_json::json!({ "collections": { CAPTAIN: 5 } }));
    }
    let response = relay
        .get("/xrpc/com.atproto.sync.listCollections?limit=0")
        .await;
    assert_eq!(response.status(), 400);
    relay.finish().await;
}
