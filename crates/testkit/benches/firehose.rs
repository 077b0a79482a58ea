//! How fast a fake PDS produces events (load generator: random commits encoded as frames and
//! appended to the log) and serves them (replay of the log to a WebSocket client).

use std::time::{Duration, Instant};

use atrelay_testkit::load::{create_accounts, run, LoadConfig};
use atrelay_testkit::{FakeDirectory, FakePds};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::StreamExt;

fn firehose(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (pds, targets) = rt.block_on(async {
        let directory = FakeDirectory::start().await.unwrap();
        let pds = FakePds::start(&directory).await.unwrap();
        let targets = create_accounts(&pds, 10).unwrap();
        (pds, targets)
    });
    let mut group = c.benchmark_group("fake_pds");
    let config = LoadConfig {
        commits_per_account: 10,
        writes_per_commit: 2,
        record_len: 64,
        rate_per_sec: None,
        seed: 4,
    };
    group.throughput(Throughput::Elements(100));
    group.bench_function("generate_100_commits", |b| {
        b.iter(|| rt.block_on(run(&targets, &config)).unwrap())
    });

    // Replay a fixed backlog of 2,000 events from cursor 0.
    let n_events = 2_000;
    let url = pds.firehose_url();
    let available = pds.events().len();
    assert!(
        available >= n_events,
        "the generation bench left {available} events"
    );
    group.throughput(Throughput::Elements(n_events as u64));
    group.bench_function("replay_2000_frames", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}?cursor=0"))
                        .await
                        .unwrap();
                    let mut n = 0;
                    while n < n_events {
                        match ws.next().await {
                            Some(Ok(m)) if m.is_binary() => n += 1,
                            Some(Ok(_)) => {}
                            _ => panic!("stream ended after {n} frames"),
                        }
                    }
                    total += start.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, firehose);
criterion_main!(benches);
