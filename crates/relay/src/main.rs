//! `atrelay`: the relay binary. Parses the command line and hands off to the library crate
//! ([`atrelay::app::Relay`] for `serve`).

use atrelay::{
    app::{open_store, Relay},
    cli::{Cli, Command},
    redact::redact_url,
};
use clap::Parser;

/// jemalloc instead of glibc's allocator: its background thread hands freed memory back to the
/// system once ingest quiets down, where glibc's arenas keep it (figures in
/// `docs/architecture.md`, "Dependencies beyond the design card").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    // indigo's other environment names become ours before clap reads the environment.
    let aliases = atrelay::config::indigo::apply_env_aliases(&atrelay::cli::command());
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        println!("atrelay {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    // Kept to the end of main: dropping it flushes the trace export.
    let _telemetry = atrelay::logging::init(&cli.log)?;
    for applied in &aliases {
        tracing::info!(
            alias = applied.alias,
            canonical = %applied.canonical,
            "indigo's environment name accepted"
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Version => Ok(()),
        Command::Serve(config) => {
            runtime.block_on(async { Relay::open(*config).await?.run().await })
        }
        Command::Migrate { database_url } => runtime.block_on(async {
            let store = open_store(&database_url, None).await?;
            store.close().await;
            println!("migrations applied to {}", redact_url(&database_url));
            anyhow::Ok(())
        }),
        Command::Splitter(config) => runtime.block_on(atrelay::splitter::run(*config)),
        Command::PullHosts(config) => runtime.block_on(async {
            atrelay::pull_hosts::run(&config).await?;
            anyhow::Ok(())
        }),
    }
}
