//! The HTTP edge against hostile clients on real loopback sockets: slowloris and silent
//! sockets, the connection cap and its admin reserve, oversized consumer frames, XRPC JSON
//! errors, the admin API's cross-site and brute-force defences, and secrets in `--help`.

use crate::support;

use std::time::Duration;

use atrelay::{http::admin::AdminAuth, http::edge::EdgeLimits, http::server};
use serde_json::Value;
use support::{TestRelay, ADMIN_PASSWORD};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Generous bound for anything the server should do "soon" on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A second server over `relay`'s state, with `limits` and `auth`; stops when the sender drops.
async fn edge_server(
    relay: &TestRelay,
    limits: EdgeLimits,
    auth: AdminAuth,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let router = server::router_with_admin(relay.state.clone(), auth);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve_with_limits(listener, router, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

fn auth() -> AdminAuth {
    AdminAuth::new([ADMIN_PASSWORD.to_owned()])
}

/// A client that opens a new connection per request.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// Waits until the server closes `stream` (EOF or reset), discarding what it sends.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("not JSON (status {status}): {text:?}"));
    (status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_does_not_stop_a_normal_request_and_is_closed() {
    atrelay::http::edge::fdlimit::raise_to_hard_limit();
    let relay = TestRelay::sqlite().await;
    let limits = EdgeLimits {
        header_read_timeout: Duration::from_secs(3),
        ..EdgeLimits::default()
    };
    let (addr, _stop) = edge_server(&relay, limits, auth()).await;
    let mut trickling = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /xrpc/_health HTTP/1.1\r\n")
            .await
            .unwrap();
        trickling.push(stream);
    }
    // One header byte per second from every connection, as long as the server lets it.
    let trickle = tokio::spawn(async move {
        for _ in 0..5 {
            for stream in trickling.iter_mut() {
                let _ = stream.write_all(b"X").await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        trickling
    });
    let response = fresh_client()
        .get(format!("http://{addr}/xrpc/com.atproto.sync.listHosts"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut trickling = trickle.await.unwrap();
    for stream in trickling.iter_mut() {
        assert!(
            closed_by_server(stream).await,
            "a slowloris connection stayed open"
        );
    }
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed() {
    let relay = TestRelay::sqlite().await;
    let limits = EdgeLimits {
        header_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        ..EdgeLimits::default()
    };
    let (addr, _stop) = edge_server(&relay, limits, auth()).await;
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_by_server(&mut silent).await,
        "a silent socket stayed open"
    );

    // A keep-alive connection that served a request and then says nothing.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /xrpc/_health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(
        closed_by_server(&mut idle).await,
        "an idle connection stayed open"
    );
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_stalls_gets_408() {
    let relay = TestRelay::sqlite().await;
    let limits = EdgeLimits {
        body_read_timeout: Duration::from_secs(2),
        ..EdgeLimits::default()
    };
    let (addr, _stop) = edge_server(&relay, limits, auth()).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST /xrpc/com.atproto.sync.requestCrawl HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"host",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"RequestTimeout\""), "{answer}");
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_health_and_admin_still_answer() {
    let relay = TestRelay::sqlite().await;
    let limits = EdgeLimits {
        header_read_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(120),
        max_connections: 20,
        reserved_connections: 2,
        ..EdgeLimits::default()
    };
    let (addr, _stop) = edge_server(&relay, limits, auth()).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let client = fresh_client();
    // Accepted in order: every request from now on lands in the reserve.
    let (status, body) = json_of(
        client
            .get(format!("http://{addr}/xrpc/com.atproto.sync.listHosts"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "ServiceUnavailable");
    let health = client
        .get(format!("http://{addr}/xrpc/_health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let admin = client
        .get(format!("http://{addr}/admin/subs/getEnabled"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);

    // With the reserve full too, a further connection is closed at once.
    for _ in 0..2 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut refused = TcpStream::connect(&addr).await.unwrap();
    assert!(closed_by_server(&mut refused).await);
    drop(held);
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_route_class_answers_503_at_once_and_leaves_the_others_alone() {
    let relay = TestRelay::sqlite().await;
    let limits = EdgeLimits {
        body_read_timeout: Duration::from_secs(120),
        max_public_requests: 1,
        max_admin_requests: 1,
        ..EdgeLimits::default()
    };
    let (addr, _stop) = edge_server(&relay, limits, auth()).await;
    // A public request whose body never finishes holds the one public permit.
    let mut holder = TcpStream::connect(&addr).await.unwrap();
    holder
        .write_all(
            b"POST /xrpc/com.atproto.sync.requestCrawl HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"host",
        )
        .await
        .unwrap();
    let client = fresh_client();
    let list_hosts = format!("http://{addr}/xrpc/com.atproto.sync.listHosts");
    let deadline = std::time::Instant::now() + PATIENCE;
    let (status, body) = loop {
        // The holder's request reaches the guard shortly after it is written.
        let (status, body) = json_of(client.get(&list_hosts).send().await.unwrap()).await;
        if status == 503 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "ServiceUnavailable");
    // The other classes are not touched by it.
    let health = client
        .get(format!("http://{addr}/xrpc/_health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let admin = client
        .get(format!("http://{addr}/admin/subs/getEnabled"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    // The permit comes back when the holder goes away.
    drop(holder);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let status = client.get(&list_hosts).send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "public class never freed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.finish().await;
}

/// A websocket handshake on a raw socket, so the test can then send a malformed frame.
async fn raw_websocket(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /xrpc/com.atproto.sync.subscribeRepos HTTP/1.1\r\nHost: x\r\n\
              Upgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_announcing_a_big_frame_is_closed_at_once() {
    let relay = TestRelay::sqlite().await;
    let (addr, _stop) = edge_server(&relay, EdgeLimits::default(), auth()).await;
    let mut ws = raw_websocket(&addr).await;
    // A masked binary frame announcing 16 MiB, then 64 KiB of it: the server must not wait for
    // (and buffer) the rest.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(16u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    ws.write_all(&frame).await.unwrap();
    let _ = ws.write_all(&vec![0u8; 64 * 1024]).await;
    assert!(
        closed_by_server(&mut ws).await,
        "the oversized frame was not refused"
    );
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_xrpc_json() {
    let relay = TestRelay::sqlite().await;
    let base = &relay.base;
    let client = reqwest::Client::new();

    let (status, body) = json_of(relay.get("/xrpc/com.atproto.sync.noSuchMethod").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("MethodNotImplemented"))
    );

    let (status, body) = json_of(relay.get("/no/such/page").await).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("NotFound")));

    let wrong_method = client
        .post(format!("{base}/xrpc/com.atproto.sync.listHosts"))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(wrong_method).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("MethodNotAllowed"))
    );
    assert!(body["message"].as_str().unwrap().contains("POST"), "{body}");

    for bad in [
        "/xrpc/com.atproto.sync.getHostStatus?hostname=a%20b",
        "/xrpc/com.atproto.sync.getHostStatus?hostname=%00",
        "/xrpc/com.atproto.sync.listHosts?limit=many",
        "/xrpc/com.atproto.sync.listHosts?cursor=x",
        "/xrpc/com.atproto.sync.listRepos?limit=-1",
        "/xrpc/com.atproto.sync.getRepoStatus?did=%ZZ",
        "/xrpc/com.atproto.sync.subscribeRepos",
    ] {
        let (status, body) = json_of(relay.get(bad).await).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{bad}: {body}"
        );
    }

    let malformed_json = client
        .post(format!("{base}/xrpc/com.atproto.sync.requestCrawl"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(malformed_json).await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body["error"].is_string(), "{body}");
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_refuses_cross_site_calls_and_has_no_cors() {
    let relay = TestRelay::sqlite().await;
    let base = &relay.base;
    let client = reqwest::Client::new();
    let enabled = || async {
        let response = relay.admin_get("/admin/subs/getEnabled").await;
        json_of(response).await.1["enabled"].as_bool().unwrap()
    };

    // Preflight and simple requests from another origin get no CORS grant on /admin.
    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/admin/subs/setEnabled"),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    let simple = client
        .get(format!("{base}/admin/subs/getEnabled"))
        .header("origin", "https://evil.example")
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(simple
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    // The public API keeps CORS for browser clients.
    let public = client
        .get(format!("{base}/xrpc/com.atproto.sync.listHosts"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(public
        .headers()
        .get("access-control-allow-origin")
        .is_some());

    // What a cross-site HTML form can send, with the browser's cached Basic credentials.
    let form = client
        .post(format!("{base}/admin/subs/setEnabled?enabled=false"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body("enabled=false")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(form).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("Forbidden")));
    for content_type in ["text/plain", "multipart/form-data; boundary=x"] {
        let form = client
            .post(format!("{base}/admin/subs/setEnabled?enabled=false"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .header("content-type", content_type)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), 403, "{content_type}");
    }
    // A GET (a link, an image) cannot change state.
    let get = client
        .get(format!("{base}/admin/subs/setEnabled?enabled=false"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(get).await.0, 405);
    assert!(enabled().await, "a refused call changed the setting");

    // Bearer credentials (indigo's scripts) need nothing more.
    let bearer = client
        .post(format!("{base}/admin/subs/setEnabled?enabled=false"))
        .bearer_auth(ADMIN_PASSWORD)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    assert!(!enabled().await);
    // Basic with a JSON body or X-Requested-With (the dashboard) is accepted.
    let scripted = relay
        .admin_post("/admin/subs/setEnabled?enabled=true", None)
        .await;
    assert_eq!(scripted.status(), 200);
    assert!(enabled().await);
    let json_body = client
        .post(format!("{base}/admin/pds/changeLimits"))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&serde_json::json!({ "host": "unknown.example.com", "repo_limit": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body.status(),
        404,
        "passed the checks, then no such host"
    );
    relay.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_client() {
    let relay = TestRelay::sqlite().await;
    let (addr, _stop) = edge_server(
        &relay,
        EdgeLimits::default(),
        auth().with_max_failed_logins(3),
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/admin/subs/getEnabled");
    for _ in 0..3 {
        let wrong = client
            .get(&url)
            .basic_auth("admin", Some("guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
    }
    for password in ["guess", ADMIN_PASSWORD] {
        let throttled = client.get(&url).bearer_auth(password).send().await.unwrap();
        assert!(throttled.headers().contains_key("retry-after"));
        let (status, body) = json_of(throttled).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (429, Some("RateLimitExceeded"))
        );
    }
    // Other servers' clients (the shared relay) are unaffected.
    assert_eq!(
        relay.admin_get("/admin/subs/getEnabled").await.status(),
        200
    );
    relay.finish().await;
}

#[test]
fn help_never_prints_secrets_from_the_environment() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_atrelay"))
        .args(["serve", "--help"])
        .env("RELAY_ADMIN_PASSWORD", "admin-secret-4711")
        .env("DATABASE_URL", "postgres://relay:db-secret-0815@db/relay")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("RELAY_ADMIN_PASSWORD") && text.contains("DATABASE_URL"));
    assert!(!text.contains("admin-secret-4711"), "{text}");
    assert!(!text.contains("db-secret-0815"), "{text}");
    let migrate = std::process::Command::new(env!("CARGO_BIN_EXE_atrelay"))
        .args(["migrate", "--help"])
        .env("DATABASE_URL", "postgres://relay:db-secret-0815@db/relay")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&migrate.stdout).contains("db-secret-0815"));
}

#[test]
fn a_database_error_does_not_print_the_password() {
    // An unreachable server: the error comes back from the driver.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_atrelay"))
        .args(["migrate"])
        .env("DATABASE_URL", "postgres://relay:db-secret-0815@127.0.0.1:1/relay?password=q-secret-99&connect_timeout=2")
        .env("RELAY_LOG_LEVEL", "debug")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("db-secret-0815"), "{all}");
    assert!(!all.contains("q-secret-99"), "{all}");
}
