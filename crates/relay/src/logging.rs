//! Process logging: a filter from `--log-level` (or `RUST_LOG`), text or JSON lines on stdout,
//! no ANSI colours unless stdout is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::{LogArgs, LogFormat};

/// Installs the global subscriber. An unparsable `--log-level` is an error, not a silent
/// fallback, so a typo does not hide the logs an operator asked for.
///
/// # Errors
/// The filter does not parse.
pub fn init(args: &LogArgs) -> anyhow::Result<()> {
    let filter = match &args.log_level {
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| anyhow::anyhow!("--log-level {directives:?}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    Ok(())
}
