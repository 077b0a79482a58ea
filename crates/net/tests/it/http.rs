//! The guarded HTTP client against real loopback servers.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atrelay_net::{describe, Lookup, LookupFuture, Outbound, OutboundError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server that answers every request with `response` and counts connections; returns its
/// port and the counter.
async fn server(response: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, count)
}

/// Resolves every name to one address.
struct Fixed(IpAddr);

impl Lookup for Fixed {
    fn lookup<'a>(&'a self, _host: &'a str, port: u16) -> LookupFuture<'a> {
        let addr = SocketAddr::new(self.0, port);
        Box::pin(async move { Ok(vec![addr]) })
    }
}

fn client(outbound: &Outbound) -> atrelay_net::HttpClient {
    outbound
        .http_client(reqwest::Client::builder().timeout(Duration::from_secs(30)))
        .unwrap()
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

#[tokio::test]
async fn production_refuses_loopback_urls_and_names_before_connecting() {
    let (port, connections) = server(OK).await;
    let production = client(&Outbound::new(false));
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        "https://127.0.0.1/".to_owned(),
        "https://[::1]/".to_owned(),
        "https://[::ffff:127.0.0.1]/".to_owned(),
        format!("http://localhost:{port}/"),
        "ftp://example.com/".to_owned(),
    ] {
        let err = production.get(&url).unwrap_err();
        assert!(err.is_refusal(), "{url}: {err}");
    }
    // A name that resolves to loopback is refused at resolution.
    let rebinding = Outbound::with_lookup(false, Arc::new(Fixed("127.0.0.1".parse().unwrap())));
    let err = client(&rebinding)
        .get("https://pds.example.com/xrpc/_health")
        .unwrap()
        .send()
        .await
        .unwrap_err();
    let reason = describe(&err);
    assert!(
        matches!(
            atrelay_net::refusal(&err),
            Some(OutboundError::NonPublic { .. })
        ),
        "{reason}"
    );
    assert!(reason.contains("non-public address 127.0.0.1"), "{reason}");
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn dev_mode_dials_the_checked_address() {
    let (port, connections) = server(OK).await;
    let dev = client(&Outbound::with_lookup(
        true,
        Arc::new(Fixed("127.0.0.1".parse().unwrap())),
    ));
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://pds.example.com:{port}/"),
    ] {
        let response = dev.get(&url).unwrap().send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{url}");
    }
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, target_connections) = server(OK).await;
    let redirect: &'static str = Box::leak(
        format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/secret\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let (port, _) = server(redirect).await;
    let dev = client(&Outbound::new(true));
    let response = dev
        .get(&format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    assert_eq!(target_connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn proxy_settings_from_the_environment_are_ignored() {
    let (proxy, proxy_connections) = server(OK).await;
    let (port, connections) = server(OK).await;
    // Only this test in this binary reads proxy variables; the others never look.
    for var in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        std::env::set_var(var, format!("http://127.0.0.1:{proxy}"));
    }
    let dev = client(&Outbound::new(true));
    let response = dev
        .get(&format!("http://127.0.0.1:{port}/"))
        .unwrap()
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(proxy_connections.load(Ordering::SeqCst), 0);
}
