//! The public HTTP API over a real loopback socket, on SQLite and on PostgreSQL.

use crate::support;

use atrelay::http::server::SERVER_HEADER;
use atrelay_store::{AccountStatus, AccountUpdate, HostLimits, HostStatus, NewHost, RepoState};
use serde_json::{json, Value};
use support::TestRelay;

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Creates `host` with `n` accounts `did:plc:<prefix><i>`, each with a verified commit.
async fn seed(relay: &TestRelay, hostname: &str, prefix: &str, n: usize) -> i64 {
    let host = relay
        .store
        .create_host(&NewHost {
            hostname: hostname.to_owned(),
            no_ssl: false,
            trusted: false,
            status: HostStatus::Active,
            limits: HostLimits::with_account_limit(1000),
        })
        .await
        .unwrap();
    let updates: Vec<AccountUpdate> = (0..n)
        .map(|i| {
            AccountUpdate::new(format!("did:plc:{prefix}{i:04}"), host.id).with_repo(RepoState {
                rev: format!("3lbbbbbbbb{i:03}"),
                commit_cid: format!("bafyreicommit{i}"),
                data_cid: format!("bafyreidata{i}"),
            })
        })
        .collect();
    relay.store.apply_batch(&updates, &[]).await.unwrap();
    host.id
}

both_backends!(health_checks_the_database);
async fn health_checks_the_database(relay: &TestRelay) {
    let response = relay.get("/xrpc/_health").await;
    assert_eq!(
        response.headers()["server"].to_str().unwrap(),
        SERVER_HEADER
    );
    assert_eq!(json_of(response).await, (200, json!({"status": "ok"})));
    let banner = relay.get("/").await.text().await.unwrap();
    assert!(banner.contains("/xrpc/com.atproto.sync.subscribeRepos"));
}

both_backends!(list_hosts_pages_in_first_seen_order);
async fn list_hosts_pages_in_first_seen_order(relay: &TestRelay) {
    for name in [
        "pds-c.example.com",
        "pds-a.example.com",
        "pds-b.example.com",
    ] {
        seed(relay, name, "x", 0).await;
    }
    let (status, page) = json_of(relay.get("/xrpc/com.atproto.sync.listHosts?limit=2").await).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pds-c.example.com", "pds-a.example.com"]);
    assert_eq!(page["hosts"][0]["status"], "active");
    assert_eq!(page["hosts"][0]["accountCount"], 0);
    let cursor = page["cursor"].as_str().unwrap();
    let (_, rest) = json_of(
        relay
            .get(&format!(
                "/xrpc/com.atproto.sync.listHosts?limit=2&cursor={cursor}"
            ))
            .await,
    )
    .await;
    assert_eq!(rest["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(rest["hosts"][0]["hostname"], "pds-b.example.com");
    assert!(rest.get("cursor").is_none(), "the last page has no cursor");

    for bad in ["limit=0", "limit=1001", "limit=ten", "cursor=abc"] {
        let (status, body) = json_of(
            relay
                .get(&format!("/xrpc/com.atproto.sync.listHosts?{bad}"))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("InvalidRequest")),
            "{bad}"
        );
    }
}

both_backends!(get_host_status_and_not_found);
async fn get_host_status_and_not_found(relay: &TestRelay) {
    seed(relay, "pds.example.com", "h", 3).await;
    let (status, body) = json_of(
        relay
            .get("/xrpc/com.atproto.sync.getHostStatus?hostname=pds.example.com")
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"hostname": "pds.example.com", "accountCount": 3, "status": "active"})
    );
    let (status, body) = json_of(
        relay
            .get("/xrpc/com.atproto.sync.getHostStatus?hostname=other.example.com")
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("HostNotFound"))
    );
    let (status, _) = json_of(relay.get("/xrpc/com.atproto.sync.getHostStatus").await).await;
    assert_eq!(status, 400);
}

both_backends!(list_repos_returns_every_account_once);
async fn list_repos_returns_every_account_once(relay: &TestRelay) {
    seed(relay, "pds.example.com", "r", 25).await;
    relay
        .store
        .set_local_status("did:plc:r0003", AccountStatus::Takendown, Some("test"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("limit=10&cursor={cursor}"),
            None => "limit=10".to_owned(),
        };
        let (status, page) = json_of(
            relay
                .get(&format!("/xrpc/com.atproto.sync.listRepos?{query}"))
                .await,
        )
        .await;
        assert_eq!(status, 200);
        for repo in page["repos"].as_array().unwrap() {
            seen.push(repo.clone());
        }
        match page.get("cursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let dids: Vec<&str> = seen.iter().map(|r| r["did"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..25).map(|i| format!("did:plc:r{i:04}")).collect();
    assert_eq!(dids, expected);
    assert_eq!(
        seen[3],
        json!({"did": "did:plc:r0003", "head": "bafyreicommit3", "rev": "3lbbbbbbbb003",
               "active": false, "status": "takendown"})
    );
    assert_eq!(seen[4]["active"], true);
    assert!(seen[4].get("status").is_none());
}

both_backends!(repo_status_latest_commit_and_get_repo);
async fn repo_status_latest_commit_and_get_repo(relay: &TestRelay) {
    seed(relay, "pds.example.com", "s", 2).await;
    let (status, body) = json_of(
        relay
            .get("/xrpc/com.atproto.sync.getRepoStatus?did=did:plc:s0000")
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"did": "did:plc:s0000", "active": true, "rev": "3lbbbbbbbb000"})
    );
    let (status, body) = json_of(
        relay
            .get("/xrpc/com.atproto.sync.getLatestCommit?did=did:plc:s0000")
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"cid": "bafyreicommit0", "rev": "3lbbbbbbbb000"})
    );

    let response = relay
        .get("/xrpc/com.atproto.sync.getRepo?did=did:plc:s0000&since=3lbbbbbbbb000")
        .await;
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "https://pds.example.com/xrpc/com.atproto.sync.getRepo?did=did:plc:s0000&since=3lbbbbbbbb000"
    );

    for (local, error) in [
        (AccountStatus::Takendown, "RepoTakendown"),
        (AccountStatus::Suspended, "RepoSuspended"),
        (AccountStatus::Deactivated, "RepoDeactivated"),
        (AccountStatus::Deleted, "RepoDeleted"),
        (AccountStatus::Throttled, "RepoInactive"),
    ] {
        relay
            .store
            .set_local_status("did:plc:s0001", local, None)
            .await
            .unwrap();
        let (status, body) = json_of(
            relay
                .get("/xrpc/com.atproto.sync.getRepoStatus?did=did:plc:s0001")
                .await,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"did": "did:plc:s0001", "active": false, "status": local.as_str()})
        );
        for endpoint in ["getLatestCommit", "getRepo"] {
            let (status, body) = json_of(
                relay
                    .get(&format!(
                        "/xrpc/com.atproto.sync.{endpoint}?did=did:plc:s0001"
                    ))
                    .await,
            )
            .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (403, Some(error)),
                "{endpoint} {local}"
            );
        }
    }

    for endpoint in ["getRepoStatus", "getLatestCommit", "getRepo"] {
        let (status, body) = json_of(
            relay
                .get(&format!(
                    "/xrpc/com.atproto.sync.{endpoint}?did=did:plc:unknown"
                ))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("RepoNotFound")),
            "{endpoint}"
        );
        let (status, body) = json_of(
            relay
                .get(&format!("/xrpc/com.atproto.sync.{endpoint}?did=not-a-did"))
                .await,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("InvalidRequest")),
            "{endpoint}"
        );
    }
}
