//! `atrelay pull-hosts` (the real binary) copies a source relay's hosts into a running target
//! relay, and a run killed half-way continues from its state file without asking twice.

use crate::support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use atrelay::pull_hosts::PullState;
use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds};
use support::{IngestSetup, TestRelay, ADMIN_PASSWORD};

/// A host with one account and one commit, so it has delivered events.
async fn busy_host(directory: &FakeDirectory) -> FakePds {
    let pds = FakePds::start(directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    pds.create_record(
        &did,
        "app.bsky.feed.post",
        sample_record("app.bsky.feed.post", "hello"),
    )
    .unwrap();
    pds
}

async fn hostnames(relay: &TestRelay) -> Vec<String> {
    let body: serde_json::Value = relay
        .get("/xrpc/com.atproto.sync.listHosts?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let mut names: Vec<String> = body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `atrelay pull-hosts` from `source` into `target` with the admin `password`.
fn pull_hosts(
    source: &TestRelay,
    target: &TestRelay,
    state: &std::path::Path,
    rate: &str,
    password: &str,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atrelay"));
    command
        .args([
            "pull-hosts",
            "--relay-host",
            &source.base,
            "--target",
            &target.base,
        ])
        .args(["--admin-password", password, "--batch-size", "2"])
        .args(["--requests-per-second", rate, "--state-file"])
        .arg(state)
        .env("NO_COLOR", "1")
        .env_remove("RELAY_ADMIN_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn read_state(path: &std::path::Path) -> Option<PullState> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_hosts_copies_every_live_host_and_resumes_after_a_kill() {
    let directory = FakeDirectory::start().await.unwrap();
    let setup = IngestSetup::for_directory(&directory);
    let source = TestRelay::sqlite_ingest(setup.clone()).await;
    let mut hosts = Vec::new();
    for _ in 0..3 {
        let pds = busy_host(&directory).await;
        pds.request_crawl(&source.base).await.unwrap();
        support::wait_for_cursor(&source, pds.hostname(), pds.head_seq()).await;
        hosts.push(pds);
    }
    let mut expected: Vec<String> = hosts.iter().map(|h| h.hostname().to_owned()).collect();
    expected.sort();
    let target = TestRelay::sqlite_ingest(setup).await;
    assert!(hostnames(&target).await.is_empty());
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("pull.json");

    // One request a second: kill the run once the first host is recorded as done.
    let mut first = pull_hosts(&source, &target, &state, "1", ADMIN_PASSWORD)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let done_before_kill = loop {
        if let Some(progress) = read_state(&state).filter(|s| s.requested >= 1) {
            break progress.requested;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "pull-hosts ended early"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no progress recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        done_before_kill < 3,
        "the first run finished before the kill"
    );

    // The second run continues: it asks only for the hosts not done yet.
    let second = pull_hosts(&source, &target, &state, "50", ADMIN_PASSWORD)
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&second.stdout).into_owned()
        + &String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{output}");
    assert!(output.contains("resuming an earlier pull"), "{output}");
    let asked_again = output.matches("requested crawl").count() as u64;
    assert_eq!(asked_again, 3 - done_before_kill, "{output}");
    let finished = read_state(&state).unwrap();
    assert!(finished.finished);
    assert_eq!((finished.requested, finished.refused), (3, 0));
    assert_eq!(hostnames(&target).await, expected);

    // A third run has nothing to do.
    let third = pull_hosts(&source, &target, &state, "50", ADMIN_PASSWORD)
        .output()
        .unwrap();
    let output = String::from_utf8_lossy(&third.stdout);
    assert!(third.status.success());
    assert!(output.contains("already finished"), "{output}");
    target.finish().await;
    source.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_hosts_stops_on_a_wrong_password_and_records_nothing_done() {
    let directory = FakeDirectory::start().await.unwrap();
    let setup = IngestSetup::for_directory(&directory);
    let source = TestRelay::sqlite_ingest(setup.clone()).await;
    let pds = busy_host(&directory).await;
    pds.request_crawl(&source.base).await.unwrap();
    support::wait_for_cursor(&source, pds.hostname(), pds.head_seq()).await;
    let target = TestRelay::sqlite_ingest(setup).await;
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("pull.json");
    let run = pull_hosts(&source, &target, &state, "5", "guess-7f3k2q")
        .output()
        .unwrap();
    let output =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{output}");
    assert!(output.contains("refused the admin password"), "{output}");
    assert!(
        !output.contains("guess-7f3k2q"),
        "the password was printed: {output}"
    );
    assert!(read_state(&state).is_none_or(|s| s.requested == 0 && !s.finished));
    assert!(hostnames(&target).await.is_empty());
    target.finish().await;
    source.finish().await;
}
