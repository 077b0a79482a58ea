//! Background tasks that never spin, bounded shutdown and readiness (issue 13): the real
//! `atrelay serve` binary with its data directory removed under it or its PostgreSQL database
//! refusing connections, and in-process checks of `/_ready` against a closed database pool and
//! a collection feed whose event log lost its files.

use crate::support;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use atrelay::engine::tasks::TaskState;
use atrelay_store::testing::OwnDatabase;
use serde_json::Value;
use support::TestRelay;

use support::process::{Relay, SHUTDOWN_TIMEOUT_SECS};

/// Fetches `url`, returning the status and the JSON body.
async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls `/_ready` until `done` holds for its answer (two minutes at most).
async fn wait_ready(base: &str, what: &str, done: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get_json(&format!("{base}/_ready")).await;
        if done(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/_ready never became {what}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn failing(body: &Value) -> Vec<String> {
    body["failing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect()
}

/// Clock ticks per second of `/proc/*/stat` CPU times.
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU time, in ticks, from a `/proc/.../stat` file.
fn cpu_ticks(stat: &Path) -> u64 {
    let text = std::fs::read_to_string(stat).unwrap();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let fields: Vec<&str> = text[text.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The share of one core `stats` used over `window` (CPU time / wall time).
fn cpu_share(stats: &[std::path::PathBuf], window: Duration) -> f64 {
    let sum = |stats: &[std::path::PathBuf]| stats.iter().map(|s| cpu_ticks(s)).sum::<u64>();
    let before = sum(stats);
    let started = Instant::now();
    std::thread::sleep(window);
    let used = (sum(stats) - before) as f64 / clock_ticks();
    used / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_data_directory_neither_spins_nor_blocks_shutdown() {
    let db = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let persist = data.path().join("persist");
    let db_url = format!("sqlite://{}", db.path().join("relay.sqlite").display());
    let relay = Relay::start(&db_url, &persist, &[]);
    let body = wait_ready(&relay.api, "ready", |status, _| status == 200).await;
    assert_eq!(body["status"], "ok");
    assert!(failing(&body).is_empty());

    std::fs::remove_dir_all(&persist).unwrap();
    let body = wait_ready(&relay.api, "failing", |status, _| status == 503).await;
    assert_eq!(body["status"], "error");
    assert!(failing(&body).contains(&"eventlog".to_owned()), "{body}");
    // Liveness stays indigo's cheap check: the database still answers.
    let (status, body) = get_json(&format!("{}/xrpc/_health", relay.api)).await;
    assert_eq!((status, body), (200, serde_json::json!({ "status": "ok" })));

    let stat = Path::new("/proc")
        .join(relay.pid().to_string())
        .join("stat");
    let share = tokio::task::spawn_blocking(move || cpu_share(&[stat], Duration::from_secs(4)))
        .await
        .unwrap();
    assert!(
        share < 0.3,
        "the relay used {:.0} % of a core with its data directory gone",
        share * 100.0
    );

    let (code, took, output) = tokio::task::spawn_blocking(move || relay.terminate())
        .await
        .unwrap();
    assert!(
        took < Duration::from_secs(SHUTDOWN_TIMEOUT_SECS + 5),
        "shutdown took {took:?}"
    );
    // Events appended since the removal are lost: the relay says so and exits with status 1.
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("its directory was removed while running"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_postgres_refuses_connections() {
    let Some(mut db) = OwnDatabase::create("lifecycle").await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(db.url(), &data.path().join("persist"), &[]);
    wait_ready(&relay.api, "ready", |status, _| status == 200).await;

    // Our own database only: refuse new connections and end the relay's.
    db.refuse_connections().await;
    let body = wait_ready(&relay.api, "failing", |status, _| status == 503).await;
    assert_eq!(failing(&body), ["database"], "{body}");
    let (status, body) = get_json(&format!("{}/xrpc/_health", relay.api)).await;
    assert_eq!(status, 500);
    assert_eq!(body["status"], "error");

    db.allow_connections().await;
    wait_ready(&relay.api, "ready again", |status, _| status == 200).await;

    let (code, took, output) = tokio::task::spawn_blocking(move || relay.terminate())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{output}");
    assert!(took < Duration::from_secs(SHUTDOWN_TIMEOUT_SECS + 5));
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_a_closed_database_pool() {
    let relay = TestRelay::sqlite().await;
    let (status, body) = get_json(&format!("{}/_ready", relay.base)).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    for name in ["database", "eventlog", "ingest", "task:eventlog-retention"] {
        assert!(names.contains(&name), "{body}");
    }
    let (status, deep) = get_json(&format!("{}/xrpc/_health?deep=true", relay.base)).await;
    assert_eq!((status, &deep["checks"]), (200, &body["checks"]));

    relay.store.close().await;
    let (status, body) = get_json(&format!("{}/_ready", relay.base)).await;
    assert_eq!(status, 503);
    assert_eq!(failing(&body), ["database"], "{body}");
    let (status, body) = get_json(&format!("{}/xrpc/_health", relay.base)).await;
    assert_eq!(status, 500);
    assert_eq!(body["msg"], "can't connect to database");
}

/// Threads of this process named `name`, as `/proc` stat paths.
fn threads_named(name: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .map(|path| path.join("stat"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_whose_log_lost_its_files_backs_off_and_fails_readiness() {
    let relay = TestRelay::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let log =
        atrelay_eventlog::EventLog::open(atrelay_eventlog::Config::new(dir.path().join("events")))
            .unwrap();
    for n in 0..5 {
        let ticket = log
            .append("did:plc:lifecycle", 1, |_| {
                bytes::Bytes::from(format!("not a frame {n}"))
            })
            .unwrap();
        ticket.durable().await.unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("events")).unwrap();
    let index = atrelay_collections::CollectionIndex::open(dir.path().join("collections")).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let feed = atrelay::engine::collection_feed::spawn_supervised(
        log.clone(),
        index,
        relay.state.readiness.tasks.register("lost-feed"),
        stopped,
    )
    .unwrap();
    // The thread names itself once it runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while threads_named("lost-feed").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !threads_named("lost-feed").is_empty(),
        "the feed thread never ran"
    );

    let body = wait_ready(&relay.base, "failing", |status, _| status == 503).await;
    assert_eq!(failing(&body), ["task:lost-feed"], "{body}");
    let task = body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["name"] == "lost-feed")
        .unwrap();
    assert_eq!(task["state"], "backoff");
    assert!(
        task["lastError"].as_str().unwrap().contains("event log"),
        "{task}"
    );
    let metrics = atrelay::http::metrics::render(&relay.state);
    assert!(
        metrics.contains("atrelay_background_task_state{state=\"backoff\",task=\"lost-feed\"} 1"),
        "{metrics}"
    );

    // The feed's thread, plus any thread it starts: Linux copies the creator's name into a new
    // thread until that thread names itself (tokio's blocking threads do so on start), so under
    // load two "lost-feed" threads were seen at once. Their CPU counts as the feed's.
    let ours = threads_named("lost-feed");
    let share = tokio::task::spawn_blocking(move || cpu_share(&ours, Duration::from_secs(3)))
        .await
        .unwrap();
    assert!(
        share < 0.3,
        "the failing feed used {:.0} % of a core",
        share * 100.0
    );
    let errors = relay.state.readiness.tasks.snapshot();
    let errors = errors.iter().find(|t| t.name == "lost-feed").unwrap();
    // Backoff doubles from 0.5 s: a spinning feed would count thousands.
    assert!(errors.errors_total < 20, "{errors:?}");

    stop.send_replace(true);
    let joined = tokio::task::spawn_blocking(move || feed.join());
    tokio::time::timeout(Duration::from_secs(30), joined)
        .await
        .expect("the feed stops when asked, even while backing off")
        .unwrap()
        .unwrap();
    let status = relay.state.readiness.tasks.snapshot();
    assert_eq!(
        status.iter().find(|t| t.name == "lost-feed").unwrap().state,
        TaskState::Stopped
    );
    relay.finish().await;
}
