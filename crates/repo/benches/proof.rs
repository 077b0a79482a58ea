//! Commit-proof verification rate on the real firehose captures (signature included), and
//! on a synthetic sync-1.1 commit (inversion against `prevData`) in a 2,000-record repository.

use std::collections::HashMap;
use std::time::Duration;

use atrelay_repo::car::{write_car, Car};
use atrelay_repo::cid::{cid_for_dag_cbor, Cid};
use atrelay_repo::commit::{Commit, UnsignedCommit};
use atrelay_repo::crypto::{Curve, PublicKey, SigningKey};
use atrelay_repo::json::json_to_ipld;
use atrelay_repo::mst::Tree;
use atrelay_repo::proof::{
    invert_ops, proof_blocks, verify_commit, verify_commit_proof, CommitMessage, OpAction,
    ProofLimits, RepoOp,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipld_core::ipld::Ipld;
use sha2::{Digest, Sha256};

struct Capture {
    repo: String,
    rev: String,
    commit: Cid,
    blocks: Vec<u8>,
    ops: Vec<RepoOp>,
}

fn load(seq: &str) -> Capture {
    let path = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/indigo/atproto/repo/testdata"
    ))
    .join(format!("firehose_commit_{seq}.json"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let Ipld::Map(body) = json_to_ipld(&json).unwrap() else {
        panic!()
    };
    let string = |k: &str| match &body[k] {
        Ipld::String(s) => s.clone(),
        _ => panic!(),
    };
    let (Ipld::Link(commit), Ipld::Bytes(blocks), Ipld::List(ops)) =
        (&body["commit"], &body["blocks"], &body["ops"])
    else {
        panic!()
    };
    let ops = ops
        .iter()
        .map(|op| {
            let Ipld::Map(op) = op else { panic!() };
            let (Ipld::String(path), Some(Ipld::Link(cid))) = (&op["path"], op.get("cid")) else {
                panic!()
            };
            RepoOp {
                action: OpAction::Create,
                path: path.clone(),
                cid: Some(*cid),
                prev: None,
            }
        })
        .collect();
    Capture {
        repo: string("repo"),
        rev: string("rev"),
        commit: *commit,
        blocks: blocks.clone(),
        ops,
    }
}

fn recovered_key(c: &Capture) -> PublicKey {
    let car = Car::read(&c.blocks, usize::MAX).unwrap();
    let commit = Commit::decode(car.get(&c.commit).unwrap()).unwrap();
    let hash = Sha256::digest(commit.unsigned_bytes());
    let sig = k256::ecdsa::Signature::from_slice(&commit.sig).unwrap();
    (0..2)
        .filter_map(|id| {
            let recid = k256::ecdsa::RecoveryId::from_byte(id)?;
            let key = k256::ecdsa::VerifyingKey::recover_from_prehash(&hash, &sig, recid).ok()?;
            let key =
                PublicKey::from_sec1(Curve::K256, key.to_encoded_point(true).as_bytes()).ok()?;
            commit.verify_signature(&key).is_ok().then_some(key)
        })
        .next()
        .unwrap()
}

fn firehose(c: &mut Criterion) {
    let limits = ProofLimits::default();
    let mut group = c.benchmark_group("commit_verify_firehose");
    group.throughput(Throughput::Elements(1));
    for seq in ["4623075231", "4621317030", "4621332152"] {
        let capture = load(seq);
        let key = recovered_key(&capture);
        let mut msg = CommitMessage {
            repo: &capture.repo,
            rev: &capture.rev,
            commit: capture.commit,
            blocks: &capture.blocks,
            ops: &capture.ops,
            prev_data: None,
        };
        if seq == "4623075231" {
            // Give it the prevData a sync-1.1 relay would have sent, so inversion runs too.
            let car = Car::read(&capture.blocks, usize::MAX).unwrap();
            let commit = Commit::decode(car.get(&capture.commit).unwrap()).unwrap();
            let mut tree = Tree::load(&car, commit.data).unwrap();
            invert_ops(&mut tree, &capture.ops).unwrap();
            msg.prev_data = Some(tree.root_cid());
        }
        group.bench_function(format!("with_signature/seq_{seq}"), |b| {
            b.iter(|| verify_commit(&msg, &key, &limits).unwrap())
        });
        group.bench_function(format!("proof_only/seq_{seq}"), |b| {
            b.iter(|| verify_commit_proof(&msg, &limits).unwrap())
        });
    }
    group.finish();
}

fn synthetic(c: &mut Criterion) {
    let key = SigningKey::generate_k256();
    let value = |n: u32| cid_for_dag_cbor(&n.to_be_bytes());
    let path = |n: u32| format!("app.bsky.feed.post/3k{n:06}");
    let built =
        Tree::from_entries((0..2000u32).map(|n| (path(n * 2).into_bytes(), value(n)))).unwrap();
    let before = built.root_cid();
    let store: HashMap<Cid, Vec<u8>> = built.blocks().into_iter().collect();
    let mut tree = Tree::load_complete(&store, before).unwrap();
    // A typical small commit: two creates, an update, a delete.
    let ops = vec![
        RepoOp {
            action: OpAction::Create,
            path: path(1001),
            cid: Some(value(9001)),
            prev: None,
        },
        RepoOp {
            action: OpAction::Create,
            path: path(2501),
            cid: Some(value(9002)),
            prev: None,
        },
        RepoOp {
            action: OpAction::Update,
            path: path(600),
            cid: Some(value(9003)),
            prev: Some(value(300)),
        },
        RepoOp {
            action: OpAction::Delete,
            path: path(3000),
            cid: None,
            prev: Some(value(1500)),
        },
    ];
    for op in &ops {
        match op.cid {
            Some(v) => tree.insert(op.path.as_bytes(), v).unwrap(),
            None => tree.remove(op.path.as_bytes()).unwrap(),
        };
    }
    let blocks = proof_blocks(&tree, &ops).unwrap();
    let commit = UnsignedCommit {
        did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz".into(),
        data: tree.root_cid(),
        rev: "3lhhxizu5wr2d".into(),
        prev: None,
    }
    .sign(&key);
    let commit_bytes = commit.to_bytes();
    let car = write_car(
        &[commit.cid()],
        std::iter::once((commit.cid(), commit_bytes.as_slice()))
            .chain(blocks.iter().map(|(c, b)| (*c, b.as_slice()))),
    );
    let msg = CommitMessage {
        repo: "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        rev: "3lhhxizu5wr2d",
        commit: commit.cid(),
        blocks: &car,
        ops: &ops,
        prev_data: Some(before),
    };
    let limits = ProofLimits {
        require_record_blocks: false,
        ..ProofLimits::default()
    };
    let public = key.public_key();
    let mut group = c.benchmark_group("commit_verify_synthetic");
    group.throughput(Throughput::Elements(1));
    group.bench_function("with_signature/4_ops_2000_records", |b| {
        b.iter(|| verify_commit(&msg, &public, &limits).unwrap())
    });
    group.bench_function("proof_only/4_ops_2000_records", |b| {
        b.iter(|| verify_commit_proof(&msg, &limits).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = firehose, synthetic
}
criterion_main!(benches);
