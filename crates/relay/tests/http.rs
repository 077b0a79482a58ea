//! The public HTTP server answers over a real loopback socket.

use atrelay::server;

async fn start() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, server::router(), async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

#[tokio::test]
async fn health_answers_ok_with_server_header() {
    let (base, _stop) = start().await;
    let response = reqwest::get(format!("{base}/xrpc/_health")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["server"].to_str().unwrap(),
        server::SERVER_HEADER
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn banner_names_the_firehose_path() {
    let (base, _stop) = start().await;
    let body = reqwest::get(&base).await.unwrap().text().await.unwrap();
    assert!(body.contains("/xrpc/com.atproto.sync.subscribeRepos"));
}
