//! The HTTP routes, called through the axum router.

use atrelay_collections::http::{admin_router, router};
use atrelay_collections::{Backfill, BackfillConfig, CrawlState, Op, OpAction};
use atrelay_testkit::{sample_record, TidClock};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::common::{pds_with_plc_and_web, temp_index, CAPTAIN};

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).expect("json body");
    (status, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

#[tokio::test]
async fn list_repos_by_collection_pages_and_validates() {
    let (_dir, index) = temp_index();
    let mut clock = TidClock::new(1);
    for i in 0..5u32 {
        let did = format!("did:plc:{i:024}");
        let op = Op::new(OpAction::Create, format!("{CAPTAIN}/r{i}"));
        index
            .apply_commit(&did, &clock.next_tid().to_text(), None, &[op])
            .expect("apply");
    }
    let app = router(index);
    let base = "/xrpc/com.atproto.sync.listReposByCollection";
    let (status, body) = call(&app, get(&format!("{base}?collection={CAPTAIN}&limit=3"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["repos"].as_array().expect("repos").len(), 3);
    assert_eq!(
        body["repos"][0],
        json!({ "did": format!("did:plc:{:024}", 0) })
    );
    let cursor = body["cursor"].as_str().expect("cursor").to_owned();
    let (_, body) = call(
        &app,
        get(&format!(
            "{base}?collection={CAPTAIN}&limit=3&cursor={cursor}"
        )),
    )
    .await;
    assert_eq!(body["repos"].as_array().expect("repos").len(), 2);
    assert!(body.get("cursor").is_none(), "last page has no cursor");
    // Default limit.
    let (_, body) = call(&app, get(&format!("{base}?collection={CAPTAIN}"))).await;
    assert_eq!(body["repos"].as_array().expect("repos").len(), 5);
    // Unknown collection: empty.
    let (status, body) = call(&app, get(&format!("{base}?collection=com.example.none"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "repos": [] }));

    for bad in [
        format!("{base}?collection=not..an.nsid"),
        format!("{base}?collection=nsid"),
        base.to_owned(),
        format!("{base}?collection={CAPTAIN}&limit=0"),
        format!("{base}?collection={CAPTAIN}&limit=2001"),
        format!("{base}?collection={CAPTAIN}&limit=ten"),
    ] {
        let (status, body) = call(&app, get(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], "InvalidRequest", "{bad}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, body) = call(&app, get(&format!("{base}?collection=nsid"))).await;
    assert!(body["message"].as_str().expect("message").contains("NSID"));

    let (status, body) = call(&app, get("/xrpc/com.atproto.sync.listCollections")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "collections": { CAPTAIN: 5 } }));
}

#[tokio::test]
async fn admin_routes_start_a_crawl_and_show_progress() {
    let (_dir, index) = temp_index();
    let (_d, pds, plc, web) = pds_with_plc_and_web().await;
    pds.create_record(&web, CAPTAIN, sample_record(CAPTAIN, "w"))
        .expect("record");
    let backfill = Backfill::new(
        index.clone(),
        BackfillConfig {
            requests_per_second: 1000.0,
            outbound: atrelay_net::Outbound::new(true),
            ..BackfillConfig::default()
        },
    )
    .expect("backfill");
    let admin = admin_router(backfill.clone());
    let request = Request::post("/admin/collections/crawl")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "hostname": pds.hostname(), "url": pds.url() }).to_string(),
        ))
        .expect("request");
    let (status, body) = call(&admin, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["started"], true);
    backfill.wait_idle(pds.hostname()).await.expect("progress");
    let (status, body) = call(&admin, get("/admin/collections/crawl")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["hosts"][0]["hostname"], pds.hostname());
    assert_eq!(body["hosts"][0]["state"], "done");
    assert_eq!(body["hosts"][0]["reposSeen"], 2);
    assert_eq!(backfill.progress()[0].state, CrawlState::Done);

    let bad = Request::post("/admin/collections/crawl")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .expect("request");
    assert_eq!(call(&admin, bad).await.0, StatusCode::BAD_REQUEST);

    let app = router(index);
    let (_, body) = call(
        &app,
        get(&format!(
            "/xrpc/com.atproto.sync.listReposByCollection?collection={CAPTAIN}"
        )),
    )
    .await;
    assert_eq!(body, json!({ "repos": [{ "did": web }] }));
    assert_ne!(plc, web);
}
