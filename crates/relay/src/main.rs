//! `atrelay`: the relay binary. Parses the command line and hands off to the library crate.

use atrelay::{config::ServeConfig, server};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A full-network AT Protocol relay.
#[derive(Debug, Parser)]
#[command(name = "atrelay", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the relay service.
    Serve(ServeConfig),
    /// Print the version and exit.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("atrelay {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Serve(config) => {
            init_logging();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(run_serve(config))
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("RELAY_LOG_LEVEL")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn run_serve(config: ServeConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.api_bind).await?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    server::serve(listener, server::router(), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
