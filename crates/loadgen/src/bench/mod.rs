//! `atrelay-loadgen bench`: the whole `make bench` report in one run.
//!
//! In order: the signature ceiling of this machine for the load's key mix (both backends);
//! fully verified ingest of the main load on SQLite, then on PostgreSQL when a server is given,
//! each a fresh relay process fed by a separate load process over loopback, with a live
//! consumer measuring the rate; the upstream-to-consumer delay at 80 % of that rate; replay from cursor 0 and
//! the idle relay's CPU and memory (SQLite relay, after its ingest); fan-out to 100 and 1,000
//! consumers; one `atrelay splitter` following that relay, serving its log to 1,000 consumers
//! (deliveries/s, memory per consumer); memory after ingesting a load of distinct accounts (a million at full size).
//! The report is Markdown, written between markers into a file (`docs/performance.md`).

mod consumer;
mod processes;
mod procstat;
mod report;
mod runs;
mod signatures;
mod splitter;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::generate::{generate, LoadSpec};
use crate::load::Manifest;
use processes::RelaySetup;
use report::Report;
use runs::{idle, ingest, replay, IngestRun};

/// Consumers of the splitter step (both sizes: the smoke run's log is tiny).
const SPLITTER_CONSUMERS: usize = 1_000;

/// The share of the flat-out SQLite ingest rate the live-delay run sends at.
const PACED_SHARE: f64 = 0.8;

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Size {
    /// The figures of `docs/performance.md`: 150,000 events, a million accounts (≈ 25 minutes).
    Full,
    /// A tiny run of every step, for CI (≈ 1 minute).
    Smoke,
}

/// The sizes of each step.
struct Sizes {
    main: LoadSpec,
    million: LoadSpec,
    /// Deliveries a fan-out run aims at (events = this / consumers).
    fanout_deliveries: usize,
    /// Events of the live-delay run.
    paced_events: usize,
    signature_time: Duration,
    idle_time: Duration,
}

impl Sizes {
    fn of(size: Size) -> Self {
        let spec = |hosts, accounts, commits, account_events| LoadSpec {
            hosts,
            accounts,
            commits_per_account: commits,
            account_events,
            p256_share: 0.09,
            record_len: 64,
            seed: 7,
        };
        match size {
            Size::Full => Sizes {
                main: spec(8, 5_000, 27, true),
                million: spec(8, 1_000_000, 0, false),
                fanout_deliveries: 4_000_000,
                paced_events: 60_000,
                signature_time: Duration::from_secs(3),
                idle_time: Duration::from_secs(10),
            },
            Size::Smoke => Sizes {
                main: spec(2, 20, 4, true),
                million: spec(2, 500, 0, false),
                fanout_deliveries: 20_000,
                paced_events: 60,
                signature_time: Duration::from_millis(200),
                idle_time: Duration::from_secs(1),
            },
        }
    }
}

/// What `bench` is told.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The `atrelay` binary under test (a release build).
    pub relay_binary: PathBuf,
    /// Scratch space: loads, relay data, logs.
    pub work_dir: PathBuf,
    /// Full or smoke.
    pub size: Size,
    /// A PostgreSQL server (`postgres://user@host:port/db`) for the PostgreSQL ingest run; a
    /// database `atrelay_bench` is created there afresh.
    pub postgres_url: Option<String>,
    /// The Markdown file the report goes into (between its markers, or appended).
    pub report: PathBuf,
    /// Record a `perf` profile of the SQLite ingest into the work directory.
    pub perf: bool,
}

