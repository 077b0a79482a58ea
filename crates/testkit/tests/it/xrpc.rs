//! The fake PDS's XRPC queries.

use atrelay_repo::car::Car;
use atrelay_repo::commit::Commit;
use atrelay_repo::mst::Tree;
use atrelay_stream::AccountStatus;
use atrelay_testkit::{AccountOptions, FakeDirectory, FakePds, RecordPath};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

async fn get(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn sync_and_repo_queries_answer_like_a_pds() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let base = pds.url();
    let mut dids: Vec<String> = (0..5)
        .map(|_| pds.create_account(AccountOptions::default()).unwrap())
        .collect();
    dids.sort();
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..10 {
        pds.random_commit(&dids[0], &mut rng, 4, 10).unwrap();
    }
    pds.put_record(
        &dids[0],
        RecordPath::parse("app.bsky.actor.profile/self").unwrap(),
        atrelay_testkit::sample_record("app.bsky.actor.profile", "me"),
    )
    .unwrap();

    let (status, server) = get(&format!("{base}/xrpc/com.atproto.server.describeServer")).await;
    assert_eq!(status, 200);
    assert!(server["did"].as_str().unwrap().starts_with("did:web:"));

    // listRepos pages through every account in DID order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/xrpc/com.atproto.sync.listRepos?limit=2");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = get(&url).await;
        assert_eq!(status, 200);
        for repo in page["repos"].as_array().unwrap() {
            seen.push(repo["did"].as_str().unwrap().to_owned());
            assert_eq!(repo["active"], true);
        }
        match page["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, dids);

    // getRepo: a complete CAR whose head matches getLatestCommit.
    let car_bytes = reqwest::get(format!(
        "{base}/xrpc/com.atproto.sync.getRepo?did={}",
        dids[0]
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let car = Car::read(&car_bytes, usize::MAX).unwrap();
    let commit = Commit::decode(car.get(&car.root()).unwrap()).unwrap();
    let tree = Tree::load_complete(&car, commit.data).unwrap();
    let n_records = pds.with_repo(&dids[0], |r| r.record_count()).unwrap();
    assert_eq!(tree.entries().unwrap().len(), n_records);
    let (_, latest) = get(&format!(
        "{base}/xrpc/com.atproto.sync.getLatestCommit?did={}",
        dids[0]
    ))
    .await;
    assert_eq!(latest["cid"], car.root().to_string());
    assert_eq!(latest["rev"], commit.rev.unwrap());

    let (status, described) = get(&format!(
        "{base}/xrpc/com.atproto.repo.describeRepo?repo={}",
        dids[0]
    ))
    .await;
    assert_eq!(status, 200);
    let collections: Vec<String> = described["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert!(collections.contains(&"app.bsky.actor.profile".to_owned()));
    assert_eq!(
        collections,
        pds.with_repo(&dids[0], |r| r.collections()).unwrap()
    );
    assert_eq!(described["didDoc"]["id"], dids[0]);

    // Status changes show in getRepoStatus, listRepos and getRepo.
    pds.set_status(&dids[1], Some(AccountStatus::Deactivated))
        .unwrap();
    let (_, st) = get(&format!(
        "{base}/xrpc/com.atproto.sync.getRepoStatus?did={}",
        dids[1]
    ))
    .await;
    assert_eq!(st["active"], false);
    assert_eq!(st["status"], "deactivated");
    assert!(st.get("rev").is_none());
    let (_, st) = get(&format!(
        "{base}/xrpc/com.atproto.sync.getRepoStatus?did={}",
        dids[0]
    ))
    .await;
    assert_eq!(st["active"], true);
    assert_eq!(
        st["rev"],
        pds.with_repo(&dids[0], |r| r.rev().to_owned()).unwrap()
    );
    let (status, err) = get(&format!(
        "{base}/xrpc/com.atproto.sync.getRepo?did={}",
        dids[1]
    ))
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("RepoDeactivated"))
    );
    let (status, err) = get(&format!(
        "{base}/xrpc/com.atproto.sync.getRepoStatus?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
    ))
    .await;
    assert_eq!((status, err["error"].as_str()), (400, Some("RepoNotFound")));

    let (status, _) = get(&format!("{base}/xrpc/_health")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn request_crawl_posts_the_hostname_and_reports_refusals() {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::Json;
    use std::sync::{Arc, Mutex};

    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let router = axum::Router::new()
        .route(
            "/xrpc/com.atproto.sync.requestCrawl",
            axum::routing::post(
                |State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                    seen.lock().unwrap().push(body);
                    StatusCode::OK
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    pds.request_crawl(&relay).await.unwrap();
    assert_eq!(seen.lock().unwrap()[0]["hostname"], pds.hostname());
    // A refusal is an error carrying the status.
    let missing = format!("{relay}/nowhere");
    assert!(matches!(
        pds.request_crawl(&missing).await,
        Err(atrelay_testkit::TestkitError::HttpStatus { status: 404, .. })
    ));
}

#[tokio::test]
async fn a_localhost_named_pds_is_reachable_and_named_in_documents() {
    use atrelay_identity::{HttpResolver, Resolver, ResolverConfig};

    let directory = FakeDirectory::start().await.unwrap();
    let pds = atrelay_testkit::FakePds::start_with(
        &directory,
        atrelay_testkit::PdsOptions {
            localhost_name: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(pds.hostname(), format!("localhost:{}", pds.port()));
    let did = pds.create_account(AccountOptions::default()).unwrap();
    let resolver = HttpResolver::new(ResolverConfig {
        plc_url: directory.url(),
        dev_mode: true,
        ..ResolverConfig::default()
    })
    .unwrap();
    let ident = resolver.resolve(&did).await.unwrap();
    assert_eq!(ident.pds_host.as_deref(), Some(pds.hostname()));
    let mut ws = crate::util::connect(&pds.firehose_url(), Some(0)).await;
    assert_eq!(crate::util::read_frames(&mut ws, 3).await.len(), 3);
}
