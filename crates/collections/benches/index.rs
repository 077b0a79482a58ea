//! Collection index benchmarks: `listReposByCollection` page latency on a large index, and
//! index update throughput.
//!
//! The large index is built once (by live-style commits) under the cargo target directory
//! and reused: `ATRELAY_BENCH_PAIRS` sets its size in (collection, DID) pairs (default
//! 10,000,000). Besides criterion's figures, the bench prints p50/p99/max of 5,000 page
//! reads at random cursors and the pairs/s of the build.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use atrelay_collections::{CollectionIndex, Op, OpAction};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// Collections per account in the built index, most popular first.
const COLLECTIONS: [&str; 10] = [
    "app.bsky.feed.post",
    "app.bsky.feed.like",
    "app.bsky.graph.follow",
    "app.bsky.actor.profile",
    "app.bsky.feed.repost",
    "app.bsky.graph.block",
    "app.bsky.graph.list",
    "app.bsky.feed.generator",
    "io.atcr.hold.captain",
    "com.whtwnd.blog.entry",
];

/// A deterministic pseudo-random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A did:plc-shaped DID for account `i` (spread over the key space like real ones).
fn did(i: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i;
    let mut s = String::from("did:plc:");
    for _ in 0..24 {
        s.push(char::from(ALPHABET[(x % 32) as usize]));
        x = x.rotate_right(5) ^ i;
    }
    s
}

/// Rev number `n` as a TID.
fn tid(n: u64) -> String {
    const S32: &[u8] = b"234567abcdefghijklmnopqrstuvwxyz";
    let v = (1_700_000_000_000_000u64 + n) << 10;
    let mut out = [0u8; 13];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 60 - 5 * i as u32;
        *slot = S32[((v >> shift) & 31) as usize];
    }
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// Builds (or reuses) an index with at least `pairs` pairs: account `i` has records in the
/// first `1 + i % 10` collections (5.5 on average), one genesis commit per account.
fn build(pairs: u64) -> (PathBuf, CollectionIndex, u64) {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let dir = PathBuf::from(target).join(format!("bench-collections-{pairs}"));
    let marker = dir.join("complete");
    // Accounts have 1..=10 collections (mean 5.5), like a popular-first distribution.
    let per = |i: u64| 1 + (i % 10);
    let mut accounts = 0u64;
    let mut total = 0u64;
    while total < pairs {
        total += per(accounts);
        accounts += 1;
    }
    if marker.exists() {
        let index = CollectionIndex::open(&dir).expect("open");
        return (dir, index, accounts);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let index = CollectionIndex::open(&dir).expect("open");
    let start = Instant::now();
    for i in 0..accounts {
        let ops: Vec<Op> = COLLECTIONS
            .iter()
            .take(per(i) as usize)
            .map(|c| Op::new(OpAction::Create, format!("{c}/3kabcdefghij2")))
            .collect();
        index
            .apply_commit(&did(i), &tid(i), None, &ops)
            .expect("apply");
    }
    index.persist().expect("persist");
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "built index: {accounts} accounts, {total} pairs in {secs:.1} s = {:.0} pairs/s, {:.0} commits/s",
        total as f64 / secs,
        accounts as f64 / secs
    );
    std::fs::write(&marker, b"").expect("marker");
    (dir, index, accounts)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn bench_listing(c: &mut Criterion) {
    let pairs: u64 = std::env::var("ATRELAY_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let (_dir, index, accounts) = build(pairs);
    let counts = index.collections();
    eprintln!("collections: {counts:?}");
    let collection = COLLECTIONS[0];
    let mut rng = Rng(0x1234_5678);

    // Latency distribution of 5,000 pages of 500 at random cursors.
    let mut samples = Vec::with_capacity(5_000);
    for _ in 0..5_000 {
        let cursor = did(rng.next() % accounts);
        let t = Instant::now();
        let page = index
            .list_repos(collection, Some(&cursor), 500)
            .expect("page");
        samples.push(t.elapsed());
        assert!(!page.dids.is_empty() || page.cursor.is_none());
    }
    samples.sort();
    eprintln!(
        "page of 500 from {collection} ({} DIDs, {pairs} pairs): p50 {:?} p99 {:?} max {:?}",
        counts
            .iter()
            .find(|(c, _)| c == collection)
            .map_or(0, |(_, n)| *n),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );

    let mut group = c.benchmark_group("list_repos");
    group.bench_function("page_500_random_cursor", |b| {
        b.iter_batched(
            || did(rng.next() % accounts),
            |cursor| {
                index
                    .list_repos(collection, Some(&cursor), 500)
                    .expect("page")
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("page_500_rare_collection", |b| {
        b.iter(|| index.list_repos(COLLECTIONS[9], None, 500).expect("page"))
    });
    group.finish();
}

fn bench_updates(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = CollectionIndex::open(dir.path()).expect("open");
    // Seed 100,000 accounts (genesis commits) so later commits hit exact counts.
    let mut n = 0u64;
    for i in 0..100_000u64 {
        n += 1;
        let op = Op::new(OpAction::Create, "app.bsky.feed.like/3kabcdefghij1");
        index
            .apply_commit(&did(i), &tid(n), None, &[op])
            .expect("seed");
    }
    let mut group = c.benchmark_group("apply_commit");
    // A create in an account's existing collection: read pair, write pair and meta.
    group.bench_function("create_existing_pair", |b| {
        b.iter(|| {
            n += 1;
            let op = Op::new(OpAction::Create, "app.bsky.feed.like/3kabcdefghij2");
            index
                .apply_commit(&did(n % 100_000), &tid(n), Some("2222222222222"), &[op])
                .expect("apply")
        })
    });
    // A create that adds a new (collection, DID) pair: also a listing key and a count.
    group.bench_function("create_new_pair", |b| {
        b.iter(|| {
            n += 1;
            let op = Op::new(OpAction::Create, "io.atcr.hold.captain/3kabcdefghij2");
            index
                .apply_commit(&did(1_000_000 + n), &tid(n), None, &[op])
                .expect("apply")
        })
    });
    // A typical small commit: 3 ops in 2 collections.
    group.bench_function("commit_3_ops", |b| {
        b.iter(|| {
            n += 1;
            let ops = [
                Op::new(OpAction::Create, "app.bsky.feed.post/3kabcdefghij2"),
                Op::new(OpAction::Create, "app.bsky.feed.like/3kabcdefghij3"),
                Op::new(OpAction::Delete, "app.bsky.feed.like/3kabcdefghij3"),
            ];
            index
                .apply_commit(&did(n % 100_000), &tid(n), Some("2222222222222"), &ops)
                .expect("apply")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench_updates, bench_listing
}
criterion_main!(benches);