/// Runs every step and writes the report.
///
/// # Errors
/// Any step that fails: a process that does not start, a stalled consumer, an I/O error.
pub async fn run(options: &BenchOptions) -> Result<()> {
    let sizes = Sizes::of(options.size);
    let mut report = Report::new(options.size);
    std::fs::create_dir_all(&options.work_dir)?;

    eprintln!("bench: signature ceiling");
    report.ceiling = Some(signatures::ceiling(
        sizes.main.p256_share,
        sizes.signature_time,
    ));

    let main_dir = options.work_dir.join("load-main");
    report.main_load = Some(ensure_load(&sizes.main, &main_dir)?);
    let relay = |name: &str, db_url: String| RelaySetup {
        binary: options.relay_binary.clone(),
        db_url,
        work_dir: options.work_dir.join(name),
        plc_host: String::new(),
    };

    eprintln!("bench: ingest on SQLite");
    let perf_output = options.work_dir.join("perf.data");
    let sqlite = ingest(IngestRun {
        load_dir: &main_dir,
        limit: None,
        rate: None,
        relay: relay("sqlite", fresh_sqlite(&options.work_dir, "sqlite")?),
        extra_consumers: 0,
        perf_output: options.perf.then_some(perf_output.as_path()),
    })
    .await?;
    if options.perf {
        report.perf_data = Some(perf_output.clone());
    }
    eprintln!("bench: replay from cursor 0");
    report.replay_per_sec = Some(replay(&sqlite.relay, sqlite.figures.events).await?);
    eprintln!("bench: splitter fan-out to {SPLITTER_CONSUMERS} consumers");
    report.splitter = Some(
        splitter::fan_out(
            &options.relay_binary,
            &sqlite.relay,
            &options.work_dir.join("splitter"),
            sqlite.figures.events,
            SPLITTER_CONSUMERS,
        )
        .await?,
    );
    eprintln!("bench: idle");
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.idle = Some(idle(&sqlite.relay, sizes.idle_time).await?);
    report
        .ingest
        .push(("SQLite".to_owned(), sqlite.figures.clone()));
    let sqlite_rate = sqlite.figures.events_per_sec();
    drop(sqlite);

    // Flat out, frames wait in socket buffers before the relay reads them, so their delay
    // measures that queue, not the relay. Live delay is measured at a rate the relay sustains.
    let paced_rate = (sqlite_rate * PACED_SHARE).max(1.0);
    eprintln!("bench: live delay at {paced_rate:.0} events/s");
    let paced = ingest(IngestRun {
        load_dir: &main_dir,
        limit: Some(sizes.paced_events / sizes.main.hosts),
        rate: Some(paced_rate),
        relay: relay("paced", fresh_sqlite(&options.work_dir, "paced")?),
        extra_consumers: 0,
        perf_output: None,
    })
    .await?;
    report.paced = Some((paced_rate, paced.figures.clone()));
    drop(paced);

    match &options.postgres_url {
        Some(url) => {
            eprintln!("bench: ingest on PostgreSQL");
            let db_url = fresh_postgres(url)?;
            let postgres = ingest(IngestRun {
                load_dir: &main_dir,
                limit: None,
                rate: None,
                relay: relay("postgres", db_url),
                extra_consumers: 0,
                perf_output: None,
            })
            .await?;
            report
                .ingest
                .push(("PostgreSQL".to_owned(), postgres.figures.clone()));
        }
        None => report
            .notes
            .push("PostgreSQL not measured: no server given (`--postgres-url`).".to_owned()),
    }

    for consumers in [100, 1_000] {
        eprintln!("bench: fan-out to {consumers} consumers");
        let total = (sizes.fanout_deliveries / consumers).max(sizes.main.hosts);
        let fanout = ingest(IngestRun {
            load_dir: &main_dir,
            limit: Some(total / sizes.main.hosts),
            rate: None,
            relay: relay(
                &format!("fanout-{consumers}"),
                fresh_sqlite(&options.work_dir, &format!("fanout-{consumers}"))?,
            ),
            extra_consumers: consumers - 1,
            perf_output: None,
        })
        .await?;
        report.fanout.push(fanout.figures.clone());
    }

    eprintln!("bench: {} distinct accounts", sizes.million.accounts);
    let million_dir = options
        .work_dir
        .join(format!("load-accounts-{}", sizes.million.accounts));
    report.million_load = Some(ensure_load(&sizes.million, &million_dir)?);
    let million = ingest(IngestRun {
        load_dir: &million_dir,
        limit: None,
        rate: None,
        relay: relay("accounts", fresh_sqlite(&options.work_dir, "accounts")?),
        extra_consumers: 0,
        perf_output: None,
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, memory) = idle(&million.relay, Duration::from_secs(1)).await?;
    report.million = Some((million.figures.clone(), memory));
    drop(million);

    report.write_into(&options.report)?;
    eprintln!("bench: report written to {}", options.report.display());
    Ok(())
}

/// The load in `dir`, generated unless a load of exactly `spec` is already there.
fn ensure_load(spec: &LoadSpec, dir: &Path) -> Result<Manifest> {
    if let Ok(manifest) = Manifest::read(dir) {
        let same = manifest.hosts == spec.hosts
            && manifest.accounts == spec.accounts
            && manifest.commits_per_account == spec.commits_per_account
            && manifest.account_events == spec.account_events
            && manifest.p256_share == spec.p256_share
            && manifest.seed == spec.seed;
        if same {
            eprintln!("bench: reusing the load in {}", dir.display());
            return Ok(manifest);
        }
    }
    eprintln!(
        "bench: generating {} events into {}",
        spec.events(),
        dir.display()
    );
    generate(spec, dir)
}

/// The SQLite URL of the relay whose scratch directory is `work_dir/name` (the relay
/// creates the file; [`processes::Relay::start`] empties the directory first).
fn fresh_sqlite(work_dir: &Path, name: &str) -> Result<String> {
    let path = std::path::absolute(work_dir.join(name).join("relay.sqlite"))?;
    Ok(format!("sqlite://{}", path.display()))
}

/// Creates database `atrelay_bench` afresh on the server of `url` (with `psql`) and returns
/// its URL.
fn fresh_postgres(url: &str) -> Result<String> {
    for statement in [
        "DROP DATABASE IF EXISTS atrelay_bench WITH (FORCE)",
        "CREATE DATABASE atrelay_bench",
    ] {
        let status = std::process::Command::new("psql")
            .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement])
            .status()
            .context("running psql")?;
        anyhow::ensure!(status.success(), "psql failed: {statement}");
    }
    let (server, _) = url
        .rsplit_once('/')
        .context("a PostgreSQL URL ends in /<database>")?;
    Ok(format!("{server}/atrelay_bench"))
}
