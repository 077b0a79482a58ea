//! `atrelay-loadgen`: generate a load, serve it, or run the `make bench` report.

use std::path::PathBuf;

use anyhow::Result;
use atrelay_loadgen::bench::{self, BenchOptions, Size};
use atrelay_loadgen::generate::{generate, LoadSpec};
use atrelay_loadgen::serve::serve;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "atrelay-loadgen",
    about = "Out-of-process load for atrelay, and `make bench`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pre-generate accounts and signed sync-1.1 events into a directory.
    Generate {
        /// Where the load goes.
        #[arg(long)]
        out: PathBuf,
        /// PDS hosts.
        #[arg(long, default_value_t = 8)]
        hosts: usize,
        /// Accounts over all hosts.
        #[arg(long, default_value_t = 5_000)]
        accounts: usize,
        /// Commits per account after its first.
        #[arg(long, default_value_t = 27)]
        commits_per_account: usize,
        /// Leave out each account's `#identity` and `#account` events.
        #[arg(long)]
        no_account_events: bool,
        /// Share of accounts with p256 keys.
        #[arg(long, default_value_t = 0.09)]
        p256_share: f64,
        /// Length of each record's random text.
        #[arg(long, default_value_t = 64)]
        record_len: usize,
        /// Seed of the random choices.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Serve a generated load as PDS hosts and a DID directory on 127.0.0.1; prints the
    /// endpoints as one JSON line, then serves until killed.
    Serve {
        /// The load directory.
        #[arg(long)]
        load: PathBuf,
        /// Events per second over all hosts (default: as fast as the subscriber reads).
        #[arg(long)]
        rate: Option<f64>,
        /// Most events each host sends.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Run the benchmark report against a relay binary.
    Bench {
        /// The `atrelay` binary (a release build).
        #[arg(long, default_value = "target/release/atrelay")]
        relay: PathBuf,
        /// Scratch directory.
        #[arg(long, default_value = "target/bench")]
        work_dir: PathBuf,
        /// Full or smoke.
        #[arg(long, value_enum, default_value_t = Size::Full)]
        size: Size,
        /// PostgreSQL server for the PostgreSQL run (a database `atrelay_bench` is made there).
        #[arg(long, env = "TEST_DATABASE_URL")]
        postgres_url: Option<String>,
        /// The Markdown file the report is written into.
        #[arg(long, default_value = "docs/performance.md")]
        report: PathBuf,
        /// Record a `perf` profile of the SQLite ingest.
        #[arg(long)]
        perf: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate {
            out,
            hosts,
            accounts,
            commits_per_account,
            no_account_events,
            p256_share,
            record_len,
            seed,
        } => {
            let spec = LoadSpec {
                hosts,
                accounts,
                commits_per_account,
                account_events: !no_account_events,
                p256_share,
                record_len,
                seed,
            };
            let manifest = generate(&spec, &out)?;
            eprintln!(
                "generated {} events for {accounts} accounts on {hosts} hosts in {:.1} s",
                manifest.total_events(),
                manifest.generated_in_secs
            );
            Ok(())
        }
        Command::Serve { load, rate, limit } => {
            // One thread: the load must not take the relay's second core.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let running = serve(&load, rate, limit).await?;
                println!("{}", serde_json::to_string(&running.endpoints)?);
                running.wait().await;
                Ok(())
            })
        }
        Command::Bench {
            relay,
            work_dir,
            size,
            postgres_url,
            report,
            perf,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(bench::run(&BenchOptions {
                relay_binary: relay,
                work_dir,
                size,
                postgres_url: postgres_url.filter(|url| !url.is_empty()),
                report,
                perf,
            }))
        }
    }
}
