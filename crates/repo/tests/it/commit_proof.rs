//! Sync-1.1 commit proofs against `interop/firehose/commit-proof-fixtures.json`, then as whole
//! signed `#commit` messages built from those fixtures, with one broken variant per error
//! class.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use atrelay_repo::car::{write_car, CarError};
use atrelay_repo::cid::{cid_for_dag_cbor, Cid};
use atrelay_repo::commit::{Commit, UnsignedCommit};
use atrelay_repo::crypto::SigningKey;
use atrelay_repo::mst::Tree;
use atrelay_repo::proof::{
    invert_ops, invert_ops_any_order, proof_blocks, verify_commit, verify_commit_proof,
    verify_sync, CommitMessage, OpAction, ProofError, ProofLimits, RepoOp,
};

fn fixtures() -> Vec<serde_json::Value> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/interop/firehose/commit-proof-fixtures.json"
    ));
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn cid(v: &serde_json::Value) -> Cid {
    Cid::try_from(v.as_str().unwrap()).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// A fixture worked through: the trees before and after, the ops, and the diff blocks.
struct Case {
    comment: String,
    leaf: Cid,
    root_before: Cid,
    ops: Vec<RepoOp>,
    after: Tree,
    blocks_in_proof: Vec<Cid>,
}

fn work(f: &serde_json::Value) -> Case {
    let comment = f["comment"].as_str().unwrap().to_string();
    let leaf = cid(&f["leafValue"]);
    let keys = strings(&f["keys"]);
    let built = Tree::from_entries(keys.iter().map(|k| (k.as_bytes(), leaf))).unwrap();
    let root_before = built.root_cid();
    assert_eq!(
        root_before,
        cid(&f["rootBeforeCommit"]),
        "{comment}: root before"
    );

    // Load the "before" tree from its blocks, so only what the ops change counts as new.
    let blocks: HashMap<Cid, Vec<u8>> = built.blocks().into_iter().collect();
    let mut after = Tree::load_complete(&blocks, root_before).unwrap();
    let mut ops = Vec::new();
    for key in strings(&f["adds"]) {
        assert_eq!(after.insert(key.as_bytes(), leaf).unwrap(), None);
        ops.push(RepoOp {
            action: OpAction::Create,
            path: key,
            cid: Some(leaf),
            prev: None,
        });
    }
    for key in strings(&f["dels"]) {
        assert_eq!(after.remove(key.as_bytes()).unwrap(), Some(leaf));
        ops.push(RepoOp {
            action: OpAction::Delete,
            path: key,
            cid: None,
            prev: Some(leaf),
        });
    }
    assert_eq!(
        after.root_cid(),
        cid(&f["rootAfterCommit"]),
        "{comment}: root after"
    );
    let blocks_in_proof = f["blocksInProof"]
        .as_array()
        .unwrap()
        .iter()
        .map(cid)
        .collect();
    Case {
        comment,
        leaf,
        root_before,
        ops,
        after,
        blocks_in_proof,
    }
}

#[test]
fn fixture_proofs_invert_to_the_root_before() {
    let all = fixtures();
    assert_eq!(all.len(), 6);
    for f in &all {
        let case = work(f);
        let name = &case.comment;
        // Our own proof block set covers the fixture's.
        let ours: BTreeSet<Cid> = proof_blocks(&case.after, &case.ops)
            .unwrap()
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let theirs: BTreeSet<Cid> = case.blocks_in_proof.iter().copied().collect();
        assert!(
            theirs.is_subset(&ours),
            "{name}: {theirs:?} not within {ours:?}"
        );

        // The fixture's block set alone is enough to invert the ops.
        let all_blocks: HashMap<Cid, Vec<u8>> = case.after.blocks().into_iter().collect();
        let proof: HashMap<Cid, Vec<u8>> = all_blocks
            .iter()
            .filter(|(c, _)| theirs.contains(c))
            .map(|(c, b)| (*c, b.clone()))
            .collect();
        let mut partial = Tree::load(&proof, case.after.root_cid()).unwrap();
        for op in &case.ops {
            assert_eq!(partial.get(op.path.as_bytes()).unwrap(), op.cid, "{name}");
        }
        invert_ops(&mut partial, &case.ops).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(partial.root_cid(), case.root_before, "{name}");
    }
}

/// A signed `#commit` message built from a worked fixture.
struct Message {
    did: String,
    rev: String,
    commit: Commit,
    commit_cid: Cid,
    blocks: Vec<u8>,
    ops: Vec<RepoOp>,
    prev_data: Cid,
    key: SigningKey,
    mst_blocks: Vec<(Cid, Vec<u8>)>,
}

impl Message {
    fn new(case: &Case) -> Self {
        let key = SigningKey::generate_k256();
        let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz".to_string();
        let rev = "3lhhxizu5wr2d".to_string();
        let commit = UnsignedCommit {
            did: did.clone(),
            data: case.after.root_cid(),
            rev: rev.clone(),
            prev: None,
        }
        .sign(&key);
        let mst_blocks = proof_blocks(&case.after, &case.ops).unwrap();
        let mut msg = Self {
            did,
            rev,
            commit_cid: commit.cid(),
            commit,
            blocks: Vec::new(),
            ops: case.ops.clone(),
            prev_data: case.root_before,
            key,
            mst_blocks,
        };
        msg.blocks = msg.car(&[]);
        msg
    }

    /// The CAR: commit first, then the proof's MST blocks except those in `leave_out`.
    fn car(&self, leave_out: &[Cid]) -> Vec<u8> {
        let commit_bytes = self.commit.to_bytes();
        let mst = self
            .mst_blocks
            .iter()
            .filter(|(c, _)| !leave_out.contains(c))
            .map(|(c, b)| (*c, b.as_slice()));
        write_car(
            &[self.commit_cid],
            std::iter::once((self.commit_cid, commit_bytes.as_slice())).chain(mst),
        )
    }

    fn view<'a>(&'a self, blocks: &'a [u8], ops: &'a [RepoOp]) -> CommitMessage<'a> {
        CommitMessage {
            repo: &self.did,
            rev: &self.rev,
            commit: self.commit_cid,
            blocks,
            ops,
            prev_data: Some(self.prev_data),
        }
    }
}

