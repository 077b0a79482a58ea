//! The admin API end to end: Basic auth, the public `requestCrawl` switches, domain bans,
//! host block / unblock / kill, takedowns as consumers see them, the consumer list, and the
//! collection backfill started for a new host. SQLite and PostgreSQL.

use crate::support;

use std::time::Duration;

use atrelay_stream::{decode_frame, Message, WireStatus};
use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds};
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{connect, TestRelay, Ws, ADMIN_PASSWORD, HANG_GUARD};
use tokio_tungstenite::tungstenite::Message as WsMessage;

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

async fn poll_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(HANG_GUARD, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} never happened"));
}

/// Every frame of the relay's firehose from `cursor` until `stop` says enough.
async fn read_until(ws: &mut Ws, mut stop: impl FnMut(&Message) -> bool) -> Vec<Message> {
    let mut out = Vec::new();
    loop {
        let frame = tokio::time::timeout(HANG_GUARD, ws.next())
            .await
            .expect("no frame within the hang guard")
            .expect("firehose closed")
            .expect("firehose failed");
        if let WsMessage::Binary(bytes) = frame {
            let message = decode_frame(&bytes).expect("relay sent a bad frame");
            let done = stop(&message);
            out.push(message);
            if done {
                return out;
            }
        }
    }
}

fn is_account(message: &Message, did: &str, active: bool) -> bool {
    matches!(message, Message::Account(a) if a.did == did && a.active == active)
}

fn commits_of(messages: &[Message], did: &str) -> usize {
    messages
        .iter()
        .filter(|m| matches!(m, Message::Commit(c) if c.repo == did))
        .count()
}

both_backends!(admin_routes_require_basic_auth);
async fn admin_routes_require_basic_auth(relay: &TestRelay) {
    let client = reqwest::Client::new();
    let url = format!("{}/admin/subs/getEnabled", relay.base);

    let anonymous = client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous
        .headers()
        .get("www-authenticate")
        .is_some_and(|v| v.to_str().unwrap().starts_with("Basic")));
    assert_eq!(json_of(anonymous).await["error"], "AuthenticationRequired");

    let wrong = client
        .get(&url)
        .basic_auth("admin", Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let wrong_user = client
        .get(&url)
        .basic_auth("root", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_user.status(), 401);
    // The public API stays open.
    assert_eq!(relay.get("/xrpc/_health").await.status(), 200);

    let right = relay.admin_get("/admin/subs/getEnabled").await;
    assert_eq!(right.status(), 200);
    assert_eq!(json_of(right).await, json!({ "enabled": true }));
}

both_backends!(script_calls_get_no_basic_auth_challenge);
/// A call carrying `X-Requested-With` (the dashboard's) is refused without the challenge that
/// makes a browser show its own password dialog; other clients still get it.
async fn script_calls_get_no_basic_auth_challenge(relay: &TestRelay) {
    let client = reqwest::Client::new();
    for path in ["/admin/subs/getEnabled", "/admin/pds/list"] {
        let wrong = client
            .get(format!("{}{path}", relay.base))
            .basic_auth("admin", Some("not-the-password"))
            .header("X-Requested-With", "atrelay-dash")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        assert!(!wrong.headers().contains_key("www-authenticate"));
        assert_eq!(json_of(wrong).await["error"], "AuthenticationRequired");
    }
    let posted = client
        .post(format!(
            "{}/admin/subs/setEnabled?enabled=false",
            relay.base
        ))
        .header("X-Requested-With", "atrelay-dash")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 401);
    assert!(!posted.headers().contains_key("www-authenticate"));
    let curl = client
        .get(format!("{}/admin/subs/getEnabled", relay.base))
        .basic_auth("admin", Some("not-the-password"))
        .send()
        .await
        .unwrap();
    assert!(curl.headers().contains_key("www-authenticate"));
}

