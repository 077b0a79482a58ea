//! indigo's relay scenarios (`cmd/relay/testing/testdata/*.json` in the shared fixtures)
//! replayed through the real ingest path, on SQLite and PostgreSQL.
//!
//! Per file: a fake PDS serves the file's frames verbatim over a real websocket, the fake PLC
//! directory serves the accounts' documents (the file's keys, the PDS endpoint rewritten to the
//! fake PDS), and a dev-mode relay, strict or lenient as the file says, crawls the PDS from
//! cursor 0. Once the relay's stored cursor reaches the last frame, its own firehose must hold
//! exactly the frames the file does not mark `drop`, in order and unchanged but for `seq`, and
//! every dropped frame must be counted under the reason this test names for it.
//!
//! indigo's own runner only checks the passed frames (it leaves "verify nothing returned" as a
//! to-do); this replay checks both. Its `invalid` flag is never set in these files, and its
//! `update` flag is checked through the stored account state (status and repository head).
//!
//! Deliberate differences from indigo's relay, none of which changes a pass/drop outcome here:
//! - A `seq` that does not increase (seq_ordering.json) makes our relay drop the frame and
//!   redial from its stored cursor, where indigo drops it and reads on. The frame after it (an
//!   older `seq` 5) is then never replayed by the host, so it is dropped without being read:
//!   one `seq-not-increasing` drop, not two.
//! - rev_ordering.json's first dropped commit carries the rev `3lmxjza3nva00`, which is not a
//!   TID (`0` is outside the TID alphabet): indigo drops it as not newer than the stored rev,
//!   ours refuses its syntax first (`bad-rev`).
//! - Lenient mode accepts update and delete ops without `prev` (post_lifecycle_legacy.json,
//!   deactivation.json) by checking their claims in the new tree and skipping inversion, as
//!   indigo does; strict mode refuses them.
//! - A commit whose `since` does not chain to the stored rev (the commits after a dropped one
//!   in deactivation.json and post_lifecycle_legacy.json) passes as in indigo, and is also
//!   counted as a discontinuity with the account marked desynchronized.

use crate::support;

use std::path::PathBuf;

use atrelay::engine::ingest::DropReason;
use atrelay_store::AccountStatus;
use atrelay_stream::{decode_frame, Message, WireStatus};
use atrelay_testkit::{FakeDirectory, FakePds, Scenario};
use support::{next_message, unsequenced, wait_for_cursor, IngestSetup, TestRelay};

/// Guards against a hung test; not an assertion about speed.
fn scenario_path(file: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/indigo/cmd/relay/testing/testdata"
    ))
    .join(file)
}

/// Which store the relay runs on.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// One scenario file on both backends; `$drops` names, in file order, the reason each frame
/// marked `drop` is counted under (`None`: never read, see the module notes).
macro_rules! scenario {
    ($name:ident, $file:literal, $drops:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use atrelay::engine::ingest::DropReason;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::replay($file, super::Backend::Sqlite, &$drops).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::replay($file, super::Backend::Postgres, &$drops).await;
            }
        }
    };
}

// Lifecycle of a new account: #identity, #account, #sync, then deletion; all pass (strict).
scenario!(account_lifecycle, "account_lifecycle.json", []);
// Commits of a deactivated account are held back; after reactivation commits flow again
// (lenient: the commits have no prevData).
scenario!(
    deactivation,
    "deactivation.json",
    [Some(DropReason::InactiveAccount)]
);
// A pre-sync-1.1 commit without prevData from a new account passes in lenient mode.
scenario!(legacy, "legacy.json", []);
// Creates, updates and deletes with prevData and op prev: every inversion holds (strict).
scenario!(post_lifecycle, "post_lifecycle.json", []);
// The same kind of history without prevData passes in lenient mode.
scenario!(post_lifecycle_legacy, "post_lifecycle_legacy.json", []);
// A rev that is not a TID (`…nva00`: `0` is outside the TID alphabet) and a rev equal to the
// stored one are dropped; the next newer rev passes. (indigo drops the first as older than
// the stored rev; ours refuses its syntax first. Either way it is dropped.)
scenario!(
    rev_ordering,
    "rev_ordering.json",
    [Some(DropReason::BadRev), Some(DropReason::RevNotNewer)]
);
// A repeated seq and a lower seq are dropped; a higher seq passes.
scenario!(
    seq_ordering,
    "seq_ordering.json",
    [Some(DropReason::SeqNotIncreasing), None]
);

