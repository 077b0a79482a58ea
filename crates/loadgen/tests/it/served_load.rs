//! A generated load served over real sockets: every frame of every host passes the testkit's
//! strict checker (signature, MST proof, rev order, seq order, host), the op mix is there, the
//! directory serves each account's document, and `time` is stamped when a frame is sent.

use std::collections::HashMap;

use atrelay_loadgen::generate::{generate, LoadSpec};
use atrelay_loadgen::load::{read_accounts, TIME_PLACEHOLDER};
use atrelay_loadgen::serve::serve;
use atrelay_repo::crypto::PublicKey;
use atrelay_stream::{decode_frame, Message, OpAction};
use atrelay_testkit::{AccountKey, Checked, StreamChecker};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn spec() -> LoadSpec {
    LoadSpec {
        hosts: 2,
        accounts: 8,
        commits_per_account: 6,
        account_events: true,
        p256_share: 0.5,
        record_len: 16,
        seed: 3,
    }
}

/// Reads `count` frames from a host's firehose from `cursor`.
async fn read_frames(host: &str, cursor: Option<i64>, count: usize) -> Vec<Vec<u8>> {
    let url = match cursor {
        Some(c) => format!("ws://{host}/xrpc/com.atproto.sync.subscribeRepos?cursor={c}"),
        None => format!("ws://{host}/xrpc/com.atproto.sync.subscribeRepos"),
    };
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut frames = Vec::new();
    while frames.len() < count {
        match socket.next().await.unwrap().unwrap() {
            WsMessage::Binary(frame) => frames.push(frame.to_vec()),
            WsMessage::Close(close) => panic!("host closed the stream: {close:?}"),
            _ => {}
        }
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_frame_passes_the_strict_checker() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = generate(&spec(), dir.path()).unwrap();
    assert_eq!(manifest.total_events(), spec().events());
    assert_eq!(manifest.total_events(), 8 * (3 + 6));

    let running = serve(dir.path(), None, None).await.unwrap();
    let endpoints = running.endpoints.clone();
    assert_eq!(endpoints.events, manifest.total_events());

    let mut actions: HashMap<&'static str, usize> = HashMap::new();
    let mut multi_op_commits = 0;
    let mut curves = HashMap::new();
    for (k, host) in endpoints.hosts.iter().enumerate() {
        let keys: HashMap<String, AccountKey> = read_accounts(dir.path(), k)
            .unwrap()
            .into_iter()
            .map(|a| {
                let key = PublicKey::from_multikey(&a.multikey).unwrap();
                *curves.entry(format!("{:?}", key.curve())).or_insert(0) += 1;
                let account = AccountKey {
                    key,
                    pds_host: Some(host.clone()),
                };
                (a.did, account)
            })
            .collect();
        let expected = manifest.events_per_host[k] as usize;
        let frames = read_frames(host, None, expected).await;
        let mut checker = StreamChecker::new(Some(host));
        for (i, frame) in frames.iter().enumerate() {
            let message = decode_frame(frame).unwrap();
            assert_eq!(message.seq(), Some(i as i64 + 1));
            let checked = checker
                .check(frame, |did| keys.get(did).cloned())
                .unwrap_or_else(|e| panic!("host {k} frame {i}: {e}"));
            if let Message::Commit(commit) = &message {
                assert_ne!(commit.time, TIME_PLACEHOLDER, "time is stamped when sent");
                atrelay_repo::syntax::validate_datetime(&commit.time).unwrap();
                if commit.ops.len() > 1 {
                    multi_op_commits += 1;
                }
                for op in &commit.ops {
                    let name = match op.action {
                        OpAction::Create => "create",
                        OpAction::Update => "update",
                        OpAction::Delete => "delete",
                        OpAction::Other(_) => "unknown",
                    };
                    *actions.entry(name).or_insert(0) += 1;
                }
                assert!(matches!(checked, Checked::Commit { .. }));
            }
        }
        // A reconnect with a cursor resumes after it.
        let resumed = read_frames(host, Some(expected as i64 - 2), 2).await;
        assert_eq!(resumed.len(), 2);
        assert_eq!(
            decode_frame(&resumed[0]).unwrap().seq(),
            Some(expected as i64 - 1)
        );
    }
    assert!(actions["create"] > 0, "{actions:?}");
    assert!(
        actions.get("update").copied().unwrap_or(0) > 0,
        "{actions:?}"
    );
    assert!(
        actions.get("delete").copied().unwrap_or(0) > 0,
        "{actions:?}"
    );
    assert!(!actions.contains_key("unknown"));
    assert!(multi_op_commits > 0);
    assert_eq!(curves.len(), 2, "both curves: {curves:?}");

    // The directory serves each account's document, naming its host, and 404 for others.
    let first = &read_accounts(dir.path(), 1).unwrap()[0];
    let document: serde_json::Value =
        reqwest::get(format!("{}/{}", endpoints.directory, first.did))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(document["id"], first.did.as_str());
    assert_eq!(
        document["service"][0]["serviceEndpoint"],
        format!("http://{}", endpoints.hosts[1])
    );
    assert_eq!(
        document["verificationMethod"][0]["publicKeyMultibase"],
        first.multikey.as_str()
    );
    let missing = reqwest::get(format!("{}/did:plc:unknown", endpoints.directory))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_limit_caps_what_each_host_sends() {
    let dir = tempfile::tempdir().unwrap();
    generate(&spec(), dir.path()).unwrap();
    let running = serve(dir.path(), Some(1_000.0), Some(5)).await.unwrap();
    assert_eq!(running.endpoints.events, 10);
    let frames = read_frames(&running.endpoints.hosts[0], None, 5).await;
    assert_eq!(decode_frame(&frames[4]).unwrap().seq(), Some(5));
}
