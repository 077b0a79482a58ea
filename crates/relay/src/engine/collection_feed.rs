//! Feeds the collection index (`listReposByCollection`) from the relay's own event log, so the
//! index sees exactly the verified, durable events consumers see: commit ops add and remove
//! (collection, DID) pairs, `#account` hides and restores accounts, `#sync` marks an account's
//! counts as needing a fresh snapshot.
//!
//! It runs on a thread of its own because the index's storage calls block. On start it reads
//! the whole window again: the index ignores commits it has already applied (by rev), so a
//! replay changes nothing.
//!
//! It never spins: a failed read of the log or a failed index write is reported to the task
//! registry and retried from the last applied event after a capped exponential backoff.

use std::time::Duration;

use atrelay_collections::{CollectionIndex, IndexError, Op};
use atrelay_eventlog::{Error as LogError, EventLog};
use atrelay_stream::{decode_frame_bytes, Message};
use tokio::sync::watch;

use crate::engine::tasks::{sleep_or_stop, stopped, Backoff, TaskReporter};

/// The task's name in health and metrics.
pub const TASK_NAME: &str = "collection-feed";

/// First wait after an error.
const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// Longest wait between retries.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Starts the feed with no one watching it; it ends when the event log is closed.
pub fn spawn(
    log: EventLog,
    index: CollectionIndex,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // With its sender dropped, the stop signal never fires: only the log's closing ends it.
    let stop = watch::channel(false).1;
    let reporter = crate::engine::tasks::TaskRegistry::new().register(TASK_NAME);
    spawn_supervised(log, index, reporter, stop)
}

/// Starts the feed on a thread named after `reporter`'s task; it ends when `stop` turns true or
/// the event log is closed, reporting its state to `reporter`.
pub fn spawn_supervised(
    log: EventLog,
    index: CollectionIndex,
    reporter: TaskReporter,
    stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(reporter.name().to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    reporter.ended(Some(format!("no runtime; the index is not fed: {error}")));
                    return;
                }
            };
            runtime.block_on(run(log, index, reporter, stop));
        })
}

/// How one pass over the log ended.
enum Pass {
    /// Asked to stop, or the log was closed.
    Ended,
    /// Something failed; retry after a backoff.
    Failed(String),
}

async fn run(
    log: EventLog,
    index: CollectionIndex,
    reporter: TaskReporter,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX);
    // The newest seq applied (or skipped as unusable); a retry resumes after it.
    let mut cursor = 0;
    loop {
        let before = cursor;
        match pass(&log, &index, &reporter, &mut stop, &mut cursor).await {
            Pass::Ended => break,
            // Retention overtook the feed while it was making progress: start again from what
            // is stored at once (replays are harmless; the periodic re-crawl repairs the gap).
            Pass::Failed(reason) if cursor == 0 && before > 0 => {
                tracing::warn!(
                    reason,
                    "collection feed fell behind; reading from the oldest event"
                );
                backoff.reset();
            }
            Pass::Failed(reason) => {
                reporter.error(reason);
                if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                    break;
                }
            }
        }
        if cursor > before {
            backoff.reset();
        }
    }
    reporter.ended(None);
}

/// Reads the log after `cursor`, applying each event and advancing `cursor`, until stopped or
/// something fails.
async fn pass(
    log: &EventLog,
    index: &CollectionIndex,
    reporter: &TaskReporter,
    stop: &mut watch::Receiver<bool>,
    cursor: &mut i64,
) -> Pass {
    if *stop.borrow() {
        return Pass::Ended;
    }
    let mut reader = match log.reader(Some(*cursor)) {
        Ok(reader) => reader,
        Err(LogError::Closed) => return Pass::Ended,
        Err(error @ LogError::FellBehind { .. }) => {
            *cursor = 0;
            return Pass::Failed(format!("event log: {error}"));
        }
        Err(error) => return Pass::Failed(format!("event log: {error}")),
    };
    loop {
        let next = tokio::select! {
            next = reader.next() => next,
            () = stopped(stop) => return Pass::Ended,
        };
        match next {
            Ok(event) => match apply(index, event.body()) {
                Ok(()) => {
                    *cursor = event.seq();
                    reporter.ok();
                }
                // The index's storage failed: keep the event and retry it later.
                Err(error) => return Pass::Failed(format!("collection index: {error}")),
            },
            Err(LogError::Closed) => return Pass::Ended,
            Err(error @ LogError::FellBehind { .. }) => {
                *cursor = 0;
                return Pass::Failed(format!("event log: {error}"));
            }
            Err(error) => return Pass::Failed(format!("event log: {error}")),
        }
    }
}

/// Applies one logged frame to the index. A frame the index refuses as invalid is logged and
/// skipped; only a storage failure is returned (the event must be applied again).
fn apply(index: &CollectionIndex, frame: &bytes::Bytes) -> Result<(), IndexError> {
    let result = match decode_frame_bytes(frame) {
        Ok(Message::Commit(commit)) => index
            .apply_commit(
                &commit.repo,
                &commit.rev,
                commit.since.as_deref(),
                &Op::from_repo_ops(&commit.ops),
            )
            .map(|_| ()),
        Ok(Message::Account(account)) => index.set_account_active(&account.did, account.active),
        Ok(Message::Sync(sync)) => index.mark_unseeded(&sync.did, &sync.rev),
        Ok(_) => Ok(()),
        Err(error) => {
            tracing::error!(%error, "collection feed: a logged frame does not decode");
            return Ok(());
        }
    };
    match result {
        Err(error @ IndexError::Storage(_)) => Err(error),
        Err(error) => {
            tracing::warn!(%error, "collection feed: event not applied to the index");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}
