//! End-to-end commit verification, as ingest does it: frame → `#commit` (or `#sync`) → CAR →
//! commit block → MST proof (sync-1.1 inversion against `prevData`) → signature.
//!
//! Input: a `did:key:` text, a newline, then an event-stream frame. Seeds are real signed
//! commits with their account keys, so mutations reach the proof and signature checks.
//!
//! Checks beyond "never panics": a verified commit names the message's CID, rev and repo, and
//! its signature also verifies with the `k256`/`p256` crates used directly; verification with
//! the key succeeds exactly when the key-less proof check succeeds and that oracle agrees.
#![no_main]

use atrelay_fuzz::oracle_verify;
use atrelay_repo::crypto::PublicKey;
use atrelay_repo::proof::{self, CommitMessage, OpAction, ProofError, ProofLimits, RepoOp};
use atrelay_stream::{decode_frame, Message, OpAction as WireAction};
use libfuzzer_sys::fuzz_target;

fn check_signature(key: &PublicKey, commit: &atrelay_repo::commit::Commit) -> bool {
    oracle_verify(
        key.curve(),
        &key.to_compressed_bytes(),
        &commit.unsigned_bytes(),
        &commit.sig,
    )
    .expect("our key is a valid point")
}

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let Ok(key) = std::str::from_utf8(&data[..split])
        .map_err(|_| ())
        .and_then(|text| PublicKey::from_did_key(text).map_err(|_| ()))
    else {
        return;
    };
    let Ok(message) = decode_frame(&data[split + 1..]) else {
        return;
    };
    let limits = ProofLimits::default();
    match message {
        Message::Commit(commit) => {
            let mut ops = Vec::with_capacity(commit.ops.len());
            for op in &commit.ops {
                let action = match op.action {
                    WireAction::Create => OpAction::Create,
                    WireAction::Update => OpAction::Update,
                    WireAction::Delete => OpAction::Delete,
                    WireAction::Other(_) => return,
                };
                ops.push(RepoOp {
                    action,
                    path: op.path.clone(),
                    cid: op.cid,
                    prev: op.prev,
                });
            }
            let msg = CommitMessage {
                repo: &commit.repo,
                rev: &commit.rev,
                commit: commit.commit,
                blocks: &commit.blocks,
                ops: &ops,
                prev_data: commit.prev_data,
            };
            let proof_only = proof::verify_commit_proof(&msg, &limits);
            let full = proof::verify_commit(&msg, &key, &limits);
            match (&proof_only, &full) {
                (Ok(verified), Ok(again)) => {
                    assert_eq!(verified, again);
                    assert_eq!(verified.cid, commit.commit);
                    assert_eq!(verified.rev, commit.rev);
                    assert_eq!(verified.commit.did, commit.repo);
                    assert_eq!(verified.prev_data, commit.prev_data);
                    assert!(check_signature(&key, &verified.commit), "oracle refuses");
                }
                (Ok(verified), Err(ProofError::Signature(_))) => {
                    assert!(!check_signature(&key, &verified.commit), "oracle accepts");
                }
                (Err(a), Err(b)) => assert_eq!(a, b, "the two paths fail differently"),
                (a, b) => panic!("proof check {a:?} but full check {b:?}"),
            }
        }
        Message::Sync(sync) => {
            if let Ok(verified) =
                proof::verify_sync(&sync.did, &sync.rev, &sync.blocks, &key, &limits)
            {
                assert_eq!(verified.commit.did, sync.did);
                assert_eq!(verified.rev, sync.rev);
                assert!(check_signature(&key, &verified.commit), "oracle refuses");
            }
        }
        _ => {}
    }
});
