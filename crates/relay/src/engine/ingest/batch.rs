//! Accepted events on their way to the store: a connection gathers their account updates and
//! its cursor in a [`Batch`], and [`flush`] writes them in one transaction once the events are
//! durable in the log, retrying while the database does not answer.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use atrelay_eventlog::Ticket;
use atrelay_store::{AccountUpdate, HostCursor, HostLogSeq, LogProgress, StoreError};
use tokio::sync::watch;

use super::backoff;
use super::health::LinkState;
use super::link::{End, Link};

/// Accepted events not yet written to the store.
#[derive(Default)]
pub(super) struct Batch {
    last_ticket: Option<Ticket>,
    /// The relay seqs of the batch's events, in order.
    relay_seqs: Vec<i64>,
    updates: Vec<AccountUpdate>,
    dids: Vec<String>,
    upstream_seq: Option<i64>,
    started: Option<Instant>,
}

impl Batch {
    /// Nothing to write: no account update and no cursor move.
    pub(super) fn is_empty(&self) -> bool {
        self.upstream_seq.is_none() && self.updates.is_empty()
    }

    /// How many account updates wait to be written.
    pub(super) fn len(&self) -> usize {
        self.updates.len()
    }

    /// When the batch is due for writing: `interval` after its first entry.
    pub(super) fn due(&self, interval: Duration) -> Instant {
        self.started
            .map(|started| started + interval)
            .unwrap_or_else(Instant::now)
    }

    /// Adds an event appended to the log (`ticket`) and the account update it makes.
    pub(super) fn add_event(&mut self, ticket: Ticket, did: String, update: AccountUpdate) {
        self.relay_seqs.push(ticket.seq());
        self.last_ticket = Some(ticket);
        self.updates.push(update);
        self.dids.push(did);
        self.started.get_or_insert_with(Instant::now);
    }

    /// Moves the cursor the batch writes to an upstream seq the connection has settled.
    pub(super) fn pass(&mut self, upstream_seq: i64) {
        self.upstream_seq = Some(upstream_seq);
        self.started.get_or_insert_with(Instant::now);
    }
}

/// First delay before a store write or an event judged while the store failed is tried again.
pub(super) const STORE_RETRY_BASE: Duration = Duration::from_millis(200);
/// Longest such delay: short, so ingest resumes within seconds of the database's return.
pub(super) const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Waits until the batch's events are durable, then writes account state, the cursor and
/// the batch's place in the log ([`LogProgress`]) in one transaction. A failing store is
/// retried with capped backoff for as long as it takes (the connection is not read meanwhile,
/// which back-pressures the host); on shutdown it gives up after one more try and leaves the
/// batch to recovery at the next start, which finds its events in the log.
pub(super) async fn flush(
    link: Link<'_>,
    batch: &mut Batch,
    cursor: &mut Option<i64>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), End> {
    let Link {
        inner, ctx, health, ..
    } = link;
    let batch = std::mem::take(batch);
    if batch.is_empty() {
        return Ok(());
    }
    if let Some(ticket) = &batch.last_ticket {
        ticket
            .durable()
            .await
            .map_err(|e| End::LogFailed(e.to_string()))?;
    }
    let cursors: Vec<HostCursor> = batch
        .upstream_seq
        .map(|seq| HostCursor {
            host_id: ctx.id,
            seq,
        })
        .into_iter()
        .collect();
    let hosts: Vec<HostLogSeq> = batch
        .relay_seqs
        .last()
        .map(|&relay_seq| HostLogSeq {
            host_id: ctx.id,
            relay_seq,
        })
        .into_iter()
        .collect();
    let mut failures: u32 = 0;
    loop {
        // Read the head before the unapplied set: see `Unapplied::watermark`.
        let head = inner.log.newest_seq();
        let progress = LogProgress {
            hosts: hosts.clone(),
            watermark: Some(inner.unapplied.watermark(head)),
        };
        let started = Instant::now();
        let written = tracing::Instrument::instrument(
            inner
                .store
                .apply_logged_batch(&batch.updates, &cursors, &progress),
            tracing::debug_span!(
                "store.batch",
                host = %ctx.hostname,
                events = batch.updates.len()
            ),
        )
        .await;
        crate::metrics::instruments()
            .store_batch_seconds
            .observe(started.elapsed().as_secs_f64());
        let error = match written {
            Ok(_) => break,
            Err(StoreError::HostNotFound { id }) if id == ctx.id => {
                inner.unapplied.remove(&batch.relay_seqs);
                return Err(End::HostGone);
            }
            Err(error) => error,
        };
        failures = failures.saturating_add(1);
        inner
            .counters
            .store_write_retries
            .fetch_add(1, Ordering::Relaxed);
        health.set(
            LinkState::StoreRetry,
            Some(format!("store write failed {failures} times: {error}")),
        );
        if *shutdown.borrow() {
            tracing::warn!(host = %ctx.hostname, %error, "store write failed at shutdown; recovery redoes it at the next start");
            return Err(End::Shutdown);
        }
        if failures == 1 || failures.is_power_of_two() {
            tracing::warn!(host = %ctx.hostname, %error, failures, "store write failed; retrying");
        }
        let wait = backoff::delay(failures, STORE_RETRY_BASE, STORE_RETRY_MAX);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    if failures > 0 {
        tracing::info!(host = %ctx.hostname, failures, "store write succeeded again");
        health.set(LinkState::Connected, None);
    }
    inner.unapplied.remove(&batch.relay_seqs);
    inner
        .accounts
        .written(batch.dids.iter().map(String::as_str));
    if let Some(seq) = batch.upstream_seq {
        *cursor = Some(seq);
    }
    Ok(())
}
