//! Batched account upserts per second: `Store::apply_batch` with batches of 1,000 accounts on
//! SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set (in a scratch schema).
//!
//! Two cases per backend: `insert` creates 1,000 new accounts per batch, `update` writes a new
//! commit for 1,000 existing accounts (the steady state of ingest), each with a host cursor.

use std::time::{Duration, Instant};

use atrelay_store::{
    testing::ScratchStore, AccountUpdate, HostCursor, HostLimits, HostStatus, NewHost, RepoState,
    Store,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::runtime::Runtime;

const BATCH: u64 = 1_000;
const ACCOUNTS_FOR_UPDATES: u64 = 100_000;

fn batch(host_id: i64, first: u64, round: u64) -> Vec<AccountUpdate> {
    (first..first + BATCH)
        .map(|n| {
            let did = format!("did:plc:bench{:018}", n % (1 << 60));
            AccountUpdate::new(did, host_id).with_repo(RepoState {
                rev: format!("3l{round:011}"),
                commit_cid: format!("bafyreicommit{n:048}"),
                data_cid: format!("bafyreidata{n:050}"),
            })
        })
        .collect()
}

fn bench_backend(c: &mut Criterion, runtime: &Runtime, name: &str, store: &Store) {
    let host_id = runtime
        .block_on(store.create_host(&NewHost {
            hostname: "bench.example.com".to_owned(),
            no_ssl: false,
            trusted: true,
            status: HostStatus::Active,
            limits: HostLimits::with_account_limit(10_000_000),
        }))
        .unwrap()
        .id;
    // Accounts for the update case, created up front.
    for first in (0..ACCOUNTS_FOR_UPDATES).step_by(BATCH as usize) {
        runtime
            .block_on(store.apply_batch(&batch(host_id, first, 0), &[]))
            .unwrap();
    }

    let mut group = c.benchmark_group(format!("apply_batch/{name}"));
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));

    let mut next_new = ACCOUNTS_FOR_UPDATES;
    group.bench_function("insert_1000", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                let updates = batch(host_id, next_new, 1);
                let cursor = [HostCursor {
                    host_id,
                    seq: next_new as i64,
                }];
                next_new += BATCH;
                let start = Instant::now();
                runtime
                    .block_on(store.apply_batch(&updates, &cursor))
                    .unwrap();
                elapsed += start.elapsed();
            }
            elapsed
        })
    });

    let mut round = 1;
    let mut next_existing = 0;
    group.bench_function("update_1000", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let updates = batch(host_id, next_existing, round);
                let cursor = [HostCursor {
                    host_id,
                    seq: round as i64,
                }];
                next_existing = (next_existing + BATCH) % ACCOUNTS_FOR_UPDATES;
                let start = Instant::now();
                runtime
                    .block_on(store.apply_batch(&updates, &cursor))
                    .unwrap();
                elapsed += start.elapsed();
            }
            elapsed
        })
    });
    group.finish();
}

fn apply_batch(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();

    let sqlite = runtime.block_on(ScratchStore::sqlite());
    bench_backend(c, &runtime, "sqlite", &sqlite.store);
    runtime.block_on(sqlite.finish());

    let Some(postgres) = runtime.block_on(ScratchStore::postgres("atrelay_store_bench", 4)) else {
        return;
    };
    bench_backend(c, &runtime, "postgres", &postgres.store);
    runtime.block_on(postgres.finish());
}

criterion_group!(benches, apply_batch);
criterion_main!(benches);
