//! Feeds the collection index (`listReposByCollection`) from the relay's own event log, so the
//! index sees exactly the verified, durable events consumers see: commit ops add and remove
//! (collection, DID) pairs, `#account` hides and restores accounts, `#sync` marks an account's
//! counts as needing a fresh snapshot.
//!
//! It runs on a thread of its own because the index's storage calls block. On start it reads
//! the whole window again: the index ignores commits it has already applied (by rev), so a
//! replay changes nothing.

use atrelay_collections::{CollectionIndex, Op};
use atrelay_eventlog::{Error as LogError, EventLog};
use atrelay_stream::{decode_frame_bytes, Message};

/// Starts the feed; it ends when the event log is closed.
pub fn spawn(
    log: EventLog,
    index: CollectionIndex,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("collection-feed".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!(%error, "collection feed: no runtime; the index is not fed");
                    return;
                }
            };
            runtime.block_on(run(log, index));
        })
}

async fn run(log: EventLog, index: CollectionIndex) {
    loop {
        let mut reader = match log.reader(Some(0)) {
            Ok(reader) => reader,
            Err(error) => {
                tracing::info!(%error, "collection feed stopped");
                return;
            }
        };
        loop {
            match reader.next().await {
                Ok(event) => apply(&index, event.body()),
                // Retention overtook the feed: start again from what is stored (replays are
                // harmless; the periodic re-crawl repairs what was missed).
                Err(LogError::FellBehind { seq }) => {
                    tracing::warn!(seq, "collection feed fell behind the event log's retention");
                    break;
                }
                Err(error) => {
                    tracing::info!(%error, "collection feed stopped");
                    return;
                }
            }
        }
    }
}

/// Applies one logged frame to the index; a frame the index refuses is logged and skipped.
fn apply(index: &CollectionIndex, frame: &bytes::Bytes) {
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
            return;
        }
    };
    if let Err(error) = result {
        tracing::warn!(%error, "collection feed: event not applied to the index");
    }
}