async fn start_relay(backend: Backend, setup: IngestSetup) -> Option<TestRelay> {
    match backend {
        Backend::Sqlite => Some(TestRelay::sqlite_ingest(setup).await),
        Backend::Postgres => TestRelay::postgres_ingest(setup).await,
    }
}

async fn replay(file: &str, backend: Backend, drops: &[Option<DropReason>]) {
    let scenario = Scenario::load(&scenario_path(file)).expect("scenario file");
    let directory = FakeDirectory::start().await.unwrap();
    let mut setup = IngestSetup::for_directory(&directory);
    setup.config.lenient = scenario.lenient;
    let Some(relay) = start_relay(backend, setup).await else {
        return;
    };
    let pds = FakePds::start(&directory).await.unwrap();
    for account in &scenario.accounts {
        directory.publish_json(&account.did, account.document(&pds.url()));
    }
    for message in &scenario.messages {
        pds.emit_raw(message.seq, message.frame.clone());
    }
    pds.request_crawl(&relay.base).await.unwrap();
    let last = scenario.messages.last().expect("a scenario has messages");
    wait_for_cursor(&relay, pds.hostname(), last.seq).await;

    // Passed: exactly the frames not marked `drop`, in order, unchanged but for seq.
    let expected: Vec<Message> = scenario
        .messages
        .iter()
        .filter(|m| !m.drop)
        .map(|m| unsequenced(decode_frame(&m.frame).unwrap()))
        .collect();
    let mut ws = {
        let (ws, _) = tokio_tungstenite::connect_async(relay.firehose_url(Some(0)))
            .await
            .expect("connect to the relay firehose");
        ws
    };
    let mut relayed = Vec::new();
    for _ in 0..expected.len() {
        relayed.push(next_message(&mut ws).await);
    }
    assert_eq!(
        relay.log.newest_seq(),
        relayed.last().and_then(Message::seq).unwrap_or(0),
        "{file}: the relay passed on more than the file allows"
    );
    for (index, (got, want)) in relayed.into_iter().zip(&expected).enumerate() {
        assert_eq!(
            &unsequenced(got),
            want,
            "{file}: passed message {index} differs"
        );
    }

    // Dropped: each under the reason named for it, and nothing else dropped.
    let marked = scenario.messages.iter().filter(|m| m.drop).count();
    assert_eq!(drops.len(), marked, "{file}: one reason per dropped frame");
    let counters = relay.state.ingest.counters();
    for reason in DropReason::ALL {
        let want = drops.iter().filter(|r| **r == Some(reason)).count() as u64;
        assert_eq!(
            counters.count(reason),
            want,
            "{file}: {} drops: {:?}",
            reason.label(),
            counters.snapshot()
        );
    }

    // Updates: the stored account follows the last passed #account and repository event.
    for account in &scenario.accounts {
        let passed = expected.iter().filter(|m| m.did() == Some(&account.did));
        let last_status = passed.clone().rev().find_map(|m| match m {
            Message::Account(a) => Some(a.clone()),
            _ => None,
        });
        let last_rev = passed.rev().find_map(|m| match m {
            Message::Commit(c) => Some(c.rev.clone()),
            Message::Sync(s) => Some(s.rev.clone()),
            _ => None,
        });
        let stored = relay
            .store
            .account(&account.did)
            .await
            .unwrap()
            .expect("the account is stored");
        if let Some(status) = last_status {
            let want = match status.status {
                _ if status.active => AccountStatus::Active,
                Some(WireStatus::Known(AccountStatus::Deleted)) => AccountStatus::Deleted,
                Some(WireStatus::Known(AccountStatus::Deactivated)) => AccountStatus::Deactivated,
                other => panic!("{file}: status {other:?} not in these scenarios"),
            };
            assert_eq!(stored.upstream_status, want, "{file}: {}", account.did);
        }
        assert_eq!(
            stored.repo.map(|r| r.rev),
            last_rev,
            "{file}: stored rev of {}",
            account.did
        );
    }
    drop(ws);
    relay.finish().await;
}

