//! A consumer library nobody here wrote reads the relay's firehose and verifies it: Python's
//! `atproto` package, driven by `scripts/consumers/firehose_check.py`, against fake PDSes →
//! relay (ingest) → `subscribeRepos`, once replaying from cursor 0 and once live.
//!
//! The interpreter is `ATRELAY_TEST_PYTHON` (set by `make test`) or `target/pyenv/bin/python`;
//! `make pyenv` creates it. Without it this test fails rather than pass unchecked.

use crate::support;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use atrelay_stream::{decode_frame, Message};
use atrelay_testkit::{
    sample_record, AccountOptions, FakeDirectory, FakePds, KeyCurve, RecordPath, Write,
};
use serde_json::{json, Value};
use support::{IngestSetup, TestRelay};

/// Guards against a hung test; not an assertion about speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// The Python interpreter with `atproto` installed, and the checking script.
struct Checker {
    python: PathBuf,
    script: PathBuf,
}

impl Checker {
    /// Finds the interpreter and checks it can import `atproto`; panics with what to run if not.
    fn find() -> Checker {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var_os("ATRELAY_TEST_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/pyenv/bin/python"));
        let script = root.join("scripts/consumers/firehose_check.py");
        let hint = "run `make pyenv` (it creates target/pyenv from scripts/consumers/requirements.txt; \
                    `make test` does it first), or point ATRELAY_TEST_PYTHON at a Python with that package";
        assert!(
            python.exists(),
            "no Python for the third-party consumer test at {}: {hint}",
            python.display()
        );
        let import = std::process::Command::new(&python)
            .args(["-c", "import atproto"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {hint}", python.display()));
        assert!(
            import.status.success(),
            "{} cannot import atproto ({}): {hint}",
            python.display(),
            String::from_utf8_lossy(&import.stderr).trim()
        );
        Checker { python, script }
    }

    /// Starts the script against `url` (cursor included or not), expecting `expect` events.
    fn spawn(&self, url: &str, expect: usize) -> tokio::process::Child {
        tokio::process::Command::new(&self.python)
            .arg(&self.script)
            .args(["--url", url, "--expect", &expect.to_string()])
            .args([
                "--timeout",
                &HANG_GUARD.as_secs().to_string(),
                "--list-events",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start firehose_check.py")
    }
}

/// Waits for the script and returns its JSON summary, failing on any error it reports.
async fn summary(child: tokio::process::Child) -> Value {
    let output = tokio::time::timeout(HANG_GUARD * 2, child.wait_with_output())
        .await
        .expect("firehose_check.py did not exit")
        .expect("wait for firehose_check.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("firehose_check.py printed no summary ({e}); stdout:\n{stdout}\nstderr:\n{stderr}")
    });
    assert!(
        output.status.success() && summary["ok"] == json!(true),
        "the atproto library found problems ({}): {}\nstderr:\n{stderr}",
        output.status,
        serde_json::to_string_pretty(&json!({
            "errors": summary["errors"],
            "error_count": summary["error_count"],
            "events": summary["events"],
            "counts": summary["counts"],
        }))
        .unwrap()
    );
    summary
}

/// An event as the script lists it (without `seq`).
fn expected(message: &Message) -> Value {
    match message {
        Message::Commit(c) => json!({
            "type": "#commit", "did": c.repo, "rev": c.rev,
            "ops": c.ops.iter().map(|op| json!([op.action.as_str(), op.path])).collect::<Vec<_>>(),
        }),
        Message::Sync(s) => json!({ "type": "#sync", "did": s.did, "rev": s.rev }),
        Message::Identity(i) => json!({ "type": "#identity", "did": i.did, "handle": i.handle }),
        Message::Account(a) => json!({
            "type": "#account", "did": a.did, "active": a.active,
            "status": a.status.as_ref().map(|s| s.as_str()),
        }),
        other => panic!("the fake PDS emitted {other:?}"),
    }
}

/// The PDS's events with seq above `after`, as the script would list them.
fn pds_events(pds: &FakePds, after: i64) -> Vec<Value> {
    pds.events()
        .iter()
        .filter(|event| event.seq > after)
        .map(|event| expected(&decode_frame(&event.frame).expect("PDS frame")))
        .collect()
}

/// The listed events about `dids`, in stream order, without their seq.
fn listed_about(summary: &Value, dids: &[String]) -> Vec<Value> {
    summary["events_list"]
        .as_array()
        .expect("events_list")
        .iter()
        .filter(|event| dids.iter().any(|did| event["did"] == json!(did)))
        .map(|event| {
            let mut event = event.clone();
            event.as_object_mut().unwrap().remove("seq");
            event
        })
        .collect()
}

/// Creates, updates and deletes records of `did`, one commit each and one commit of three ops.
fn write_records(pds: &FakePds, did: &str, tag: &str) {
    let post = |n: u32| RecordPath::new("app.bsky.feed.post", &format!("{tag}p{n}")).unwrap();
    let profile = RecordPath::new("app.bsky.actor.profile", "self").unwrap();
    for n in 0..3 {
        pds.put_record(did, post(n), sample_record("app.bsky.feed.post", tag))
            .unwrap();
    }
    pds.put_record(
        did,
        profile.clone(),
        sample_record("app.bsky.actor.profile", "v1"),
    )
    .unwrap();
    pds.put_record(
        did,
        profile.clone(),
        sample_record("app.bsky.actor.profile", "v2"),
    )
    .unwrap();
    pds.delete_record(did, post(0)).unwrap();
    pds.apply_writes(
        did,
        vec![
            Write::Create {
                path: post(3),
                value: sample_record("app.bsky.feed.post", "batch"),
            },
            Write::Update {
                path: post(1),
                value: sample_record("app.bsky.feed.post", "edited"),
            },
            Write::Delete { path: post(2) },
        ],
    )
    .unwrap();
    pds.delete_record(did, profile).unwrap();
}

/// The last rev of every account the PDSes host.
fn revs(pdses: &[FakePds]) -> Value {
    let mut revs = serde_json::Map::new();
    for pds in pdses {
        for did in pds.dids() {
            let rev = pds.with_repo(&did, |r| r.rev().to_owned()).unwrap();
            revs.insert(did, json!(rev));
        }
    }
    Value::Object(revs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_atproto_reads_and_verifies_replay_and_live() {
    let checker = Checker::find();
    let directory = FakeDirectory::start().await.unwrap();
    let relay = TestRelay::sqlite_ingest(IngestSetup::for_directory(&directory)).await;

    // Three hosts, two accounts each (k256 and p256 keys, one did:web), with history.
    let mut pdses = Vec::new();
    for host in 0..3 {
        let pds = FakePds::start(&directory).await.unwrap();
        for (n, curve) in [KeyCurve::K256, KeyCurve::P256].into_iter().enumerate() {
            let did = pds
                .create_account(AccountOptions {
                    curve,
                    did_web: host == 0 && n == 1,
                    ..AccountOptions::default()
                })
                .unwrap();
            write_records(&pds, &did, "a");
        }
        pds.request_crawl(&relay.base).await.unwrap();
        pdses.push(pds);
    }
    let heads: Vec<i64> = pdses.iter().map(FakePds::head_seq).collect();
    let total: i64 = heads.iter().sum();

    // Replay: everything the hosts wrote, from cursor 0.
    let replay = summary(checker.spawn(&relay.firehose_url(Some(0)), total as usize)).await;
    assert_eq!(replay["events"], json!(total));
    assert_eq!(replay["first_seq"], json!(1));
    assert_eq!(replay["last_seq"], json!(total));
    assert_eq!(replay["revs"], revs(&pdses));
    for pds in &pdses {
        assert_eq!(
            listed_about(&replay, &pds.dids()),
            pds_events(pds, 0),
            "events of {} as the atproto library read them",
            pds.hostname()
        );
    }
    // Per account: its first (empty) commit and the eight of `write_records`.
    let commits = pdses.len() * 2 * 9;
    assert_eq!(replay["counts"]["#commit"], json!(commits));
    assert_eq!(replay["counts"]["#identity"], json!(pdses.len() * 2));
    assert_eq!(replay["counts"]["#account"], json!(pdses.len() * 2));
    assert!(replay["blocks_checked"].as_u64().unwrap() >= commits as u64);

    // Live: a consumer without a cursor gets what is written after it connected.
    let admitted = relay.state.consumers.admissions().0;
    let live_count: usize = pdses.iter().map(|pds| pds.dids().len() * 8 + 4).sum();
    let live = checker.spawn(&relay.firehose_url(None), live_count);
    tokio::time::timeout(HANG_GUARD, async {
        while relay.state.consumers.admissions().0 == admitted {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the live consumer never connected");
    // Its log reader is made just after the upgrade; give it that moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for pds in &pdses {
        let dids = pds.dids();
        for did in &dids {
            write_records(pds, did, "b");
        }
        let did = &dids[0];
        pds.set_status(did, Some(atrelay_stream::AccountStatus::Deactivated))
            .unwrap();
        pds.set_handle(did, &format!("renamed.{}.test", pds.port()))
            .unwrap();
        pds.set_status(did, None).unwrap();
        pds.create_record(
            did,
            "app.bsky.feed.like",
            sample_record("app.bsky.feed.like", "back"),
        )
        .unwrap();
    }
    let live = summary(live).await;
    assert_eq!(live["events"], json!(live_count));
    assert_eq!(live["first_seq"], json!(total + 1));
    assert_eq!(live["last_seq"], json!(total + live_count as i64));
    assert_eq!(live["infos"], json!([]));
    assert_eq!(live["revs"], revs(&pdses));
    for (pds, head) in pdses.iter().zip(&heads) {
        assert_eq!(
            listed_about(&live, &pds.dids()),
            pds_events(pds, *head),
            "live events of {} as the atproto library read them",
            pds.hostname()
        );
    }
    eprintln!(
        "atproto (Python) verified {} replayed events in {} s and {} live events; ops {}",
        replay["events"], replay["elapsed_s"], live["events"], live["ops"]
    );
    relay.finish().await;
}
