//! `atrelay`: the relay binary. Parses the command line and hands off to the library crates.

use clap::{Parser, Subcommand};

/// A full-network AT Protocol relay.
#[derive(Debug, Parser)]
#[command(name = "atrelay", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version and exit.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Version) | None => {
            println!("atrelay {}", env!("CARGO_PKG_VERSION"));
        }
    }
    Ok(())
}
