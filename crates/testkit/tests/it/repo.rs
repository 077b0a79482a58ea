//! Every commit a FakeRepo makes must pass the sync-1.1 proof and signature checks.

use atrelay_repo::car::Car;
use atrelay_repo::commit::Commit;
use atrelay_repo::crypto::SigningKey;
use atrelay_repo::mst::Tree;
use atrelay_repo::proof::{verify_commit, verify_sync, CommitMessage, ProofLimits};
use atrelay_testkit::{random_record, CommitData, FakeRepo, RecordPath, TestkitError, Write};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn verify(commit: &CommitData, repo: &FakeRepo) {
    let msg = CommitMessage {
        repo: &commit.did,
        rev: &commit.rev,
        commit: commit.cid,
        blocks: &commit.blocks,
        ops: &commit.ops,
        prev_data: commit.prev_data,
    };
    let verified = verify_commit(
        &msg,
        &repo.signing_key().public_key(),
        &ProofLimits::default(),
    )
    .unwrap_or_else(|e| panic!("commit {} rejected: {e}", commit.rev));
    assert_eq!(verified.data, commit.data);
    assert_eq!(verified.prev_data, commit.prev_data);
}

/// A random batch of 1..=max writes over distinct paths, using a small key space so that
/// updates and deletes are frequent and keys collide with old ones.
fn random_batch(rng: &mut StdRng, repo: &FakeRepo, max: usize, key_space: u32) -> Vec<Write> {
    let n = rng.gen_range(1..=max);
    let mut used = std::collections::HashSet::new();
    let mut writes = Vec::new();
    for _ in 0..n {
        let rkey = format!("k{}", rng.gen_range(0..key_space));
        let collection =
            ["app.bsky.feed.post", "app.bsky.feed.like", "com.example.x"][rng.gen_range(0..3)];
        let path = RecordPath::new(collection, &rkey).unwrap();
        if !used.insert(path.clone()) {
            continue;
        }
        let exists = repo.records().contains_key(&path.to_string());
        let len = rng.gen_range(0..40);
        let value = random_record(rng, collection, len);
        writes.push(match (exists, rng.gen_bool(0.5)) {
            (false, _) => Write::Create { path, value },
            (true, true) => Write::Update { path, value },
            (true, false) => Write::Delete { path },
        });
    }
    writes
}

#[test]
fn thousands_of_random_commits_all_verify() {
    let mut rng = StdRng::seed_from_u64(7);
    for (round, key) in [SigningKey::generate_k256(), SigningKey::generate_p256()]
        .into_iter()
        .enumerate()
    {
        let (mut repo, first) = FakeRepo::new("did:plc:abcdefghijklmnopqrstuvwx", key);
        verify(&first, &repo);
        let mut last_rev = first.rev.clone();
        let mut last_data = first.data;
        let n_commits = if round == 0 { 1500 } else { 500 };
        for i in 0..n_commits {
            let max = if i % 50 == 0 { 60 } else { 4 };
            let writes = random_batch(&mut rng, &repo, max, 400);
            let commit = repo.apply(writes).unwrap();
            verify(&commit, &repo);
            assert!(commit.rev > last_rev, "revs increase");
            assert_eq!(commit.since.as_deref(), Some(last_rev.as_str()));
            assert_eq!(commit.prev_data, Some(last_data));
            last_rev = commit.rev.clone();
            last_data = commit.data;
        }
        // A commit without changes (as after a key rotation) verifies too.
        let empty = repo.empty_commit().unwrap();
        verify(&empty, &repo);
        assert!(empty.ops.is_empty());
        assert_eq!(empty.prev_data, Some(empty.data));
        // The full export holds the whole tree and every record.
        let car_bytes = repo.export_car().unwrap();
        let car = Car::read(&car_bytes, usize::MAX).unwrap();
        assert_eq!(car.root(), repo.head_cid());
        let commit = Commit::decode(car.get(&repo.head_cid()).unwrap()).unwrap();
        let tree = Tree::load_complete(&car, commit.data).unwrap();
        let entries = tree.entries().unwrap();
        assert_eq!(entries.len(), repo.record_count());
        for (key, cid) in entries {
            assert!(car.get(&cid).is_some());
            assert_eq!(
                repo.records().get(std::str::from_utf8(&key).unwrap()),
                Some(&cid)
            );
        }
        // The #sync CAR holds just the commit, and verifies.
        let sync = repo.sync_car();
        verify_sync(
            repo.did(),
            repo.rev(),
            &sync,
            &repo.signing_key().public_key(),
            &ProofLimits::default(),
        )
        .unwrap();
        assert_eq!(Car::read(&sync, usize::MAX).unwrap().len(), 1);
    }
}

