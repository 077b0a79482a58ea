//! Exactly once across crashes: the event log and the store agree again after a restart.
//!
//! An accepted event is appended to the event log with its [`Origin`]: the upstream host's id,
//! the host's seq, and a note holding the account update the event makes. Its account update
//! and the host's cursor reach the store later, in a batch. A crash between the two leaves
//! events in the log that the store does not reflect; re-reading them from the host would
//! emit them twice. So at start-up, before any host is followed, [`recover`] reads the log
//! after the store's watermark and, for every event newer than what the store holds for its
//! host, writes the noted account update and moves the host's cursor past the event. Hosts are
//! then dialled from cursors that agree with the log: nothing is lost (the cursor never passes
//! an event that is not durable) and nothing is re-emitted.
//!
//! The watermark is the relay seq up to which every logged event is reflected in the store.
//! [`Unapplied`] keeps the seqs appended but not yet written, so each batch can raise the
//! watermark without passing another host's unwritten events.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use atrelay_eventlog::{EventLog, Origin};
use atrelay_store::{
    AccountStatus, AccountUpdate, HostCursor, HostLogSeq, LogProgress, RepoState, Store,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::lock;

/// Most recovered events written to the store per batch.
const RECOVERY_BATCH: usize = 1000;

/// The relay seqs appended to the log whose account updates are not yet in the store, with
/// the host each came from.
#[derive(Debug, Default)]
pub(super) struct Unapplied {
    seqs: Mutex<BTreeMap<i64, i64>>,
}

impl Unapplied {
    /// Records an appended seq (called under the log's append lock, so no batch can compute a
    /// watermark between the seq's assignment and this call).
    pub fn insert(&self, seq: i64, host_id: i64) {
        lock(&self.seqs).insert(seq, host_id);
    }

    /// Forgets seqs whose updates are written (or that were never appended).
    pub fn remove(&self, seqs: &[i64]) {
        let mut set = lock(&self.seqs);
        for seq in seqs {
            set.remove(seq);
        }
    }

    /// The highest relay seq up to which every event is reflected in the store, given the
    /// log's newest durable seq read *before* this call.
    pub fn watermark(&self, durable_head: i64) -> i64 {
        match lock(&self.seqs).first_key_value() {
            Some((first, _)) => durable_head.min(first - 1),
            None => durable_head,
        }
    }

    /// Forgets every seq of one host (after [`recover`] wrote that host's logged events).
    pub fn remove_host(&self, host_id: i64) {
        lock(&self.seqs).retain(|_, host| *host != host_id);
    }

    /// How many seqs wait for their store write.
    pub fn len(&self) -> usize {
        lock(&self.seqs).len()
    }
}

/// The account update an event makes, as noted beside it in the log (the DID and host are in
/// the record and its origin already). Field names are short: one is stored per event.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Note {
    /// Upstream status.
    #[serde(rename = "s")]
    status: String,
    /// Repository state: rev, commit CID, data CID.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    repo: Option<(String, String, String)>,
    /// Local status of a new account.
    #[serde(rename = "l")]
    initial_local_status: String,
    /// Local reason of a new account.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    initial_local_reason: Option<String>,
    /// Desynchronized flag.
    #[serde(rename = "d", default)]
    desynchronized: bool,
}

/// The origin stored with an event from `host_id` at upstream `seq` that makes `update`.
pub(super) fn origin(host_id: i64, seq: i64, update: &AccountUpdate) -> Origin {
    let note = Note {
        status: update.upstream_status.as_str().to_owned(),
        repo: update
            .repo
            .as_ref()
            .map(|r| (r.rev.clone(), r.commit_cid.clone(), r.data_cid.clone())),
        initial_local_status: update.initial_local_status.as_str().to_owned(),
        initial_local_reason: update.initial_local_reason.clone(),
        desynchronized: update.desynchronized,
    };
    Origin {
        source: host_id,
        source_seq: seq,
        note: Bytes::from(serde_json::to_vec(&note).unwrap_or_default()),
    }
}

/// The account update noted in `origin` for `did`.
fn update_from(did: &str, origin: &Origin) -> Result<AccountUpdate, String> {
    let note: Note = serde_json::from_slice(&origin.note).map_err(|e| e.to_string())?;
    let status = |s: &str| s.parse::<AccountStatus>().map_err(|e| e.to_string());
    Ok(AccountUpdate {
        did: did.to_owned(),
        host_id: origin.source,
        upstream_status: status(&note.status)?,
        repo: note.repo.map(|(rev, commit_cid, data_cid)| RepoState {
            rev,
            commit_cid,
            data_cid,
        }),
        initial_local_status: status(&note.initial_local_status)?,
        initial_local_reason: note.initial_local_reason,
        desynchronized: note.desynchronized,
    })
}

/// What [`recover`] found and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The log was read after this seq (the store's watermark).
    pub from: i64,
    /// ... up to this one (the log's newest durable seq).
    pub to: i64,
    /// Events read.
    pub scanned: u64,
    /// Events whose account update was written again.
    pub reapplied: u64,
    /// Hosts whose cursor moved.
    pub hosts: usize,
    /// Events whose note could not be read (their update is skipped, with a warning).
    pub unreadable: u64,
}

