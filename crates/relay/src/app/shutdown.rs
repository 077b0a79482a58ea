//! Bounded shutdown: which step the binary is in while stopping, so that when the shutdown
//! timeout passes it can exit naming what did not stop.

use std::sync::{Arc, Mutex};

/// Exit status when shutdown did not finish in time (documented in the README).
pub const EXIT_SHUTDOWN_TIMEOUT: i32 = 3;

/// The steps of a shutdown, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Draining open HTTP requests.
    Server,
    /// Closing upstream host connections.
    Ingest,
    /// Stopping collection crawls and their re-check.
    Backfill,
    /// Making every appended event durable and closing the log.
    EventLog,
    /// Ending the thread that feeds the collection index.
    CollectionFeed,
    /// Saving the collection index.
    CollectionIndex,
    /// Closing database connections.
    Database,
    /// Everything stopped.
    Done,
}

impl Step {
    const ALL: [Step; 7] = [
        Step::Server,
        Step::Ingest,
        Step::Backfill,
        Step::EventLog,
        Step::CollectionFeed,
        Step::CollectionIndex,
        Step::Database,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Server => "HTTP server (open requests)",
            Step::Ingest => "ingest (host connections)",
            Step::Backfill => "collection backfill",
            Step::EventLog => "event log",
            Step::CollectionFeed => "collection feed",
            Step::CollectionIndex => "collection index (save)",
            Step::Database => "database pool",
            Step::Done => "nothing",
        }
    }
}

/// The step a shutdown is in; shared between the stopping task and the timeout.
#[derive(Debug, Clone)]
pub struct Progress(Arc<Mutex<Step>>);

impl Default for Progress {
    fn default() -> Self {
        Progress(Arc::new(Mutex::new(Step::Server)))
    }
}

impl Progress {
    /// Marks `step` as started (every earlier one finished).
    pub fn begin(&self, step: Step) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = step;
    }

    /// What has not stopped: the current step first, then those not started.
    pub fn not_stopped(&self) -> Vec<&'static str> {
        let current = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        Step::ALL
            .iter()
            .filter(|step| **step >= current)
            .map(|step| step.name())
            .collect()
    }
}

/// Ends the process with [`EXIT_SHUTDOWN_TIMEOUT`] after saying why and what did not stop.
pub fn give_up(why: &str, progress: &Progress) -> ! {
    let pending = progress.not_stopped();
    let message = format!(
        "shutdown {why}; not stopped: {} (waiting on the first); exiting with status {EXIT_SHUTDOWN_TIMEOUT}",
        pending.join(", ")
    );
    tracing::error!("{message}");
    eprintln!("atrelay: {message}");
    std::process::exit(EXIT_SHUTDOWN_TIMEOUT)
}