fn lenient() -> ProofLimits {
    // The fixtures' leaf value is not a real record, so no record blocks exist.
    // Their keys (`A0/374913`) are not repository paths either.
    ProofLimits {
        require_record_blocks: false,
        check_paths: false,
        ..ProofLimits::default()
    }
}

#[test]
fn signed_messages_verify_and_each_kind_of_break_is_told_apart() {
    let mut n_extra_claims = 0;
    for f in fixtures() {
        let case = work(&f);
        let name = case.comment.as_str();
        let m = Message::new(&case);
        let key = m.key.public_key();
        let ok = verify_commit(&m.view(&m.blocks, &m.ops), &key, &lenient())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ok.cid, m.commit_cid);
        assert_eq!(ok.data, case.after.root_cid());
        assert_eq!(ok.prev_data, Some(case.root_before));
        assert_eq!(ok.rev, m.rev);

        // Record blocks are required by default.
        let strict_records = ProofLimits {
            require_record_blocks: true,
            ..lenient()
        };
        assert!(matches!(
            verify_commit_proof(&m.view(&m.blocks, &m.ops), &strict_records),
            Err(ProofError::MissingRecordBlock { .. })
        ));

        // Wrong key.
        let other = SigningKey::generate_p256().public_key();
        assert!(matches!(
            verify_commit(&m.view(&m.blocks, &m.ops), &other, &lenient()),
            Err(ProofError::Signature(_))
        ));

        // Leaving out an MST block the proof needs is reported as that missing block (some
        // covering blocks are included for other implementations and not needed here).
        let mut n_needed = 0;
        for (left_out, _) in &m.mst_blocks {
            let blocks = m.car(&[*left_out]);
            match verify_commit_proof(&m.view(&blocks, &m.ops), &lenient()) {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e, ProofError::MissingBlock(*left_out), "{name}");
                    n_needed += 1;
                }
            }
        }
        assert!(n_needed > 0, "{name}: no block was needed");

        // An op list missing one op: the claims hold but do not explain prevData.
        if m.ops.len() > 1 {
            let res = verify_commit_proof(&m.view(&m.blocks, &m.ops[1..]), &lenient());
            assert!(
                matches!(
                    res,
                    Err(ProofError::PrevDataMismatch { .. }) | Err(ProofError::MissingBlock(_))
                ),
                "{name}: {res:?}"
            );
        }

        // An extra claim: a create for a key the commit deleted (its absence is provable).
        if let Some(deleted) = m.ops.iter().find(|op| op.action == OpAction::Delete) {
            let mut extra: Vec<RepoOp> = m
                .ops
                .iter()
                .filter(|op| op.path != deleted.path)
                .cloned()
                .collect();
            extra.push(RepoOp {
                action: OpAction::Create,
                path: deleted.path.clone(),
                cid: Some(case.leaf),
                prev: None,
            });
            assert!(matches!(
                verify_commit_proof(&m.view(&m.blocks, &extra), &lenient()),
                Err(ProofError::ClaimMismatch { found: None, .. })
            ));
            n_extra_claims += 1;
        }

        // A wrong claimed CID.
        let mut wrong = m.ops.clone();
        let other_cid = cid_for_dag_cbor(b"\xa0");
        if let Some(op) = wrong.iter_mut().find(|op| op.action == OpAction::Create) {
            op.cid = Some(other_cid);
            assert!(matches!(
                verify_commit_proof(&m.view(&m.blocks, &wrong), &lenient()),
                Err(ProofError::ClaimMismatch { .. })
            ));
        }

        // A wrong prevData.
        let mut view = m.view(&m.blocks, &m.ops);
        view.prev_data = Some(other_cid);
        assert_eq!(
            verify_commit_proof(&view, &lenient()),
            Err(ProofError::PrevDataMismatch {
                expected: other_cid,
                computed: case.root_before
            })
        );

        // No prevData (first commit, or a pre-1.1 message): forward checks only.
        view.prev_data = None;
        assert_eq!(
            verify_commit_proof(&view, &lenient()).unwrap().prev_data,
            None
        );

        // The message names another commit.
        let mut view = m.view(&m.blocks, &m.ops);
        view.commit = other_cid;
        assert!(matches!(
            verify_commit_proof(&view, &lenient()),
            Err(ProofError::CommitCidMismatch { .. })
        ));

        // The commit is for another account or rev.
        let mut view = m.view(&m.blocks, &m.ops);
        view.repo = "did:plc:someoneelse";
        assert!(matches!(
            verify_commit_proof(&view, &lenient()),
            Err(ProofError::RepoMismatch { .. })
        ));
        let mut view = m.view(&m.blocks, &m.ops);
        view.rev = "3lhhxizu5wr2e";
        assert!(matches!(
            verify_commit_proof(&view, &lenient()),
            Err(ProofError::RevMismatch { .. })
        ));

        // Limits are checked before parsing.
        let tight = ProofLimits {
            max_blocks_bytes: m.blocks.len() - 1,
            ..lenient()
        };
        assert!(matches!(
            verify_commit_proof(&m.view(&m.blocks, &m.ops), &tight),
            Err(ProofError::BlocksTooLarge { .. })
        ));
        let tight = ProofLimits {
            max_ops: 0,
            ..lenient()
        };
        assert!(matches!(
            verify_commit_proof(&m.view(&m.blocks, &m.ops), &tight),
            Err(ProofError::TooManyOps { .. })
        ));

        // Truncated CAR.
        let cut = &m.blocks[..m.blocks.len() - 3];
        assert!(matches!(
            verify_commit_proof(&m.view(cut, &m.ops), &lenient()),
            Err(ProofError::Car(CarError::Truncated { .. }))
        ));

        // #sync: a CAR with just the commit.
        let sync_car = write_car(
            &[m.commit_cid],
            [(m.commit_cid, m.commit.to_bytes().as_slice())],
        );
        let synced = verify_sync(&m.did, &m.rev, &sync_car, &key, &lenient()).unwrap();
        assert_eq!(
            (synced.cid, synced.data),
            (m.commit_cid, case.after.root_cid())
        );
        assert!(matches!(
            verify_sync(&m.did, &m.rev, &sync_car, &other, &lenient()),
            Err(ProofError::Signature(_))
        ));
    }
    assert!(n_extra_claims > 0);
}

