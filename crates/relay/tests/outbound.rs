//! The admin-triggered collection crawl goes out only through the guarded dialler: a
//! loopback URL is refused without `--allow-insecure-hosts` (nothing is dialled), accepted
//! with it; a loopback name is refused when it is resolved, with a short reason.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atrelay_testkit::FakeDirectory;
use serde_json::{json, Value};
use support::{IngestSetup, TestRelay};

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
