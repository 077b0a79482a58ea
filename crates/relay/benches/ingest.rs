//! Ingest throughput: a fake PDS holding a backlog made by the testkit load generator (real
//! k256/p256 signatures, real MSTs and sync-1.1 proofs) → one relay ingest subscription over a
//! loopback websocket → verification → event log (and the store, SQLite or PostgreSQL).
//!
//! Prints events/s until every event is in the log and until the host cursor is stored, once
//! with the verification window of 1 (every event verified after the previous one) and once
//! with the default window (different DIDs verified in parallel).
//!
//! `cargo bench -p atrelay --bench ingest`; `ATRELAY_BENCH_ACCOUNTS` (default 200) and
//! `ATRELAY_BENCH_COMMITS` (commits per account, default 10) size the backlog;
//! `TEST_DATABASE_URL` switches the store to PostgreSQL (a scratch schema).

use std::time::{Duration, Instant};

use atrelay::engine::ingest::{http_resolver, Ingest, IngestConfig, RatePolicy};
use atrelay_eventlog::{Durability, EventLog};
use atrelay_store::testing::{ScratchStore, DATABASE_URL_ENV};
use atrelay_store::{HostLimits, HostStatus, NewHost};
use atrelay_testkit::load::{create_accounts, run, LoadConfig};
use atrelay_testkit::{FakeDirectory, FakePds};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A store on a scratch PostgreSQL schema when `TEST_DATABASE_URL` is set, else on a scratch
/// SQLite file.
async fn scratch_store() -> ScratchStore {
    if std::env::var(DATABASE_URL_ENV).is_ok() {
        ScratchStore::postgres("atrelay_ingest_bench", 8)
            .await
            .expect("TEST_DATABASE_URL is set")
    } else {
        ScratchStore::sqlite().await
    }
}

struct Figures {
    events: i64,
    in_log: Duration,
    cursor_stored: Duration,
    peak_in_flight: u64,
}

async fn ingest_once(directory: &FakeDirectory, pds: &FakePds, window: usize) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let db = scratch_store().await;
    let store = db.store.clone();
    let mut log_config = atrelay_eventlog::Config::new(dir.path().join("events"));
    log_config.durability = Durability::OsBuffered;
    let log = EventLog::open(log_config).unwrap();
    let config = IngestConfig {
        allow_insecure_hosts: true,
        verify_window: window,
        rate_policy: RatePolicy {
            trusted_per_second: u64::MAX / 4,
            ..RatePolicy::default()
        },
        ..IngestConfig::default()
    };
    let resolver = http_resolver(&directory.url(), true).unwrap();
    let ingest = Ingest::new(store.clone(), log.clone(), resolver, config);
    let host = store
        .create_host(&NewHost {
            hostname: pds.hostname().to_owned(),
            no_ssl: true,
            trusted: true,
            status: HostStatus::Active,
            limits: HostLimits::with_account_limit(10_000_000),
        })
        .await
        .unwrap();
    let events = pds.head_seq();
    let started = Instant::now();
    ingest.subscribe(host.clone());
    while log.newest_seq() < events {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let in_log = started.elapsed();
    loop {
        let stored = store.host(host.id).await.unwrap().unwrap();
        if stored.last_seq == Some(events) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cursor_stored = started.elapsed();
    let peak_in_flight = ingest
        .counters()
        .peak_verifications_in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    let dropped: u64 = ingest.counters().snapshot().iter().map(|(_, n)| n).sum();
    assert_eq!(dropped, 0, "{:?}", ingest.counters().snapshot());
    ingest.shutdown().await;
    log.close().unwrap();
    db.finish().await;
    Figures {
        events,
        in_log,
        cursor_stored,
        peak_in_flight,
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries with no `--bench` flag: nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let accounts = env_usize("ATRELAY_BENCH_ACCOUNTS", 200);
    let commits = env_usize("ATRELAY_BENCH_COMMITS", 10);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let directory = FakeDirectory::start().await.unwrap();
        let pds = FakePds::start(&directory).await.unwrap();
        let targets = create_accounts(&pds, accounts).unwrap();
        let report = run(
            &targets,
            &LoadConfig {
                commits_per_account: commits,
                writes_per_commit: 2,
                record_len: 64,
                rate_per_sec: None,
                seed: 7,
            },
        )
        .await
        .unwrap();
        let backend = if std::env::var("TEST_DATABASE_URL").is_ok() {
            "postgres"
        } else {
            "sqlite"
        };
        println!(
            "backlog: {accounts} accounts, {} commits ({} writes, {} KiB of blocks), {} events; \
             {threads} runtime threads; store {backend}",
            report.commits,
            report.writes,
            report.block_bytes / 1024,
            pds.head_seq()
        );
        for window in [1, IngestConfig::default().verify_window] {
            let f = ingest_once(&directory, &pds, window).await;
            let per_sec = |d: Duration| f.events as f64 / d.as_secs_f64();
            println!(
                "verify window {window:>3}: {} events in the log in {:.2?} ({:.0} events/s), \
                 cursor stored after {:.2?} ({:.0} events/s); peak {} in flight",
                f.events,
                f.in_log,
                per_sec(f.in_log),
                f.cursor_stored,
                per_sec(f.cursor_stored),
                f.peak_in_flight
            );
        }
    });
}
