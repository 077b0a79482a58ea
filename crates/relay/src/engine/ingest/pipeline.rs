//! The events of one connection between reading and settling: a frame is checked and
//! decoded ([`receive`]), verified in a task of its own ([`Pipeline::start`]; an event waits for
//! the previous event of its DID), and settled strictly in upstream order ([`settle_head`]):
//! account limit, event log append, and the account update joins the [`Batch`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use atrelay_stream::{
    decode_frame_bytes, encode_frame, frame_with_seq, Message, FUTURE_CURSOR, MAX_FRAME_SIZE,
};
use tokio::sync::oneshot;
use tokio::task::{JoinError, JoinHandle};

use super::batch::Batch;
use super::counters::DropReason;
use super::events::KIND_ACCOUNT;
use super::host::HostContext;
use super::limits::{admit_new_account, Admission};
use super::link::End;
use super::recovery;
use super::verify::{Outcome, Verdict};
use super::Inner;

/// One received event on its way through verification.
pub(super) struct InFlight {
    /// The upstream seq, when the event has one.
    seq: Option<i64>,
    /// The event's DID, when it has one.
    did: Option<String>,
    /// Position in this connection's stream, to tell entries of one DID apart.
    position: u64,
    /// When its frame was read.
    received: Instant,
    /// The frame as received, passed on with only its seq changed when the event is accepted
    /// unchanged (a shared slice of the read buffer, not a copy).
    frame: bytes::Bytes,
    /// The event's `ingest.event` span: its verification, then its append, run inside it.
    span: tracing::Span,
    /// The verification task.
    pub(super) verdict: JoinHandle<Verdict>,
    /// Dropped when the event is settled: the next event of the same DID waits for that.
    _settled: oneshot::Sender<()>,
}

/// The events of one connection between reading and settling, in upstream order.
#[derive(Default)]
pub(super) struct Pipeline {
    pub(super) queue: VecDeque<InFlight>,
    /// The latest unsettled event of each DID: its position and its settle signal.
    latest: HashMap<String, (u64, oneshot::Receiver<()>)>,
    next_position: u64,
}

impl Pipeline {
    /// Starts verifying `message`, decoded from `frame`; it waits for the previous unsettled
    /// event of its DID.
    pub(super) fn start(
        &mut self,
        inner: &Inner,
        ctx: &Arc<HostContext>,
        frame: bytes::Bytes,
        message: Message,
    ) {
        let seq = message.seq();
        let did = message.did().map(str::to_owned);
        let position = self.next_position;
        self.next_position += 1;
        let (settled, settled_rx) = oneshot::channel();
        let previous = did.as_ref().and_then(|did| {
            self.latest
                .insert(did.clone(), (position, settled_rx))
                .map(|(_, rx)| rx)
        });
        let verifier = inner.verifier.clone();
        let span = tracing::debug_span!(
            "ingest.event",
            host = %ctx.hostname,
            seq = ?seq,
            did = did.as_deref().unwrap_or("")
        );
        let ctx = ctx.clone();
        let verdict = tokio::spawn(tracing::Instrument::instrument(
            async move {
                if let Some(previous) = previous {
                    // Err only means the sender is gone: settled, or the connection ended.
                    let _ = previous.await;
                }
                verifier.process(&ctx, message).await
            },
            span.clone(),
        ));
        self.queue.push_back(InFlight {
            seq,
            did,
            position,
            received: Instant::now(),
            frame,
            span,
            verdict,
            _settled: settled,
        });
        let in_flight = self.queue.len() as u64;
        inner
            .counters
            .peak_verifications_in_flight
            .fetch_max(in_flight, Ordering::Relaxed);
    }

    /// Removes the settled head entry from the DID map (unless a later event of the DID is
    /// waiting: then the entry is that one's).
    fn forget(&mut self, entry: &InFlight) {
        if let Some(did) = &entry.did {
            if self
                .latest
                .get(did)
                .is_some_and(|(position, _)| *position == entry.position)
            {
                self.latest.remove(did);
            }
        }
    }

    /// Stops every verification still running.
    pub(super) fn abort(&mut self) {
        for entry in self.queue.drain(..) {
            entry.verdict.abort();
        }
        self.latest.clear();
    }
}

/// The verdict of the oldest event in flight; pending while there is none.
pub(super) async fn head_verdict(queue: &mut VecDeque<InFlight>) -> Result<Verdict, JoinError> {
    match queue.front_mut() {
        Some(entry) => (&mut entry.verdict).await,
        None => std::future::pending().await,
    }
}