#[test]
fn diffs_replay_into_the_same_tree() {
    // A consumer that applies each commit's new blocks to its copy ends with the full repo.
    let mut rng = StdRng::seed_from_u64(11);
    let (mut repo, first) = FakeRepo::new(
        "did:plc:abcdefghijklmnopqrstuvwx",
        SigningKey::generate_k256(),
    );
    let mut blocks: std::collections::HashMap<atrelay_repo::cid::Cid, Vec<u8>> = Default::default();
    let absorb = |blocks: &mut std::collections::HashMap<_, _>, c: &CommitData| {
        let car = Car::read(&c.blocks, usize::MAX).unwrap();
        for b in car.blocks() {
            blocks.insert(b.cid, b.data.to_vec());
        }
    };
    absorb(&mut blocks, &first);
    for _ in 0..300 {
        let writes = random_batch(&mut rng, &repo, 5, 100);
        let c = repo.apply(writes).unwrap();
        absorb(&mut blocks, &c);
        let tree = Tree::load_complete(&blocks, c.data).unwrap();
        assert_eq!(tree.entries().unwrap().len(), repo.record_count());
    }
}

#[test]
fn large_repo_keeps_verifying_and_replaying_across_tree_reloads() {
    // Thousands of records make the MST large enough that the repository reloads its tree
    // (clearing fresh marks) several times; diffs must stay exact across those reloads.
    let mut rng = StdRng::seed_from_u64(13);
    let (mut repo, first) = FakeRepo::new(
        "did:plc:abcdefghijklmnopqrstuvwx",
        SigningKey::generate_p256(),
    );
    let mut blocks: std::collections::HashMap<atrelay_repo::cid::Cid, Vec<u8>> = Default::default();
    let absorb = |blocks: &mut std::collections::HashMap<_, _>, c: &CommitData| {
        for b in Car::read(&c.blocks, usize::MAX).unwrap().blocks() {
            blocks.insert(b.cid, b.data.to_vec());
        }
    };
    absorb(&mut blocks, &first);
    for batch in 0..20 {
        let writes = (0..200)
            .map(|i| Write::Create {
                path: RecordPath::new("app.bsky.feed.post", &format!("p{}", batch * 200 + i))
                    .unwrap(),
                value: random_record(&mut rng, "app.bsky.feed.post", 8),
            })
            .collect();
        let c = repo.apply(writes).unwrap();
        verify(&c, &repo);
        absorb(&mut blocks, &c);
    }
    for _ in 0..600 {
        let writes = random_batch(&mut rng, &repo, 3, 4000);
        let c = repo.apply(writes).unwrap();
        verify(&c, &repo);
        absorb(&mut blocks, &c);
    }
    let tree = Tree::load_complete(&blocks, repo.data()).unwrap();
    assert_eq!(tree.entries().unwrap().len(), repo.record_count());
}

#[test]
fn bad_writes_are_refused_and_leave_the_repo_unchanged() {
    let (mut repo, _) = FakeRepo::new(
        "did:plc:abcdefghijklmnopqrstuvwx",
        SigningKey::generate_p256(),
    );
    let path = RecordPath::parse("app.bsky.feed.post/one").unwrap();
    let value = atrelay_testkit::sample_record("app.bsky.feed.post", "hi");
    repo.create(path.clone(), value.clone()).unwrap();
    let head = repo.head_cid();
    assert!(matches!(
        repo.create(path.clone(), value.clone()),
        Err(TestkitError::RecordExists { .. })
    ));
    let missing = RecordPath::parse("app.bsky.feed.post/two").unwrap();
    assert!(matches!(
        repo.delete(missing.clone()),
        Err(TestkitError::RecordMissing { .. })
    ));
    assert!(matches!(
        repo.apply(vec![
            Write::Update {
                path: path.clone(),
                value: value.clone()
            },
            Write::Delete { path: path.clone() },
        ]),
        Err(TestkitError::DuplicatePath { .. })
    ));
    assert!(matches!(
        RecordPath::parse("not a path"),
        Err(TestkitError::InvalidPath { .. })
    ));
    assert_eq!(repo.head_cid(), head);
    assert_eq!(repo.get_record(&path), Some(value));
    assert_eq!(repo.collections(), vec!["app.bsky.feed.post".to_string()]);
}
