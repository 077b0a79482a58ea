//! The backfill goes out only through the guarded dialler, and is bounded: loopback targets
//! refused outside dev mode, no redirect followed, no foreign body in `lastError`, an
//! oversized repository abandoned while it streams, a global cap on hosts crawled at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atrelay_collections::{Backfill, BackfillConfig, CrawlState, HostProgress};
use atrelay_net::{Lookup, LookupFuture, Outbound};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::backfill::fast_config;
use crate::common::temp_index;

/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

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
    /// `{"repos": []}` once the gate lets it through.
    Gated(Arc<Gate>),
}

/// Holds `listRepos` answers and counts how many hosts are inside at once.
struct Gate {
    active: AtomicUsize,
    max: AtomicUsize,
    release: Semaphore,
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
    let json = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match answer {
        Answer::Json(body) => socket.write_all(json(&body).as_bytes()).await,
        Answer::Redirect(location) => {
            let response = format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-type: text/plain\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{SECRET}",
                SECRET.len()
            );
            socket.write_all(response.as_bytes()).await
        }
        Answer::Gated(gate) => {
            let now = gate.active.fetch_add(1, Ordering::SeqCst) + 1;
            gate.max.fetch_max(now, Ordering::SeqCst);
            gate.release.acquire().await.unwrap().forget();
            gate.active.fetch_sub(1, Ordering::SeqCst);
            socket.write_all(json(r#"{"repos":[]}"#).as_bytes()).await
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

/// Starts `hostname` and waits for its crawl to end.
async fn crawl(backfill: &Backfill, hostname: &str, url: &str) -> HostProgress {
    backfill.start_host(hostname, url).expect("start");
    tokio::time::timeout(HANG_GUARD, backfill.wait_idle(hostname))
        .await
        .expect("crawl hung")
        .expect("progress")
}

/// Every name resolves to 127.0.0.1, as a hostile host's DNS would arrange.
struct AllLoopback;

impl Lookup for AllLoopback {
    fn lookup<'a>(&'a self, _host: &'a str, port: u16) -> LookupFuture<'a> {
        Box::pin(async move { Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]) })
    }
}

#[tokio::test]
async fn production_refuses_loopback_hosts_before_dialling() {
    let (_dir, index) = temp_index();
    let host = FakeHost::start(one_account(Answer::Json("{}".to_owned()))).await;
    let production = Backfill::new(
        index,
        BackfillConfig {
            outbound: Outbound::with_lookup(false, Arc::new(AllLoopback)),
            ..fast_config(10)
        },
    )
    .unwrap();
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
    let progress = crawl(&production, "pds.example.com", "https://pds.example.com").await;
    assert_eq!(progress.state, CrawlState::Failed, "{progress:?}");
    let error = progress.last_error.unwrap();
    assert!(error.contains("non-public address 127.0.0.1"), "{error}");
    assert_eq!(host.requests.load(Ordering::SeqCst), 0);
    production.shutdown().await;
}

#[tokio::test]
async fn redirects_are_not_followed_and_foreign_bodies_not_shown() {
    let target = FakeHost::start(one_account(Answer::Json("{}".to_owned()))).await;
    let secret_url = format!("{}/internal", target.url());
    // listRepos answers 302 to another loopback port.
    let (_dir, index) = temp_index();
    let redirecting = {
        let location = secret_url.clone();
        FakeHost::start(move |_: &str| Answer::Redirect(location.clone())).await
    };
    let dev = Backfill::new(index, fast_config(10)).unwrap();
    let progress = crawl(&dev, "redirecting.test", &redirecting.url()).await;
    assert_eq!(progress.state, CrawlState::Failed, "{progress:?}");
    let error = progress.last_error.unwrap();
    assert!(error.contains("HTTP 302"), "{error}");
    assert!(!error.contains(SECRET), "{error}");
    // A redirect is final: one request, no retries.
    assert_eq!(redirecting.requests.load(Ordering::SeqCst), 1);

    // getRepo answers 302 to loopback.
    let repo_redirect = FakeHost::start(one_account(Answer::Redirect(secret_url.clone()))).await;
    let progress = crawl(&dev, "repo-redirect.test", &repo_redirect.url()).await;
    assert_eq!(progress.state, CrawlState::Done, "{progress:?}");
    assert_eq!(progress.repos_failed, 1, "{progress:?}");
    let error = progress.last_error.unwrap();
    assert!(error.contains("HTTP 302"), "{error}");
    assert!(!error.contains(SECRET), "{error}");
    assert_eq!(target.requests.load(Ordering::SeqCst), 0);
    dev.shutdown().await;
}

#[tokio::test]
async fn an_oversized_repository_is_abandoned_while_it_streams() {
    const LIMIT: usize = 1 << 20;
    const SERVED: usize = 256 << 20;
    let (_dir, index) = temp_index();
    let host = FakeHost::start(one_account(Answer::Stream(SERVED))).await;
    let backfill = Backfill::new(
        index,
        BackfillConfig {
            max_car_bytes: LIMIT,
            ..fast_config(10)
        },
    )
    .unwrap();
    let progress = crawl(&backfill, "huge.test", &host.url()).await;
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
async fn at_most_the_configured_hosts_crawl_at_once() {
    const HOSTS: usize = 5;
    const SLOTS: usize = 2;
    let gate = Arc::new(Gate {
        active: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
        release: Semaphore::new(0),
    });
    let mut hosts = Vec::new();
    for _ in 0..HOSTS {
        let gate = gate.clone();
        hosts.push(FakeHost::start(move |_: &str| Answer::Gated(gate.clone())).await);
    }
    let (_dir, index) = temp_index();
    let backfill = Backfill::new(
        index,
        BackfillConfig {
            max_concurrent_hosts: SLOTS,
            ..fast_config(10)
        },
    )
    .unwrap();
    for (i, host) in hosts.iter().enumerate() {
        assert!(backfill
            .start_host(&format!("host{i}.test"), &host.url())
            .unwrap());
    }
    // Two crawls reach their hosts; the others wait for a slot (they show as running).
    tokio::time::timeout(HANG_GUARD, async {
        while gate.active.load(Ordering::SeqCst) < SLOTS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the first crawls never arrived");
    // Give a missing bound every chance to show (not a timing assertion).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gate.max.load(Ordering::SeqCst), SLOTS);
    assert_eq!(
        backfill
            .progress()
            .iter()
            .filter(|p| p.state == CrawlState::Running)
            .count(),
        HOSTS
    );
    gate.release.add_permits(HOSTS);
    for i in 0..HOSTS {
        let host = format!("host{i}.test");
        let progress = tokio::time::timeout(HANG_GUARD, backfill.wait_idle(&host))
            .await
            .expect("crawl hung")
            .expect("progress");
        assert_eq!(progress.state, CrawlState::Done, "{progress:?}");
    }
    assert_eq!(gate.max.load(Ordering::SeqCst), SLOTS);
    backfill.shutdown().await;
}