/// Asserts a 400 `InvalidRequest` whose message contains `words`.
async fn assert_refused(response: reqwest::Response, words: &str) {
    assert_eq!(response.status(), 400);
    let body = json_of(response).await;
    assert_eq!(body["error"], "InvalidRequest", "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(message.contains(words), "{message:?} lacks {words:?}");
}

both_backends!(malformed_admin_inputs_are_refused_in_words);
/// Each form of the dashboard, given what an operator might mistype, gets a 400 saying what
/// is wrong, and nothing changes.
async fn malformed_admin_inputs_are_refused_in_words(relay: &TestRelay) {
    relay
        .admin_post("/admin/subs/setPerDayLimit?limit=9", None)
        .await;
    for raw in ["abc", "", "-1", "1.5", "%20"] {
        let response = relay
            .admin_post(&format!("/admin/subs/setPerDayLimit?limit={raw}"), None)
            .await;
        assert_refused(response, "limit").await;
    }
    assert_refused(
        relay.admin_post("/admin/subs/setPerDayLimit", None).await,
        "limit is required",
    )
    .await;
    assert_eq!(
        json_of(relay.admin_get("/admin/subs/perDayLimit").await).await,
        json!({ "limit": 9 })
    );

    for limit in [json!("abc"), json!(null), json!(-1), json!(1.5), json!("")] {
        let response = relay
            .admin_post(
                "/admin/pds/changeLimits",
                Some(json!({ "host": "pds.example.com", "repo_limit": limit })),
            )
            .await;
        assert_refused(response, "repo_limit must be a whole number").await;
    }
    assert_refused(
        relay
            .admin_post("/admin/pds/changeLimits", Some(json!({ "repo_limit": 5 })))
            .await,
        "host is required",
    )
    .await;

    for domain in ["not a domain", "", "a/b", "exa_mple.com"] {
        let response = relay
            .admin_post("/admin/subs/banDomain", Some(json!({ "Domain": domain })))
            .await;
        assert_refused(response, "is not a domain name").await;
    }
    assert_eq!(
        json_of(relay.admin_get("/admin/subs/listDomainBans").await).await,
        json!({ "banned_domains": [] })
    );

    for did in ["", "alice.example.com", "did:plc"] {
        let response = relay
            .admin_post("/admin/repo/takeDown", Some(json!({ "did": did })))
            .await;
        assert_refused(response, "is not a DID").await;
    }
    let unknown = relay
        .admin_post(
            "/admin/repo/takeDown",
            Some(json!({ "did": "did:plc:unknownaccount" })),
        )
        .await;
    assert_eq!(unknown.status(), 404);

    let not_a_host = relay
        .admin_post(
            "/admin/pds/requestCrawl",
            Some(json!({ "hostname": "not a host" })),
        )
        .await;
    assert_eq!(not_a_host.status(), 400);
}

both_backends!(request_crawl_switch_and_limit_are_stored);
async fn request_crawl_switch_and_limit_are_stored(relay: &TestRelay) {
    let off = relay
        .admin_post("/admin/subs/setEnabled?enabled=false", None)
        .await;
    assert_eq!(json_of(off).await, json!({ "success": "true" }));
    assert_eq!(
        json_of(relay.admin_get("/admin/subs/getEnabled").await).await,
        json!({ "enabled": false })
    );
    let refused = reqwest::Client::new()
        .post(format!("{}/xrpc/com.atproto.sync.requestCrawl", relay.base))
        .json(&json!({ "hostname": "pds.example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let bad = relay
        .admin_post("/admin/subs/setEnabled?enabled=maybe", None)
        .await;
    assert_eq!(bad.status(), 400);

    relay
        .admin_post("/admin/subs/setPerDayLimit?limit=7", None)
        .await;
    assert_eq!(
        json_of(relay.admin_get("/admin/subs/perDayLimit").await).await,
        json!({ "limit": 7 })
    );
    assert_eq!(
        relay
            .admin_post("/admin/subs/setPerDayLimit?limit=-1", None)
            .await
            .status(),
        400
    );
    // Stored, not in memory: the store answers the same.
    let settings = relay.store.settings().await.unwrap();
    assert_eq!(settings.request_crawl_enabled, Some(false));
    assert_eq!(settings.new_hosts_per_day, Some(7));
}

both_backends!(domain_bans_refuse_crawls_until_lifted);
async fn domain_bans_refuse_crawls_until_lifted(relay: &TestRelay) {
    let banned = relay
        .admin_post(
            "/admin/subs/banDomain",
            Some(json!({ "Domain": "evil.example" })),
        )
        .await;
    assert_eq!(banned.status(), 200);
    assert_eq!(
        json_of(relay.admin_get("/admin/subs/listDomainBans").await).await,
        json!({ "banned_domains": ["evil.example"] })
    );
    let refused = reqwest::Client::new()
        .post(format!("{}/xrpc/com.atproto.sync.requestCrawl", relay.base))
        .json(&json!({ "hostname": "pds.evil.example" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(json_of(refused).await["error"], "HostBanned");

    let malformed = relay
        .admin_post("/admin/subs/banDomain", Some(json!({ "Domain": "a/b" })))
        .await;
    assert_eq!(malformed.status(), 400);

    let lifted = relay
        .admin_post(
            "/admin/subs/unbanDomain",
            Some(json!({ "Domain": "evil.example" })),
        )
        .await;
    assert_eq!(lifted.status(), 200);
    assert_eq!(
        json_of(relay.admin_get("/admin/subs/listDomainBans").await).await,
        json!({ "banned_domains": [] })
    );
    let again = relay
        .admin_post(
            "/admin/subs/unbanDomain",
            Some(json!({ "Domain": "evil.example" })),
        )
        .await;
    assert_eq!(again.status(), 404);
}

both_backends_ingest!(operators_block_unblock_and_kill_hosts);
async fn operators_block_unblock_and_kill_hosts(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    // Public crawls are off; the admin route still works.
    relay
        .admin_post("/admin/subs/setEnabled?enabled=false", None)
        .await;
    let crawl = relay
        .admin_post(
            "/admin/pds/requestCrawl",
            Some(json!({ "hostname": pds.hostname() })),
        )
        .await;
    assert_eq!(crawl.status(), 200, "{:?}", crawl.text().await);
    let hostname = pds.hostname().to_owned();
    poll_until("the host appears connected", || async {
        json_of(relay.admin_get("/admin/subs/getUpstreamConns").await).await == json!([hostname])
    })
    .await;

    let list = json_of(relay.admin_get("/admin/pds/list").await).await;
    let row = &list.as_array().unwrap()[0];
    assert_eq!(row["Host"], pds.hostname());
    assert_eq!(row["HasActiveConnection"], true);
    assert_eq!(row["Blocked"], false);
    assert_eq!(row["SSL"], false);
    for field in [
        "ID",
        "CreatedAt",
        "Cursor",
        "RepoCount",
        "RepoLimit",
        "UserCount",
    ] {
        assert!(row.get(field).is_some(), "{field} missing from {row}");
    }
    assert_eq!(row["PerSecondEventRate"]["Window"], 1);
    assert_eq!(row["PerDayEventRate"]["Window"], 86_400);
    assert!(
        row["PerSecondEventRate"]["Max"].as_i64().unwrap() > 0,
        "{row}"
    );
    assert!(row["EventsUsed"]["PerDay"].as_u64().is_some(), "{row}");

    // Limits.
    let changed = relay
        .admin_post(
            "/admin/pds/changeLimits",
            Some(json!({ "host": pds.hostname(), "repo_limit": 5000 })),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(host.limits.account_limit, 5000);
    let unknown = relay
        .admin_post(
            "/admin/pds/changeLimits",
            Some(json!({ "host": "nowhere.example", "repo_limit": 1 })),
        )
        .await;
    assert_eq!(unknown.status(), 404);

    // Block: banned and disconnected; the public requestCrawl is refused.
    let blocked = relay
        .admin_post(&format!("/admin/pds/block?host={}", pds.hostname()), None)
        .await;
    assert_eq!(blocked.status(), 200);
    assert_eq!(
        json_of(relay.admin_get("/admin/subs/getUpstreamConns").await).await,
        json!([])
    );
    let list = json_of(relay.admin_get("/admin/pds/list").await).await;
    assert_eq!(list[0]["Blocked"], true);
    assert_eq!(list[0]["HasActiveConnection"], false);
    assert_eq!(list[0]["PerSecondEventRate"]["Max"], -1);
    assert_eq!(list[0]["EventsUsed"], Value::Null);
    poll_until("the PDS sees no subscriber", || async {
        pds.subscriber_count() == 0
    })
    .await;

    // Writes while blocked are not relayed; unblock resumes from the stored cursor.
    pds.create_record(
        &did,
        "app.bsky.feed.post",
        sample_record("app.bsky.feed.post", "while blocked"),
    )
    .unwrap();
    let unblocked = relay
        .admin_post(&format!("/admin/pds/unblock?host={}", pds.hostname()), None)
        .await;
    assert_eq!(unblocked.status(), 200);
    let head = pds.head_seq();
    poll_until("the host cursor reaches the PDS head", || async {
        let host = relay.store.host_by_hostname(pds.hostname()).await.unwrap();
        host.is_some_and(|h| h.last_seq == Some(head))
    })
    .await;

    // Kill without block: disconnected, not banned; killing again is a 400.
    let killed = relay
        .admin_post(
            &format!("/admin/subs/killUpstream?host={}", pds.hostname()),
            None,
        )
        .await;
    assert_eq!(killed.status(), 200);
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(host.status, atrelay_store::HostStatus::Active);
    let again = relay
        .admin_post(
            &format!("/admin/subs/killUpstream?host={}", pds.hostname()),
            None,
        )
        .await;
    assert_eq!(again.status(), 400);
    relay
}

both_backends_ingest!(takedowns_hide_an_account_from_consumers_until_reversed);
async fn takedowns_hide_an_account_from_consumers_until_reversed(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    let pds = FakePds::start(directory).await.unwrap();
    let bad = pds.create_account(AccountOptions::default()).unwrap();
    let good = pds.create_account(AccountOptions::default()).unwrap();
    for did in [&bad, &good] {
        pds.create_record(
            did,
            "app.bsky.feed.post",
            sample_record("app.bsky.feed.post", "before"),
        )
        .unwrap();
    }
    pds.request_crawl(&relay.base).await.unwrap();
    let head = pds.head_seq();
    poll_until("the host cursor reaches the PDS head", || async {
        let host = relay.store.host_by_hostname(pds.hostname()).await.unwrap();
        host.is_some_and(|h| h.last_seq == Some(head))
    })
    .await;

    let unknown = relay
        .admin_post(
            "/admin/repo/takeDown",
            Some(json!({ "did": "did:plc:nobodyhere" })),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(json_of(unknown).await["error"], "RepoNotFound");

    let mut live = connect(&relay, None).await;
    let taken = relay
        .admin_post("/admin/repo/takeDown", Some(json!({ "did": bad })))
        .await;
    assert_eq!(taken.status(), 200);

    // Live consumers hear of it.
    let heard = read_until(&mut live, |m| is_account(m, &bad, false)).await;
    let Message::Account(notice) = heard.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(
        notice.status,
        Some(WireStatus::Known(atrelay_store::AccountStatus::Takendown))
    );

    // The query endpoints and the takedown list agree.
    let status = json_of(
        relay
            .get(&format!("/xrpc/com.atproto.sync.getRepoStatus?did={bad}"))
            .await,
    )
    .await;
    assert_eq!(status["active"], false);
    assert_eq!(status["status"], "takendown");
    let list = json_of(relay.admin_get("/admin/repo/takedowns").await).await;
    assert_eq!(list["dids"], json!([bad]));
    // The dashboard's account lookup shows both statuses, the host and the latest rev.
    let account = json_of(relay.admin_get(&format!("/admin/repo/get?did={bad}")).await).await;
    assert_eq!(account["did"], json!(bad));
    assert_eq!(account["host"], json!(pds.hostname()));
    assert_eq!(account["status"], "takendown");
    assert_eq!(account["active"], false);
    assert_eq!(account["upstream_status"], "active");
    assert_eq!(account["local_status"], "takendown");
    assert!(account["rev"].is_string());
    assert_eq!(account["desynchronized"], false);
    let unknown = relay
        .admin_get("/admin/repo/get?did=did:plc:nobodyhere")
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        relay.admin_get("/admin/repo/get?did=bob").await.status(),
        400
    );

    // New commits of the taken-down account are not passed on; the other account's are.
    pds.create_record(
        &bad,
        "app.bsky.feed.post",
        sample_record("app.bsky.feed.post", "during"),
    )
    .unwrap();
    pds.create_record(
        &good,
        "app.bsky.feed.post",
        sample_record("app.bsky.feed.post", "during"),
    )
    .unwrap();
    let during = read_until(
        &mut live,
        |m| matches!(m, Message::Commit(c) if c.repo == good),
    )
    .await;
    assert_eq!(commits_of(&during, &bad), 0);

    // Replay from the start: none of its commits, but the takedown notice.
    let mut replay = connect(&relay, Some(0)).await;
    let replayed = read_until(&mut replay, |m| is_account(m, &bad, false)).await;
    assert_eq!(commits_of(&replayed, &bad), 0);
    assert!(commits_of(&replayed, &good) >= 1);

    // Reversal: announced active, past events replay again.
    let reversed = relay
        .admin_post("/admin/repo/reverseTakedown", Some(json!({ "did": bad })))
        .await;
    assert_eq!(reversed.status(), 200);
    read_until(&mut live, |m| is_account(m, &bad, true)).await;
    let newest = relay.log.newest_seq();
    let mut replay = connect(&relay, Some(0)).await;
    let replayed = read_until(&mut replay, |m| m.seq() == Some(newest)).await;
    assert!(is_account(replayed.last().unwrap(), &bad, true));
    assert!(commits_of(&replayed, &bad) >= 1);
    let list = json_of(relay.admin_get("/admin/repo/takedowns").await).await;
    assert_eq!(list["dids"], json!([]));
    relay
}

both_backends_ingest!(consumer_list_shows_connected_consumers);
async fn consumer_list_shows_connected_consumers(
    relay: TestRelay,
    _directory: &FakeDirectory,
) -> TestRelay {
    let mut ws = connect(&relay, None).await;
    poll_until("the consumer is listed", || async {
        let list = json_of(relay.admin_get("/admin/consumers/list").await).await;
        list.as_array().is_some_and(|consumers| {
            consumers.len() == 1
                && consumers[0]["remote_addr"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("127.0.0.1"))
                && consumers[0]["lag"].is_i64()
        })
    })
    .await;

    // An operator disconnects it: its connection closes and it leaves the list.
    let list = json_of(relay.admin_get("/admin/consumers/list").await).await;
    let id = list[0]["id"].as_u64().unwrap();
    for (bad, status) in [("abc", 400), ("", 400), ("999999", 404)] {
        let response = relay
            .admin_post(&format!("/admin/consumers/disconnect?id={bad}"), None)
            .await;
        assert_eq!(response.status(), status, "id={bad:?}");
    }
    let kicked = relay
        .admin_post(&format!("/admin/consumers/disconnect?id={id}"), None)
        .await;
    assert_eq!(kicked.status(), 200);
    let closed = tokio::time::timeout(HANG_GUARD, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was not closed");
    poll_until("the consumer leaves the list", || async {
        let list = json_of(relay.admin_get("/admin/consumers/list").await).await;
        list.as_array().is_some_and(Vec::is_empty)
    })
    .await;
    relay
}

both_backends_ingest!(a_new_host_is_backfilled_into_the_collection_index);
async fn a_new_host_is_backfilled_into_the_collection_index(
    relay: TestRelay,
    directory: &FakeDirectory,
) -> TestRelay {
    const CAPTAIN: &str = "io.atcr.hold.captain";
    let pds = FakePds::start(directory).await.unwrap();
    let web = pds
        .create_account(AccountOptions {
            did_web: true,
            ..AccountOptions::default()
        })
        .unwrap();
    pds.create_record(&web, CAPTAIN, sample_record(CAPTAIN, "hold"))
        .unwrap();
    // The PDS no longer holds those events: only a crawl of its repositories can find them.
    pds.trim_log(0);
    pds.request_crawl(&relay.base).await.unwrap();
    poll_until("the backfill lists the did:web hold", || async {
        let body = json_of(
            relay
                .get(&format!(
                    "/xrpc/com.atproto.sync.listReposByCollection?collection={CAPTAIN}"
                ))
                .await,
        )
        .await;
        body["repos"] == json!([{ "did": web }])
    })
    .await;
    let progress = json_of(relay.admin_get("/admin/collections/crawl").await).await;
    assert!(
        progress.to_string().contains(pds.hostname()),
        "crawl progress names the host: {progress}"
    );
    let refused = relay
        .admin_post("/admin/collections/crawl", Some(json!({})))
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(json_of(refused).await["error"], "InvalidRequest");
    relay
}

both_backends!(overview_reports_the_relay_state_behind_auth);
/// `/admin/overview` needs the admin password and reports the replay window, consumers and
/// the sample history (empty until the first 10-s interval has passed).
async fn overview_reports_the_relay_state_behind_auth(relay: &TestRelay) {
    let anonymous = reqwest::get(format!("{}/admin/overview", relay.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let overview = json_of(relay.admin_get("/admin/overview").await).await;
    assert_eq!(overview["interval_secs"], 10);
    assert!(overview["samples"].is_array());
    let now = &overview["now"];
    assert_eq!(now["consumers"], 0);
    assert_eq!(now["accepted_total"], 0);
    assert!(now["replay"]["newest_seq"].is_i64());
    assert!(now["replay"]["bytes"].is_u64());
    assert!(now["database"]["max"].as_u64().unwrap() > 0);
}

both_backends!(dashboard_is_served_and_calls_only_existing_admin_routes);
async fn dashboard_is_served_and_calls_only_existing_admin_routes(relay: &TestRelay) {
    let page = relay.get("/dash/").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains("/dash/app.js") && html.contains("/dash/style.css"));
    assert_eq!(relay.get("/dash").await.status(), 308);
    assert_eq!(relay.get("/dash/style.css").await.status(), 200);

    // Every module is served, and every admin path a module calls exists (a wrong method
    // answers 405, never 404).
    let mut scripts = String::new();
    for (name, _, _) in atrelay::http::dash::ASSETS {
        if name.ends_with(".js") {
            let script = relay.get(&format!("/dash/{name}")).await;
            assert_eq!(script.status(), 200, "{name}");
            scripts.push_str(&script.text().await.unwrap());
        }
    }
    let mut paths: Vec<&str> = scripts
        .split(['"', '`'])
        .filter(|s| s.starts_with("/admin/"))
        .map(|s| s.split(['?', '$']).next().unwrap())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    assert!(paths.len() >= 12, "found {paths:?}");
    for path in paths {
        let status = relay.admin_get(path).await.status();
        assert_ne!(status, 404, "{path} does not exist");
    }
}

/// Trust is decided before anything is stored, so one backend is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_domains_are_trusted_from_the_first_crawl() {
    let directory = FakeDirectory::start().await.unwrap();
    let mut setup = support::IngestSetup::for_directory(&directory);
    setup.config.trusted_domains = vec!["127.0.0.1".to_owned()];
    let relay = TestRelay::sqlite_ingest(setup).await;
    let pds = FakePds::start(&directory).await.unwrap();
    pds.create_account(AccountOptions::default()).unwrap();
    assert!(
        pds.hostname().starts_with("127.0.0.1:"),
        "{}",
        pds.hostname()
    );
    pds.request_crawl(&relay.base).await.unwrap();
    let host = relay
        .store
        .host_by_hostname(pds.hostname())
        .await
        .unwrap()
        .unwrap();
    assert!(host.trusted);
    assert_eq!(host.limits.account_limit, 10_000_000);
    let list = json_of(relay.admin_get("/admin/pds/list").await).await;
    assert_eq!(list[0]["Trusted"], true);
    relay.finish().await;
}
