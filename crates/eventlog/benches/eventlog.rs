//! Event log benchmarks: append throughput under a durability policy, replay throughput
//! from an old cursor, and seek time to a random cursor in a log of a million events.

use std::hint::black_box;
use std::time::Duration;

use atrelay_eventlog::{Config, Durability, EventLog, Ticket};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Events per append iteration.
const APPEND_BATCH: usize = 10_000;
/// Events in the log that replay and seek run against.
const BIG_LOG_EVENTS: usize = 1_000_000;
/// Body size of the big log's events.
const BIG_LOG_BODY: usize = 512;
/// Events read per replay iteration.
const REPLAY_EVENTS: usize = 100_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Appends `n` events of `len` bytes without waiting, returning the last ticket.
fn append_burst(log: &EventLog, n: usize, len: usize) -> Ticket {
    let body = Bytes::from(vec![0x5a; len]);
    let mut last = None;
    for _ in 0..n {
        last = Some(
            log.append("did:plc:ewvi7nxzyoun6zhxrhs64oiz", 1, |_| body.clone())
                .unwrap(),
        );
    }
    last.unwrap()
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append_1KiB");
    group.throughput(Throughput::Elements(APPEND_BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    let policies = [
        ("default_5ms_or_1000", Durability::default()),
        (
            "fsync_each_batch",
            Durability::Fsync {
                max_delay: Duration::ZERO,
                max_events: usize::MAX,
            },
        ),
        ("os_buffered", Durability::OsBuffered),
    ];
    for (name, durability) in policies {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path());
        config.durability = durability;
        // Keep the disk bounded across iterations.
        config.retention_bytes = 512 << 20;
        let log = EventLog::open(config).unwrap();
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| append_burst(&log, APPEND_BATCH, 1024).wait().unwrap());
        });
        log.close().unwrap();
    }
    group.finish();
}

/// Opens a log of [`BIG_LOG_EVENTS`] events (writing it first).
fn big_log(dir: &std::path::Path) -> EventLog {
    let mut config = Config::new(dir);
    config.durability = Durability::OsBuffered;
    let log = EventLog::open(config).unwrap();
    for _ in 0..BIG_LOG_EVENTS / 10_000 {
        append_burst(&log, 10_000, BIG_LOG_BODY).wait().unwrap();
    }
    log.flush().unwrap();
    log
}

fn replay_and_seek(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = big_log(dir.path());
    let rt = runtime();
    let newest = log.newest_seq();

    let mut group = c.benchmark_group("replay_512B");
    group.throughput(Throughput::Elements(REPLAY_EVENTS as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("from_old_cursor", |b| {
        let mut rng = fastrand::Rng::with_seed(7);
        b.iter(|| {
            let cursor = rng.i64(0..newest - REPLAY_EVENTS as i64);
            rt.block_on(async {
                let mut reader = log.reader(Some(cursor)).unwrap();
                for _ in 0..REPLAY_EVENTS {
                    black_box(reader.next().await.unwrap());
                }
            });
        });
    });
    group.finish();

    let mut group = c.benchmark_group("seek");
    group.bench_function("random_cursor_in_1M_events", |b| {
        let mut rng = fastrand::Rng::with_seed(11);
        b.iter(|| {
            let cursor = rng.i64(0..newest);
            rt.block_on(async {
                let mut reader = log.reader(Some(cursor)).unwrap();
                let event = reader.next().await.unwrap();
                assert_eq!(event.seq(), cursor + 1);
            });
        });
    });
    group.finish();
    log.close().unwrap();
}

criterion_group!(benches, append, replay_and_seek);
criterion_main!(benches);
