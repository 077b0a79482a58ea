//! The collection crawl goes out only through the guarded dialler, and is bounded.
//!
//! Through the admin API: a loopback URL is refused without `--allow-insecure-hosts`
//! (nothing is dialled), accepted with it; a loopback name is refused when it is resolved,
//! with a short reason. Through the crawler and its [`GuardedRepoSource`] directly: loopback
//! targets refused in production, no redirect followed, no foreign body in `lastError`, an
//! oversized repository abandoned while it streams (or refused by its `content-length`), and
//! the two queries against a fake PDS (pages, cursors, CARs, XRPC error names).

use crate::support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atrelay::engine::outbound::Outbound;
use atrelay::engine::repo_source::GuardedRepoSource;
use atrelay_collections::{
    Backfill, BackfillConfig, CollectionIndex, CrawlState, FetchError, HostProgress, RepoSnapshot,
    RepoSource,
};
use atrelay_net::{Lookup, LookupFuture};
use atrelay_stream::AccountStatus;
use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds};
use serde_json::{json, Value};
use support::{IngestSetup, TestRelay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A loopback server that counts connections and answers `{"repos":[]}`.
async fn counting_host() -> (u16, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let body = r#"{"repos":[]}"#;
                let _ = socket
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (port, count)
}

async fn crawl(relay: &TestRelay, hostname: &str, url: Option<&str>) -> (u16, Value) {
    let mut body = json!({ "hostname": hostname });
    if let Some(url) = url {
        body["url"] = json!(url);
    }
    let response = relay
        .admin_post("/admin/collections/crawl", Some(body))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The crawl progress of `hostname` once it is no longer running.
async fn finished(relay: &TestRelay, hostname: &str) -> Value {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            let response = relay.admin_get("/admin/collections/crawl").await;
            let body: Value = response.json().await.unwrap();
            let host = body["hosts"]
                .as_array()
                .and_then(|hosts| hosts.iter().find(|h| h["hostname"] == hostname).cloned());
            if let Some(host) = host.filter(|h| h["state"] != "running") {
                return host;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("crawl never finished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_collection_crawl_refuses_loopback_outside_dev_mode() {
    let (port, connections) = counting_host().await;
    let production = TestRelay::sqlite().await;
    for url in [
        format!("http://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        "https://127.0.0.1".to_owned(),
        "https://[::1]".to_owned(),
        "https://169.254.169.254".to_owned(),
    ] {
        let (status, body) = crawl(&production, "pds.example.com", Some(&url)).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["error"], "InvalidRequest", "{url}: {body}");
    }
    // A name resolving to loopback: accepted, then refused when resolved; the reason is ours.
    let (status, body) = crawl(&production, "localhost", None).await;
    assert_eq!(status, 200, "{body}");
    let progress = finished(&production, "localhost").await;
    assert_eq!(progress["state"], "failed", "{progress}");
    let error = progress["lastError"].as_str().unwrap();
    assert!(error.contains("non-public address"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    production.finish().await;

    // Dev mode: the same loopback URL is crawled.
    let directory = FakeDirectory::start().await.unwrap();
    let dev = TestRelay::sqlite_ingest(IngestSetup::for_directory(&directory)).await;
    let url = format!("http://127.0.0.1:{port}");
    let (status, body) = crawl(&dev, "loopback.test", Some(&url)).await;
    assert_eq!((status, &body["started"]), (200, &json!(true)), "{body}");
    let progress = finished(&dev, "loopback.test").await;
    assert_eq!(progress["state"], "done", "{progress}");
    assert!(connections.load(Ordering::SeqCst) >= 1);
    dev.finish().await;
}

// --- The crawler over the guarded source, without a relay around it ---

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const SECRET: &str = "SECRET-INTERNAL-BODY";

/// What a fake host answers.
#[derive(Clone)]
enum Answer {
    Json(String),
    /// `302` to `location`, with a body that must never be shown.
    Redirect(String),
    /// `200` streaming this many bytes of junk, chunked (no `content-length`).
    Stream(usize),
    /// `200` announcing this `content-length`, then sending nothing more.
    Announce(u64),
    /// This status with this body (an XRPC error, or anything a host may send).
    Status(u16, String),
}

/// A raw HTTP/1.1 host on loopback: `route(path)` picks the answer. Counts requests and the
/// body bytes it managed to write.
struct FakeHost {
    port: u16,
    requests: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
}

impl FakeHost {
    async fn start(route: impl Fn(&str) -> Answer + Send + Sync + 'static) -> FakeHost {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(AtomicUsize::new(0));
        let route = Arc::new(route);
        let (req, wr) = (requests.clone(), written.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (route, req, wr) = (route.clone(), req.clone(), wr.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    req.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    let _ = answer(&mut socket, route(&path), &wr).await;
                });
            }
        });
        FakeHost {
            port,
            requests,
            written,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn answer(
    socket: &mut tokio::net::TcpStream,
    answer: Answer,
    written: &AtomicUsize,
) -> std::io::Result<()> {
    let json = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match answer {
        Answer::Json(body) => socket.write_all(json("200 OK", &body).as_bytes()).await,
        Answer::Status(status, body) => {
            let status = format!("{status} Whatever");
            socket.write_all(json(&status, &body).as_bytes()).await
        }
        Answer::Redirect(location) => {
            let response = format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-type: text/plain\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{SECRET}",
                SECRET.len()
            );
            socket.write_all(response.as_bytes()).await
        }
        Answer::Announce(length) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.ipld.car\r\n\
                 content-length: {length}\r\nconnection: close\r\n\r\n"
            );
            socket.write_all(head.as_bytes()).await?;
            // Hold the connection open: the body never comes, so only a refusal based on the
            // header can end the request before the test's hang guard.
            tokio::time::sleep(HANG_GUARD * 2).await;
            Ok(())
        }
        Answer::Stream(total) => {
            socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.ipld.car\r\n\
                      transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                )
                .await?;
            let chunk = vec![0xa5u8; 64 << 10];
            let mut sent = 0;
            while sent < total {
                socket
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                socket.write_all(&chunk).await?;
                socket.write_all(b"\r\n").await?;
                sent += chunk.len();
                written.store(sent, Ordering::SeqCst);
            }
            socket.write_all(b"0\r\n\r\n").await
        }
    }
}

/// `listRepos` naming one account, and `getRepo` answered by `repo`.
fn one_account(repo: Answer) -> impl Fn(&str) -> Answer + Send + Sync + 'static {
    move |path: &str| {
        if path.starts_with("/xrpc/com.atproto.sync.listRepos") {
            Answer::Json(format!(r#"{{"repos":[{{"did":"{DID}"}}]}}"#))
        } else {
            repo.clone()
        }
    }
}

/// Every name resolves to 127.0.0.1, as a hostile host's DNS would arrange.
struct AllLoopback;

impl Lookup for AllLoopback {
    fn lookup<'a>(&'a self, _host: &'a str, port: u16) -> LookupFuture<'a> {
        Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
    }
}

/// The relay's source over `outbound`, with the relay's default timeout.
fn source(outbound: Outbound, max_car_bytes: usize) -> GuardedRepoSource {
    GuardedRepoSource::new(&outbound, Duration::from_secs(300), max_car_bytes).unwrap()
}

/// A source in dev mode (the fake hosts are on loopback).
fn dev_source() -> GuardedRepoSource {
    source(
        Outbound::new(true),
        atrelay::engine::repo_source::DEFAULT_MAX_CAR_BYTES,
    )
}

/// A crawler over `source` writing into a fresh index, with fast settings.
fn backfill(source: GuardedRepoSource) -> (tempfile::TempDir, Backfill) {
    let dir = tempfile::tempdir().unwrap();
    let index = CollectionIndex::open(dir.path()).unwrap();
    let config = BackfillConfig {
        requests_per_second: 1000.0,
        page_size: 10,
        retry_backoff: Duration::from_millis(10),
        page_attempts: 2,
        ..BackfillConfig::default()
    };
    let backfill = Backfill::new(index, Arc::new(source), config).unwrap();
    (dir, backfill)
}

/// Starts `hostname` and waits for its crawl to end.
async fn crawl_host(backfill: &Backfill, hostname: &str, url: &str) -> HostProgress {
    backfill.start_host(hostname, url).expect("start");
    tokio::time::timeout(HANG_GUARD, backfill.wait_idle(hostname))
        .await
        .expect("crawl hung")
        .expect("progress")
}

#[tokio::test]
async fn production_refuses_loopback_hosts_before_dialling() {
    let host = FakeHost::start(one_account(Answer::Json("{}".to_owned()))).await;
    let production = source(
        Outbound::with_lookup(false, Arc::new(AllLoopback)),
        atrelay::engine::repo_source::DEFAULT_MAX_CAR_BYTES,
    );
    let (_dir, production) = backfill(production);
    // IP literals, plain http and ports are refused when the crawl is asked for.
    for url in [
        host.url(),
        format!("https://127.0.0.1:{}", host.port),
        "https://127.0.0.1".to_owned(),
        "https://[::1]".to_owned(),
        "https://[::ffff:10.0.0.1]".to_owned(),
    ] {
        let err = production.start_host("pds.example.com", &url).unwrap_err();
        assert!(err.to_string().contains("refused"), "{url}: {err}");
    }
    // A name that resolves to loopback is refused when it is resolved, at once (no retry).
    let progress = crawl_host(&production, "pds.example.com", "https://pds.example.com").await;
    assert_eq!(progress.state, CrawlState::Failed, "{progress:?}");
    let error = progress.last_error.unwrap();
    assert!(error.contains("non-public address 127.0.0.1"), "{error}");
    assert_eq!(host.requests.load(Ordering::SeqCst), 0);
    production.shutdown().await;
}

#[tokio::test]
async fn guard_refusals_are_reported_as_refused() {
    let production = source(
        Outbound::with_lookup(false, Arc::new(AllLoopback)),
        atrelay::engine::repo_source::DEFAULT_MAX_CAR_BYTES,
    );
    assert!(production.check_url("https://pds.example.com").is_ok());
    let reason = production.check_url("https://127.0.0.1").unwrap_err();
    assert!(reason.contains("non-public address 127.0.0.1"), "{reason}");
    for result in [
        production
            .list_repos("https://pds.example.com", 10, None)
            .await
            .map(drop),
        production
            .get_repo("https://pds.example.com", DID)
            .await
            .map(drop),
        production
            .get_repo("http://127.0.0.1:1", DID)
            .await
            .map(drop),
    ] {
        assert!(matches!(result, Err(FetchError::Refused(_))), "{result:?}");
    }
}

#[tokio::test]
async fn redirects_are_not_followed_and_foreign_bodies_not_shown() {
    let target = FakeHost::start(one_account(Answer::Json("{}".to_owned()))).await;
    let secret_url = format!("{}/internal", target.url());
    // listRepos answers 302 to another loopback port.
    let redirecting = {
        let location = secret_url.clone();
        FakeHost::start(move |_: &str| Answer::Redirect(location.clone())).await
    };
    let (_dir, dev) = backfill(dev_source());
    let progress = crawl_host(&dev, "redirecting.test", &redirecting.url()).await;
    assert_eq!(progress.state, CrawlState::Failed, "{progress:?}");
    let error = progress.last_error.unwrap();
    assert!(error.contains("HTTP 302"), "{error}");
    assert!(!error.contains(SECRET), "{error}");
    // A redirect is final: one request, no retries.
    assert_eq!(redirecting.requests.load(Ordering::SeqCst), 1);

    // getRepo answers 302 to loopback.
    let repo_redirect = FakeHost::start(one_account(Answer::Redirect(secret_url.clone()))).await;
    let progress = crawl_host(&dev, "repo-redirect.test", &repo_redirect.url()).await;
    assert_eq!(progress.state, CrawlState::Done, "{progress:?}");
    assert_eq!(progress.repos_failed, 1, "{progress:?}");
    let error = progress.last_error.unwrap();
    assert!(error.contains("HTTP 302"), "{error}");
    assert!(!error.contains(SECRET), "{error}");
    assert_eq!(target.requests.load(Ordering::SeqCst), 0);
    dev.shutdown().await;
}

#[tokio::test]
async fn only_the_xrpc_error_name_of_a_failed_answer_is_kept() {
    let source = dev_source();
    let cases = [
        // An XRPC error: its name is kept, its message is not.
        (
            Answer::Status(
                400,
                format!(r#"{{"error":"RepoTakendown","message":"{SECRET}"}}"#),
            ),
            400,
            "RepoTakendown",
        ),
        // A name that is not a plain identifier is dropped.
        (
            Answer::Status(500, format!(r#"{{"error":"{SECRET} <script>"}}"#)),
            500,
            "",
        ),
        // Not JSON at all.
        (Answer::Status(502, SECRET.to_owned()), 502, ""),
    ];
    for (i, (reply, status, name)) in cases.into_iter().enumerate() {
        let host = FakeHost::start(move |_: &str| reply.clone()).await;
        let error = source.get_repo(&host.url(), DID).await.unwrap_err();
        let FetchError::Xrpc {
            status: got,
            error: got_name,
        } = &error
        else {
            panic!("case {i}: {error:?}");
        };
        assert_eq!((*got, got_name.as_str()), (status, name), "case {i}");
        assert!(!error.to_string().contains(SECRET), "case {i}: {error}");
    }
}

#[tokio::test]
async fn an_oversized_repository_is_abandoned_while_it_streams() {
    const LIMIT: usize = 1 << 20;
    const SERVED: usize = 256 << 20;
    let host = FakeHost::start(one_account(Answer::Stream(SERVED))).await;
    let (_dir, backfill) = backfill(source(Outbound::new(true), LIMIT));
    let progress = crawl_host(&backfill, "huge.test", &host.url()).await;
    assert_eq!(progress.repos_failed, 1, "{progress:?}");
    assert_eq!(progress.repos_indexed, 0, "{progress:?}");
    let error = progress.last_error.unwrap();
    assert!(
        error.contains(&format!("larger than the {LIMIT}-byte limit")),
        "{error}"
    );
    // The relay hung up early: the host could not push more than the limit plus what the
    // sockets buffer, nowhere near the whole repository.
    let written = host.written.load(Ordering::SeqCst);
    assert!(written < SERVED / 4, "the host wrote {written} bytes");
    backfill.shutdown().await;
}

#[tokio::test]
async fn a_repository_announced_too_large_is_refused_before_reading() {
    const LIMIT: usize = 1 << 20;
    let host = FakeHost::start(one_account(Answer::Announce(LIMIT as u64 + 1))).await;
    let source = source(Outbound::new(true), LIMIT);
    let error = tokio::time::timeout(HANG_GUARD, source.get_repo(&host.url(), DID))
        .await
        .expect("the body was waited for")
        .unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { limit: LIMIT }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_source_pages_a_fake_pds_and_fetches_its_repositories() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let mut dids = Vec::new();
    for web in [false, true, false] {
        let did = pds
            .create_account(AccountOptions {
                did_web: web,
                ..AccountOptions::default()
            })
            .unwrap();
        pds.create_record(
            &did,
            "io.atcr.hold.captain",
            sample_record("io.atcr.hold.captain", "c"),
        )
        .unwrap();
        dids.push(did);
    }
    dids.sort();
    pds.set_status(&dids[2], Some(AccountStatus::Suspended))
        .unwrap();
    let source = dev_source();
    source.check_url(&pds.url()).unwrap();

    // Two pages of two, then the last one; the suspended account is listed inactive.
    let first = source.list_repos(&pds.url(), 2, None).await.unwrap();
    let cursor = first.cursor.clone().expect("a cursor after a full page");
    let second = source
        .list_repos(&pds.url(), 2, Some(&cursor))
        .await
        .unwrap();
    let listed: Vec<(String, Option<bool>)> = first
        .repos
        .iter()
        .chain(&second.repos)
        .map(|r| (r.did.clone(), r.active))
        .collect();
    assert_eq!(
        listed,
        vec![
            (dids[0].clone(), Some(true)),
            (dids[1].clone(), Some(true)),
            (dids[2].clone(), Some(false)),
        ]
    );
    assert_eq!(second.cursor, None);

    // An active account's CAR is its whole repository.
    let car = source.get_repo(&pds.url(), &dids[0]).await.unwrap();
    let snapshot = RepoSnapshot::from_car(&dids[0], &car).unwrap();
    assert_eq!(
        snapshot.counts.get("io.atcr.hold.captain"),
        Some(&1),
        "{snapshot:?}"
    );
    // The suspended one answers with its XRPC error name, which the crawler acts on.
    let error = source.get_repo(&pds.url(), &dids[2]).await.unwrap_err();
    assert!(
        matches!(&error, FetchError::Xrpc { status: 400, error } if error == "RepoSuspended"),
        "{error:?}"
    );
}