#[test]
fn malformed_ops_are_rejected_before_parsing() {
    let leaf = cid_for_dag_cbor(b"\xa0");
    let op = |action, path: &str, cid: Option<Cid>, prev: Option<Cid>| RepoOp {
        action,
        path: path.into(),
        cid,
        prev,
    };
    let cases = [
        vec![op(OpAction::Create, "app.bsky.feed.post/abc", None, None)],
        vec![op(
            OpAction::Create,
            "app.bsky.feed.post/abc",
            Some(leaf),
            Some(leaf),
        )],
        vec![op(
            OpAction::Update,
            "app.bsky.feed.post/abc",
            Some(leaf),
            None,
        )],
        vec![op(OpAction::Delete, "app.bsky.feed.post/abc", None, None)],
        vec![op(
            OpAction::Delete,
            "app.bsky.feed.post/abc",
            Some(leaf),
            Some(leaf),
        )],
        vec![op(OpAction::Create, "not-a-path", Some(leaf), None)],
        vec![op(
            OpAction::Create,
            "app.bsky.feed.post/..",
            Some(leaf),
            None,
        )],
        vec![
            op(OpAction::Create, "app.bsky.feed.post/abc", Some(leaf), None),
            op(OpAction::Delete, "app.bsky.feed.post/abc", None, Some(leaf)),
        ],
    ];
    for ops in &cases {
        let msg = CommitMessage {
            repo: "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            rev: "3lhhxizu5wr2d",
            commit: leaf,
            blocks: b"not a car",
            ops,
            prev_data: None,
        };
        assert!(
            matches!(
                verify_commit_proof(&msg, &ProofLimits::default()),
                Err(ProofError::BadOp { .. })
            ),
            "{ops:?}"
        );
    }
}

