//! Property tests: for random key sets and random batches of creates, updates and deletes,
//! - the tree after the batch is the same as one built from scratch from the final entries;
//! - inverting the batch on the partial tree made of just the proof blocks gives back the
//!   previous root exactly;
//! - a signed commit message with those blocks passes the full sync-1.1 check.

use std::collections::{BTreeMap, HashMap};

use atrelay_repo::car::write_car;
use atrelay_repo::cid::{cid_for_dag_cbor, Cid};
use atrelay_repo::commit::UnsignedCommit;
use atrelay_repo::crypto::SigningKey;
use atrelay_repo::mst::Tree;
use atrelay_repo::proof::{
    invert_ops, proof_blocks, verify_commit, CommitMessage, OpAction, ProofLimits, RepoOp,
};
use proptest::prelude::*;

fn key(n: u16) -> String {
    format!("app.bsky.feed.post/3k{n:05}")
}

fn value(n: u32) -> Cid {
    cid_for_dag_cbor(&n.to_be_bytes())
}

/// What to do with one key: indices pick keys, `u8` picks the action.
#[derive(Debug, Clone)]
struct Batch {
    initial: Vec<u16>,
    changes: Vec<(u16, u8)>,
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        prop::collection::vec(0u16..3000, 0..300),
        prop::collection::vec((0u16..3000, any::<u8>()), 1..40),
    )
        .prop_map(|(initial, changes)| Batch { initial, changes })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inversion_reproduces_the_previous_root(batch in batch()) {
        let before_map: BTreeMap<String, Cid> =
            batch.initial.iter().map(|n| (key(*n), value(u32::from(*n)))).collect();
        let built = Tree::from_entries(before_map.iter().map(|(k, v)| (k.as_bytes(), *v))).unwrap();
        let before_root = built.root_cid();
        let store: HashMap<Cid, Vec<u8>> = built.blocks().into_iter().collect();
        let mut tree = Tree::load_complete(&store, before_root).unwrap();

        // Turn the random changes into a valid op list (one op per path).
        let mut after_map = before_map.clone();
        let mut ops = Vec::new();
        let mut touched = std::collections::HashSet::new();
        for (i, (n, what)) in batch.changes.iter().enumerate() {
            let path = key(*n);
            if !touched.insert(path.clone()) {
                continue;
            }
            let new_value = value(100_000 + i as u32);
            let op = match (before_map.get(&path), what % 2) {
                (None, _) => RepoOp { action: OpAction::Create, path: path.clone(), cid: Some(new_value), prev: None },
                (Some(old), 0) => RepoOp { action: OpAction::Update, path: path.clone(), cid: Some(new_value), prev: Some(*old) },
                (Some(old), _) => RepoOp { action: OpAction::Delete, path: path.clone(), cid: None, prev: Some(*old) },
            };
            match op.cid {
                Some(v) => {
                    prop_assert_eq!(tree.insert(path.as_bytes(), v).unwrap(), op.prev);
                    after_map.insert(path, v);
                }
                None => {
                    prop_assert_eq!(tree.remove(path.as_bytes()).unwrap(), op.prev);
                    after_map.remove(&path);
                }
            }
            ops.push(op);
        }

        // Canonical shape: same root as a tree built from the final entries.
        let rebuilt = Tree::from_entries(after_map.iter().map(|(k, v)| (k.as_bytes(), *v))).unwrap();
        prop_assert_eq!(tree.root_cid(), rebuilt.root_cid());
        prop_assert_eq!(tree.entries().unwrap().len(), after_map.len());

        // Inversion on the proof blocks alone.
        let proof: HashMap<Cid, Vec<u8>> = proof_blocks(&tree, &ops).unwrap().into_iter().collect();
        let mut partial = Tree::load(&proof, tree.root_cid()).unwrap();
        invert_ops(&mut partial, &ops).unwrap();
        prop_assert_eq!(partial.root_cid(), before_root);

        // And as a whole signed message.
        let key = SigningKey::generate_k256();
        let commit = UnsignedCommit {
            did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz".into(),
            data: tree.root_cid(),
            rev: "3lhhxizu5wr2d".into(),
            prev: None,
        }
        .sign(&key);
        let commit_bytes = commit.to_bytes();
        let commit_cid = commit.cid();
        let car = write_car(
            &[commit_cid],
            std::iter::once((commit_cid, commit_bytes.as_slice()))
                .chain(proof.iter().map(|(c, b)| (*c, b.as_slice()))),
        );
        let msg = CommitMessage {
            repo: "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            rev: "3lhhxizu5wr2d",
            commit: commit_cid,
            blocks: &car,
            ops: &ops,
            prev_data: Some(before_root),
        };
        let limits = ProofLimits { require_record_blocks: false, ..ProofLimits::default() };
        let verified = verify_commit(&msg, &key.public_key(), &limits).unwrap();
        prop_assert_eq!(verified.prev_data, Some(before_root));
    }
}

fn message<'a>(blocks: &'a [u8], ops: &'a [RepoOp]) -> CommitMessage<'a> {
    CommitMessage {
        repo: "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        rev: "3lhhxizu5wr2d",
        commit: value(1),
        blocks,
        ops,
        prev_data: Some(value(2)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes, and valid CARs with arbitrary byte edits, are errors or verify; they
    /// never panic, whatever lengths they claim.
    #[test]
    fn garbage_is_an_error_not_a_panic(
        noise in prop::collection::vec(any::<u8>(), 0..600),
        edits in prop::collection::vec((any::<u16>(), any::<u8>()), 1..6),
    ) {
        let limits = ProofLimits::default();
        let ops = [RepoOp {
            action: OpAction::Create,
            path: key(7),
            cid: Some(value(7)),
            prev: None,
        }];
        let _ = atrelay_repo::proof::verify_commit_proof(&message(&noise, &ops), &limits);
        let _ = atrelay_repo::car::Car::read(&noise, usize::MAX);
        let _ = atrelay_repo::commit::Commit::decode(&noise);

        // A valid message, then a few bytes changed (often inside lengths or CIDs).
        let tree = Tree::from_entries((0..40u16).map(|n| (key(n), value(u32::from(n))))).unwrap();
        let key = SigningKey::generate_p256();
        let commit = UnsignedCommit {
            did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz".into(),
            data: tree.root_cid(),
            rev: "3lhhxizu5wr2d".into(),
            prev: None,
        }
        .sign(&key);
        let commit_bytes = commit.to_bytes();
        let mst = tree.blocks();
        let mut car = write_car(
            &[commit.cid()],
            std::iter::once((commit.cid(), commit_bytes.as_slice()))
                .chain(mst.iter().map(|(c, b)| (*c, b.as_slice()))),
        );
        for (pos, byte) in edits {
            let pos = usize::from(pos) % car.len();
            car[pos] = byte;
        }
        let mut m = message(&car, &ops);
        m.commit = commit.cid();
        let _ = verify_commit(&m, &key.public_key(), &limits);
        if let Ok(parsed) = atrelay_repo::car::Car::read(&car, usize::MAX) {
            for block in parsed.blocks() {
                let _ = Tree::load(&parsed, block.cid).map(|t| t.entries());
            }
        }
    }
}