/// Checks and decodes one binary frame and starts its verification. `Ok(true)`: the frame
/// was dropped for a fault of the host's; `Err` ends the connection.
pub(super) fn receive(
    inner: &Inner,
    ctx: &Arc<HostContext>,
    bytes: bytes::Bytes,
    last_seq: &mut Option<i64>,
    pipeline: &mut Pipeline,
) -> Result<bool, End> {
    let host = ctx.hostname.as_str();
    ctx.traffic.events.fetch_add(1, Ordering::Relaxed);
    if bytes.len() > MAX_FRAME_SIZE {
        let detail = format!("{} bytes", bytes.len());
        inner
            .counters
            .record(DropReason::FrameTooLarge, host, None, &detail);
        return Ok(true);
    }
    let message = match decode_frame_bytes(&bytes) {
        Ok(message) => message,
        Err(e) => {
            inner
                .counters
                .record(DropReason::BadFrame, host, None, &e.to_string());
            return Ok(true);
        }
    };
    match &message {
        Message::Commit(_) => ctx.traffic.commits.fetch_add(1, Ordering::Relaxed),
        Message::Sync(_) => ctx.traffic.syncs.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    if let Message::Error(error) = &message {
        if error.error == FUTURE_CURSOR {
            return Err(End::FutureCursor);
        }
        return Err(End::Lost(format!(
            "upstream error {}: {}",
            error.error,
            error.message.as_deref().unwrap_or("")
        )));
    }
    let seq = message.seq();
    if let (Some(seq), Some(last)) = (seq, *last_seq) {
        if seq <= last {
            inner.counters.record(
                DropReason::SeqNotIncreasing,
                host,
                message.did(),
                &format!("seq {seq} after {last}"),
            );
            // A host whose seq goes back was probably reset: reconnecting from the stored
            // cursor either resumes or gets `FutureCursor`, which restarts from live.
            return Err(End::Lost(format!("upstream seq went back to {seq}")));
        }
    }
    if seq.is_some() {
        *last_seq = seq;
    }
    pipeline.start(inner, ctx, bytes, message);
    Ok(false)
}

/// Settles the oldest event in flight (whose verification gave `verdict`): account limit,
/// event log, batch. `Ok(true)`: the event was dropped for a fault of the host's; `Err` ends
/// the connection.
pub(super) fn settle_head(
    inner: &Inner,
    ctx: &HostContext,
    pipeline: &mut Pipeline,
    verdict: Result<Verdict, JoinError>,
    batch: &mut Batch,
) -> Result<bool, End> {
    let Some(entry) = pipeline.queue.pop_front() else {
        return Ok(false);
    };
    let mut faulty = false;
    pipeline.forget(&entry);
    let handling = entry.received.elapsed();
    // The log stamps the event with when its frame was read, so that a consumer's flush time
    // minus it is the upstream-to-consumer latency.
    let received_at = SystemTime::now() - handling;
    let handling = handling.as_secs_f64();
    crate::metrics::instruments()
        .event_seconds
        .observe(handling);
    ctx.handle_duration.observe(handling);
    let host = ctx.hostname.as_str();
    let Verdict {
        outcome,
        discontinuity,
    } = verdict.unwrap_or_else(|e| {
        Verdict::from(Outcome::Drop {
            reason: DropReason::Internal,
            did: entry.did.clone(),
            detail: format!("verification task failed: {e}"),
        })
    });
    if let Outcome::Unavailable { detail } = outcome {
        return Err(End::StoreUnavailable(detail));
    }
    let Admission { outcome, throttled } = admit_new_account(ctx, outcome);
    if throttled {
        inner
            .counters
            .throttled_new_accounts
            .fetch_add(1, Ordering::Relaxed);
    }
    match outcome {
        Outcome::Accept {
            did,
            kind,
            mut message,
            state,
            update,
            new_account,
        } => {
            if discontinuity {
                inner
                    .counters
                    .discontinuities
                    .fetch_add(1, Ordering::Relaxed);
            }
            // The origin lets a restart redo the store write if the process dies before it.
            let origin = entry.seq.map(|seq| recovery::origin(ctx.id, seq, &update));
            let _append = tracing::debug_span!(parent: &entry.span, "eventlog.append").entered();
            let mut assigned = None;
            let appended = inner
                .log
                .append_from(&did, kind, origin, received_at, |seq| {
                    // Under the log's append lock: see `Unapplied::insert`.
                    assigned = Some(seq);
                    inner.unapplied.insert(seq, ctx.id);
                    outgoing_frame(kind, &entry.frame, &mut message, seq)
                });
            if let (Err(_), Some(seq)) = (&appended, assigned) {
                inner.unapplied.remove(&[seq]);
            }
            match appended {
                Ok(ticket) => {
                    note_account(inner, ctx, &did, state, new_account);
                    batch.add_event(ticket, did, update);
                    inner.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    #[cfg(test)]
                    super::faults::accepted(host);
                }
                Err(
                    e @ (atrelay_eventlog::Error::Closed | atrelay_eventlog::Error::Failed { .. }),
                ) => return Err(End::LogFailed(e.to_string())),
                Err(e) => {
                    inner
                        .counters
                        .record(DropReason::Internal, host, Some(&did), &e.to_string())
                }
            }
        }
        Outcome::Drop {
            reason,
            did,
            detail,
        } => {
            faulty = reason.blames_host();
            inner.counters.record(reason, host, did.as_deref(), &detail)
        }
        Outcome::Ignore | Outcome::Unavailable { .. } => {}
    }
    if let Some(seq) = entry.seq {
        batch.pass(seq);
    }
    Ok(faulty)
}

/// Counts a new account and keeps the account's state in the cache until its batch is written.
fn note_account(
    inner: &Inner,
    ctx: &HostContext,
    did: &str,
    state: super::AccountState,
    new_account: bool,
) {
    if new_account {
        ctx.account_count.fetch_add(1, Ordering::Relaxed);
        inner.counters.new_accounts.fetch_add(1, Ordering::Relaxed);
    }
    inner.accounts.put_pending(did, state);
}

/// The frame the relay logs and sends for an accepted event, stamped with `seq`. Ingest
/// rewrites only `#account` messages (to carry the relay's view of the account); every other
/// accepted message is the upstream one, so its received bytes are passed on with the seq
/// spliced in, which gives the bytes a full encode would (checked in debug builds, so every
/// ingest test compares the two).
fn outgoing_frame(kind: u8, upstream: &[u8], message: &mut Message, seq: i64) -> bytes::Bytes {
    message.set_seq(seq);
    if kind != KIND_ACCOUNT {
        if let Some(frame) = frame_with_seq(upstream, seq) {
            debug_assert_eq!(
                frame,
                encode_frame(message),
                "spliced seq differs from encoding"
            );
            return frame;
        }
    }
    encode_frame(message)
}