/// The smallest block set (beyond the changed nodes) with which `ops` can be undone
/// first-to-last, found by adding whatever node the inversion reports missing.
fn blocks_for_first_to_last(after: &Tree, ops: &[RepoOp]) -> HashMap<Cid, Vec<u8>> {
    let all: HashMap<Cid, Vec<u8>> = after.blocks().into_iter().collect();
    let mut chosen: HashMap<Cid, Vec<u8>> = after.fresh_blocks().into_iter().collect();
    let reversed: Vec<RepoOp> = ops.iter().rev().cloned().collect();
    loop {
        let mut partial = Tree::load(&chosen, after.root_cid()).unwrap();
        match invert_ops(&mut partial, &reversed) {
            Ok(()) => return chosen,
            Err(ProofError::MissingBlock(cid)) => {
                chosen.insert(cid, all[&cid].clone());
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn inversion_falls_back_to_other_orders() {
    let value = |n: u32| cid_for_dag_cbor(&n.to_be_bytes());
    let path = |n: u32| format!("app.bsky.feed.post/3k{n:05}");
    let mut n_needed_fallback = 0;
    for seed in 0..300u32 {
        // A small tree and a pair of operations that interact (neighbouring keys).
        let keys: Vec<u32> = (0..60).map(|i| (i * 7 + seed * 13) % 400).collect();
        let built = Tree::from_entries(keys.iter().map(|k| (path(*k), value(*k)))).unwrap();
        let before = built.root_cid();
        let store: HashMap<Cid, Vec<u8>> = built.blocks().into_iter().collect();
        let mut after = Tree::load_complete(&store, before).unwrap();
        let mut ops = Vec::new();
        for k in [seed % 400, (seed * 31 + 5) % 400, (seed * 17 + 3) % 400] {
            if ops.iter().any(|op: &RepoOp| op.path == path(k)) {
                continue;
            }
            let op = match after.get(path(k).as_bytes()).unwrap() {
                Some(old) => RepoOp {
                    action: OpAction::Delete,
                    path: path(k),
                    cid: None,
                    prev: Some(old),
                },
                None => RepoOp {
                    action: OpAction::Create,
                    path: path(k),
                    cid: Some(value(k + 1000)),
                    prev: None,
                },
            };
            match op.cid {
                Some(v) => after.insert(op.path.as_bytes(), v).unwrap(),
                None => after.remove(op.path.as_bytes()).unwrap(),
            };
            ops.push(op);
        }
        let blocks = blocks_for_first_to_last(&after, &ops);
        let mut last_first = Tree::load(&blocks, after.root_cid()).unwrap();
        if invert_ops(&mut last_first, &ops).is_err() {
            n_needed_fallback += 1;
        }
        let any = invert_ops_any_order(&blocks, after.root_cid(), &ops).unwrap();
        assert_eq!(any.root_cid(), before, "seed {seed}");
    }
    eprintln!("{n_needed_fallback} of 300 batches needed another order");
    assert!(n_needed_fallback > 0);
}
