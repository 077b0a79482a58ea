//! The real binary started the way an indigo deployment starts its relay: indigo's environment
//! names and value forms, JSON logs for a log shipper.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indigo_env_file_and_json_logs_work_with_the_real_binary() {
    let data = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", data.path().join("relay.sqlite").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrelay"))
        .args(["--log-format", "json", "serve", "--metrics-listen", ":0"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db)
        .env("RELAY_PERSISTER_DIR", data.path().join("persist"))
        .env("RELAY_API_LISTEN", "127.0.0.1:0")
        .env("RELAY_ADMIN_KEY", "indigo-admin-key")
        .env("ATP_PLC_HOST", "http://127.0.0.1:9")
        .env("RELAY_EVENT_PLAYBACK_TTL", "24h")
        .env("MAX_DB_CONNECTIONS", "3")
        .env("ENVIRONMENT", "staging")
        .env("LOG_LEVEL", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let api = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no API address in {seen:#?}"));
        assert!(
            !line.contains('\u{1b}'),
            "ANSI escape in a log line: {line:?}"
        );
        let value: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        let api = (value["message"] == "API listening")
            .then(|| value["addr"].as_str().unwrap().to_owned());
        seen.push(value);
        if let Some(api) = api {
            break api;
        }
    };
    let find = |message: &str| -> Vec<&Value> {
        seen.iter().filter(|v| v["message"] == message).collect()
    };
    let configuration = find("configuration");
    assert_eq!(configuration.len(), 1, "{seen:#?}");
    let configuration = configuration[0];
    assert_eq!(configuration["environment"], "staging");
    assert_eq!(configuration["replay_window_secs"], 86_400);
    assert_eq!(configuration["plc_host"], "http://127.0.0.1:9");
    assert_eq!(configuration["max_db_connections"], "Some(3)");
    assert!(configuration["metrics"]
        .as_str()
        .unwrap()
        .starts_with("0.0.0.0:"));
    let aliases: Vec<&str> = find("indigo's environment name accepted")
        .iter()
        .map(|v| v["alias"].as_str().unwrap())
        .collect();
    for alias in [
        "RELAY_PERSISTER_DIR",
        "RELAY_API_LISTEN",
        "RELAY_ADMIN_KEY",
        "ATP_PLC_HOST",
        "RELAY_EVENT_PLAYBACK_TTL",
        "LOG_LEVEL",
    ] {
        assert!(
            aliases.contains(&alias),
            "{alias} not reported in {aliases:?}"
        );
    }
    assert!(
        seen.iter().any(|v| v["level"] == "DEBUG"),
        "LOG_LEVEL=debug did not reach the filter"
    );
    assert!(
        data.path().join("persist").is_dir(),
        "RELAY_PERSISTER_DIR was not used"
    );
    assert!(
        find("exporting traces over OTLP").is_empty(),
        "traces exported without OTEL_EXPORTER_OTLP_ENDPOINT"
    );

    // indigo's admin key works as the admin password, sent as indigo's tools send it.
    let response = reqwest::Client::new()
        .get(format!("http://{api}/admin/pds/list"))
        .bearer_auth("indigo-admin-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the binary sends its spans over OTLP/HTTP: a local
/// collector receives `POST /v1/traces` holding an admin call's `admin.request` span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_spans_to_an_otlp_collector() {
    use axum::{body::Bytes, routing::post, Router};
    use std::sync::{Arc, Mutex};

    let received: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let sink = received.clone();
    let collector = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let data = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", data.path().join("relay.sqlite").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrelay"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--db-url", &db, "--admin-password", "otlp-test"])
        .arg("--persist-dir")
        .arg(data.path().join("persist"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let api = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no API address in {seen:#?}"));
        let api = line
            .contains("API listening")
            .then(|| line.rsplit("addr=").next().unwrap().trim().to_owned());
        seen.push(line);
        if let Some(api) = api {
            break api;
        }
    };
    assert!(
        seen.iter()
            .any(|l| l.contains("exporting traces over OTLP")),
        "{seen:#?}"
    );
    let response = reqwest::Client::new()
        .get(format!("http://{api}/admin/pds/list"))
        .bearer_auth("otlp-test")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Stopping flushes the batch exporter.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let bodies = received.lock().unwrap().clone();
        if bodies
            .iter()
            .any(|body| body.windows(13).any(|w| w == b"admin.request"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the collector got {} requests, none with an admin.request span",
            bodies.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