/// Lenient against strict mode on the same upstream history: a legacy commit (a delete without
/// `prev`, no `prevData`) and a commit whose diff does not invert to its `prevData` are dropped in
/// strict mode and passed in lenient mode; a bad signature is dropped in both.
macro_rules! modes {
    ($name:ident, $lenient:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::legacy_commits(super::Backend::Sqlite, $lenient).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::legacy_commits(super::Backend::Postgres, $lenient).await;
            }
        }
    };
}

modes!(strict_mode_drops_legacy_commits, false);
modes!(
    lenient_mode_passes_legacy_commits_but_checks_signatures,
    true
);

async fn legacy_commits(backend: Backend, lenient: bool) {
    use atrelay_testkit::{sample_record, AccountOptions, Misbehavior, RecordPath};

    let directory = FakeDirectory::start().await.unwrap();
    let mut setup = IngestSetup::for_directory(&directory);
    setup.config.lenient = lenient;
    let Some(relay) = start_relay(backend, setup).await else {
        return;
    };
    let pds = FakePds::start(&directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    let write = || {
        pds.create_record(
            &did,
            "app.bsky.feed.post",
            sample_record("app.bsky.feed.post", "hello"),
        )
        .unwrap()
    };
    write();
    let mut dropped = Vec::new();
    for (misbehavior, strict_reason, lenient_reason) in [
        (
            Misbehavior::LegacyCommit,
            Some(DropReason::MissingPrevData),
            None,
        ),
        (
            Misbehavior::WrongPrevData,
            Some(DropReason::InvalidProof),
            None,
        ),
        (
            Misbehavior::BadSignature,
            Some(DropReason::BadSignature),
            Some(DropReason::BadSignature),
        ),
    ] {
        if misbehavior == Misbehavior::LegacyCommit {
            // A delete: a legacy op without `prev`, in a commit without `prevData`.
            let path = RecordPath::parse(&write().ops[0].path).unwrap();
            pds.misbehave(misbehavior);
            let commit = pds.delete_record(&did, path).unwrap();
            assert!(commit.prev_data.is_none() && commit.ops[0].prev.is_none());
        } else {
            pds.misbehave(misbehavior);
            write();
        }
        if let Some(reason) = if lenient {
            lenient_reason
        } else {
            strict_reason
        } {
            dropped.push((pds.head_seq(), reason));
        }
        write();
    }
    pds.request_crawl(&relay.base).await.unwrap();
    wait_for_cursor(&relay, pds.hostname(), pds.head_seq()).await;

    let expected: Vec<Message> = pds
        .events()
        .into_iter()
        .filter(|e| !dropped.iter().any(|(seq, _)| *seq == e.seq))
        .map(|e| unsequenced(decode_frame(&e.frame).unwrap()))
        .collect();
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.firehose_url(Some(0)))
        .await
        .expect("connect to the relay firehose");
    let mut relayed = Vec::new();
    let mut last_seq = 0;
    for _ in 0..expected.len() {
        let message = next_message(&mut ws).await;
        last_seq = message.seq().unwrap_or_default();
        relayed.push(unsequenced(message));
    }
    assert_eq!(relayed, expected, "lenient={lenient}");
    assert_eq!(
        relay.log.newest_seq(),
        last_seq,
        "nothing more was passed on"
    );
    let counters = relay.state.ingest.counters();
    for reason in DropReason::ALL {
        let want = dropped.iter().filter(|(_, r)| *r == reason).count() as u64;
        assert_eq!(
            counters.count(reason),
            want,
            "lenient={lenient}: {} drops: {:?}",
            reason.label(),
            counters.snapshot()
        );
    }
    drop(ws);
    relay.finish().await;
}