/// Why recovery failed; ingest must not start then.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The store could not be read or written.
    #[error("store: {0}")]
    Store(#[from] atrelay_store::StoreError),
    /// The log could not be read.
    #[error("event log: {0}")]
    Log(#[from] atrelay_eventlog::Error),
}

/// Writes to the store what the log holds beyond it (see the module docs). `only_host`
/// limits it to one host's events (after that host's task failed mid-batch).
///
/// # Errors
/// When the store or the log fails; nothing is half-done that a second run would not redo.
pub(super) async fn recover(
    store: &Store,
    log: &EventLog,
    only_host: Option<i64>,
) -> Result<RecoveryReport, RecoveryError> {
    let progress = store.log_progress().await?;
    let newest = log.newest_seq();
    let from = progress.watermark.unwrap_or(0).clamp(0, newest.max(0));
    let mut applied: HashMap<i64, i64> = progress
        .hosts
        .iter()
        .map(|h| (h.host_id, h.relay_seq))
        .collect();
    let mut report = RecoveryReport {
        from,
        to: newest,
        ..RecoveryReport::default()
    };
    if from >= newest {
        return Ok(report);
    }
    let mut reader = log.recovery_reader(from)?;
    let mut pending = Pending::default();
    let mut moved = BTreeSet::new();
    loop {
        // The reader reads the files in runs: drain what it holds before asking for more
        // (its position is the newest seq *read*, buffered ones included).
        let event = match reader.try_next() {
            Some(event) => event,
            None if reader.position() < newest => reader.next().await?,
            None => break,
        };
        if event.seq() > newest {
            break;
        }
        report.scanned += 1;
        let Some(origin) = event.origin() else {
            continue;
        };
        if only_host.is_some_and(|host| host != origin.source)
            || applied
                .get(&origin.source)
                .is_some_and(|&seq| event.seq() <= seq)
        {
            continue;
        }
        match update_from(event.did(), origin) {
            Ok(update) => pending.updates.push(update),
            Err(reason) => {
                report.unreadable += 1;
                tracing::warn!(seq = event.seq(), did = event.did(), %reason, "unreadable recovery note");
            }
        }
        pending.cursors.insert(origin.source, origin.source_seq);
        pending.relay_seqs.insert(origin.source, event.seq());
        moved.insert(origin.source);
        report.reapplied += 1;
        if pending.updates.len() >= RECOVERY_BATCH {
            pending.write(store, &mut applied, None).await?;
        }
    }
    // The last batch raises the watermark to the head: the whole log is reflected now (for a
    // single host only its events are, so the watermark stays).
    let watermark = only_host.is_none().then_some(newest);
    pending.write(store, &mut applied, watermark).await?;
    report.hosts = moved.len();
    Ok(report)
}

/// Recovered updates not yet written.
#[derive(Default)]
struct Pending {
    updates: Vec<AccountUpdate>,
    /// Per host, the upstream seq of its last recovered event.
    cursors: BTreeMap<i64, i64>,
    /// Per host, the relay seq of its last recovered event.
    relay_seqs: BTreeMap<i64, i64>,
}

impl Pending {
    async fn write(
        &mut self,
        store: &Store,
        applied: &mut HashMap<i64, i64>,
        watermark: Option<i64>,
    ) -> Result<(), RecoveryError> {
        let cursors: Vec<HostCursor> = self
            .cursors
            .iter()
            .map(|(&host_id, &seq)| HostCursor { host_id, seq })
            .collect();
        let progress = LogProgress {
            hosts: self
                .relay_seqs
                .iter()
                .map(|(&host_id, &relay_seq)| HostLogSeq { host_id, relay_seq })
                .collect(),
            watermark,
        };
        match store
            .apply_logged_batch(&self.updates, &cursors, &progress)
            .await
        {
            Ok(_) => {}
            // A host deleted since: its events stay in the log, its state is gone anyway.
            Err(atrelay_store::StoreError::HostNotFound { id }) => {
                tracing::warn!(
                    host_id = id,
                    "recovery: host no longer exists; its events are skipped"
                );
                self.updates.retain(|u| u.host_id != id);
                self.cursors.remove(&id);
                self.relay_seqs.remove(&id);
                return Box::pin(self.write(store, applied, watermark)).await;
            }
            Err(e) => return Err(e.into()),
        }
        for (&host_id, &relay_seq) in &self.relay_seqs {
            applied.insert(host_id, relay_seq);
        }
        *self = Pending::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_round_trip_every_field() {
        let update = AccountUpdate {
            initial_local_status: AccountStatus::Throttled,
            initial_local_reason: Some("host account limit reached".into()),
            ..AccountUpdate::new("did:plc:alice", 7)
                .with_upstream_status(AccountStatus::Deactivated)
                .with_desynchronized(true)
                .with_repo(RepoState {
                    rev: "3l2aaaaaaaa22".into(),
                    commit_cid: "bafycommit".into(),
                    data_cid: "bafydata".into(),
                })
        };
        let origin = origin(7, 42, &update);
        assert_eq!((origin.source, origin.source_seq), (7, 42));
        assert!(origin.note.len() < 200, "{} bytes", origin.note.len());
        assert_eq!(update_from("did:plc:alice", &origin).unwrap(), update);
        let plain = AccountUpdate::new("did:plc:bob", 3);
        assert_eq!(
            update_from("did:plc:bob", &super::origin(3, 1, &plain)).unwrap(),
            plain
        );
    }

    #[test]
    fn the_watermark_stops_below_the_oldest_unwritten_seq() {
        let unapplied = Unapplied::default();
        assert_eq!(unapplied.watermark(10), 10);
        unapplied.insert(11, 1);
        unapplied.insert(12, 2);
        unapplied.insert(13, 1);
        assert_eq!(unapplied.watermark(13), 10);
        unapplied.remove(&[11]);
        assert_eq!(unapplied.watermark(13), 11);
        unapplied.remove_host(2);
        assert_eq!(unapplied.watermark(12), 12);
        unapplied.remove(&[13]);
        assert_eq!(unapplied.watermark(13), 13);
        assert_eq!(unapplied.len(), 0);
    }
}
