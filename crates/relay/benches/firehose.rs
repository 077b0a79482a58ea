//! The firehose over real loopback websockets and the real router: frame deliveries per second
//! to 100 live consumers, and replay events per second from an old cursor.
//!
//! `cargo bench -p atrelay --bench firehose`. Consumers run in this process (tokio-tungstenite,
//! counting frames without decoding them), so they share the machine's cores with the relay.
//! `ATRELAY_BENCH_FRAME_BYTES` sets the frame size (default 1,024).

#[path = "firehose_support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::{append_events, wait_for_consumers, BenchRelay, Counting};

/// Live consumers in the fan-out benchmark.
const CONSUMERS: usize = 100;
/// Events appended per fan-out iteration.
const BURST: usize = 1_000;
/// Events in the replayed log.
const REPLAY_EVENTS: usize = 100_000;
/// A consumer making no progress for this long means the benchmark is broken.
const STALL: Duration = Duration::from_secs(30);

fn frame_bytes() -> usize {
    std::env::var("ATRELAY_BENCH_FRAME_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Waits until every consumer has at least `goal` frames.
async fn wait_received(consumers: &[Counting], goal: u64) {
    let mut last_progress = Instant::now();
    let mut last_total = 0;
    loop {
        let total: u64 = consumers.iter().map(Counting::received).sum();
        if consumers.iter().all(|c| c.received() >= goal) {
            return;
        }
        if total != last_total {
            last_total = total;
            last_progress = Instant::now();
        }
        assert!(
            last_progress.elapsed() < STALL,
            "consumers stalled at {total} frames (goal {goal} each)"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn fanout(c: &mut Criterion) {
    let rt = runtime();
    let frame = frame_bytes();
    let (relay, consumers) = rt.block_on(async {
        let relay = BenchRelay::start(CONSUMERS + 8).await;
        let mut consumers = Vec::with_capacity(CONSUMERS);
        for _ in 0..CONSUMERS {
            consumers.push(Counting::connect(&relay.url(None)).await);
        }
        wait_for_consumers(&relay, CONSUMERS).await;
        (relay, consumers)
    });
    let mut group = c.benchmark_group("firehose");
    group.sample_size(10);
    group.throughput(Throughput::Elements((CONSUMERS * BURST) as u64));
    let mut delivered = 0u64;
    group.bench_function(
        format!("deliver_{BURST}_events_of_{frame}B_to_{CONSUMERS}_consumers"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        delivered += BURST as u64;
                        let log = relay.log.clone();
                        let start = Instant::now();
                        tokio::task::spawn_blocking(move || append_events(&log, BURST, frame))
                            .await
                            .unwrap();
                        wait_received(&consumers, delivered).await;
                        total += start.elapsed();
                    }
                    total
                })
            })
        },
    );
    group.finish();
    assert_eq!(
        relay.state.consumers.len(),
        CONSUMERS,
        "a consumer was dropped"
    );
    drop(consumers);
    rt.block_on(relay.finish());
}

fn replay(c: &mut Criterion) {
    let rt = runtime();
    let frame = frame_bytes();
    let relay = rt.block_on(BenchRelay::start(8));
    let log = relay.log.clone();
    let last = rt.block_on(async move {
        tokio::task::spawn_blocking(move || append_events(&log, REPLAY_EVENTS, frame))
            .await
            .unwrap()
    });
    assert_eq!(last, REPLAY_EVENTS as i64);
    let mut group = c.benchmark_group("firehose");
    group.sample_size(10);
    group.throughput(Throughput::Elements(REPLAY_EVENTS as u64));
    group.bench_function(
        format!("replay_{REPLAY_EVENTS}_events_of_{frame}B_from_cursor_0"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let consumer = Counting::connect(&relay.url(Some(0))).await;
                        wait_received(std::slice::from_ref(&consumer), REPLAY_EVENTS as u64).await;
                        total += start.elapsed();
                    }
                    total
                })
            })
        },
    );
    group.finish();
    rt.block_on(relay.finish());
}

criterion_group!(benches, fanout, replay);
criterion_main!(benches);
