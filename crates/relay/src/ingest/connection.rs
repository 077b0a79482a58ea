//! One upstream host: dial, read frames, verify and pass on, write state in batches,
//! reconnect.
//!
//! **Parallel verification.** The task reads frames and hands each event to a verification
//! task of its own (`tokio::spawn`, so the signature checks and MST inversions of different
//! DIDs run on every core), up to [`IngestConfig::verify_window`](super::IngestConfig) events
//! in flight per host. Two events of one DID never verify at the same time: the later one
//! waits until the earlier one is settled, so it sees the account state the earlier one left.
//! Verdicts are *settled* strictly in upstream order (the head of the queue first): the account
//! limit is applied, the event is appended to the event log, and the account update joins the
//! batch. The outbound order of a host's events is therefore its upstream order, and the
//! cursor written with a batch never passes an event that is not settled and durable.
//! A full window stops reading, which back-pressures the host's socket.
//!
//! **Rate limits** ([`super::ratelimit`]) and **account-limit growth** ([`super::limits`])
//! are applied here too: a host over an event rate is not read until the window slides, and a
//! host that stays in good standing long enough while full gets a higher account limit.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use atrelay_eventlog::Ticket;
use atrelay_store::{AccountUpdate, HostCursor, HostLogSeq, HostStatus, LogProgress, StoreError};
use atrelay_stream::{decode_frame_bytes, encode_frame, Message, FUTURE_CURSOR, MAX_FRAME_SIZE};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::{JoinError, JoinHandle};
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig,
    Message as WsMessage,
};

use super::backoff;
use super::counters::DropReason;
use super::health::{HostLink, LinkState};
use super::limits::{admit_new_account, Admission};
use super::ratelimit::HostLimiter;
use super::recovery;
use super::verify::{HostContext, Outcome, Verdict};
use super::{lock, Inner, USER_AGENT};
use crate::outbound::Outbound;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle connection is pinged.
const PING_INTERVAL: Duration = Duration::from_secs(30);

/// Why a connection ended.
enum End {
    /// The relay is shutting down.
    Shutdown,
    /// The host sent `FutureCursor`: it was reset.
    FutureCursor,
    /// The connection failed or closed.
    Lost(String),
    /// The event log stopped taking events: nothing more can be ingested.
    LogFailed(String),
    /// The store did not answer while judging an event: it is read again after a backoff.
    StoreUnavailable(String),
    /// The host's row is gone from the store (deleted by an operator).
    HostGone,
}

/// Accepted events not yet written to the store.
#[derive(Default)]
struct Batch {
    last_ticket: Option<Ticket>,
    /// The relay seqs of the batch's events, in order.
    relay_seqs: Vec<i64>,
    updates: Vec<AccountUpdate>,
    dids: Vec<String>,
    upstream_seq: Option<i64>,
    started: Option<Instant>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.upstream_seq.is_none() && self.updates.is_empty()
    }
}

/// The task of one host: runs until shutdown or until the host is banned.
pub(super) async fn run_host(
    inner: Arc<Inner>,
    host: atrelay_store::Host,
    ctx: Arc<HostContext>,
    limiter: Arc<Mutex<HostLimiter>>,
    retry: Arc<Notify>,
    health: Arc<HostLink>,
    mut shutdown: watch::Receiver<bool>,
) {
    // A new host is read from the oldest event it holds, so nothing it emitted before or
    // during its crawl request is lost, unless the operator asked for live-only new hosts.
    let mut cursor = match host.last_seq {
        Some(seq) => Some(seq),
        None if inner.config.new_hosts_live_only => None,
        None => Some(0),
    };
    let mut failures: u32 = 0;
    let mut store_failures: u32 = 0;
    let mut offline = host.status == HostStatus::Offline;
    let scheme = if host.no_ssl { "ws" } else { "wss" };
    loop {
        if *shutdown.borrow() {
            return;
        }
        let url = match cursor {
            Some(c) => format!(
                "{scheme}://{}/xrpc/com.atproto.sync.subscribeRepos?cursor={c}",
                host.hostname
            ),
            None => format!(
                "{scheme}://{}/xrpc/com.atproto.sync.subscribeRepos",
                host.hostname
            ),
        };
        health.set(LinkState::Connecting, None);
        let wait = match dial(&url, inner.config.allow_insecure_hosts).await {
            Ok((ws, is_relay)) => {
                if is_relay {
                    tracing::warn!(host = %host.hostname, "upstream identifies as a relay: banned");
                    let _ = inner
                        .store
                        .set_host_status(host.id, HostStatus::Banned)
                        .await;
                    let _ = inner
                        .store
                        .record_host_error(host.id, "upstream identifies as a relay")
                        .await;
                    return;
                }
                failures = 0;
                if offline {
                    offline = false;
                    let _ = inner
                        .store
                        .set_host_status(host.id, HostStatus::Active)
                        .await;
                }
                let _ = inner.store.record_host_connected(host.id).await;
                tracing::info!(host = %host.hostname, ?cursor, "subscribed");
                health.set(LinkState::Connected, None);
                let link = Link {
                    inner: &inner,
                    ctx: &ctx,
                    limiter: &limiter,
                    health: &health,
                };
                let end = read(link, ws, &mut cursor, &mut shutdown).await;
                if !matches!(end, End::StoreUnavailable(_)) {
                    store_failures = 0;
                }
                match end {
                    End::Shutdown => return,
                    End::HostGone => {
                        tracing::warn!(host = %host.hostname, "host removed from the store; no longer followed");
                        health.set(LinkState::Stopped, Some("host removed".to_owned()));
                        return;
                    }
                    End::LogFailed(reason) => {
                        // Nothing can be accepted without the log; the process exits on it
                        // (main), and a restart recovers from what the log holds.
                        tracing::error!(host = %host.hostname, %reason, "event log failed; ingest stops");
                        health.set(
                            LinkState::Stopped,
                            Some(format!("event log failed: {reason}")),
                        );
                        return;
                    }
                    End::StoreUnavailable(reason) => {
                        store_failures = store_failures.saturating_add(1);
                        tracing::warn!(host = %host.hostname, %reason, "store unavailable; reading again after a backoff");
                        backoff::delay(store_failures, STORE_RETRY_BASE, STORE_RETRY_MAX)
                    }
                    End::FutureCursor => {
                        tracing::warn!(host = %host.hostname, ?cursor, "upstream FutureCursor: restarting from live");
                        let _ = inner
                            .store
                            .record_host_error(
                                host.id,
                                "upstream FutureCursor: restarted from live",
                            )
                            .await;
                        let _ = inner.store.set_host_cursor(host.id, None).await;
                        inner
                            .counters
                            .future_cursor_resets
                            .fetch_add(1, Ordering::Relaxed);
                        cursor = None;
                        continue;
                    }
                    End::Lost(reason) => {
                        tracing::info!(host = %host.hostname, %reason, "upstream connection ended");
                        let _ = inner.store.record_host_error(host.id, &reason).await;
                        // Never redial in a tight loop, even after a good connection.
                        backoff::delay(1, inner.config.backoff_base, inner.config.backoff_max)
                    }
                }
            }
            Err(reason) => {
                failures = failures.saturating_add(1);
                let _ = inner.store.record_host_error(host.id, &reason).await;
                if failures >= inner.config.offline_after && !offline {
                    offline = true;
                    tracing::warn!(host = %host.hostname, failures, "host offline; retrying slowly");
                    let _ = inner
                        .store
                        .set_host_status(host.id, HostStatus::Offline)
                        .await;
                }
                if offline {
                    inner.config.offline_retry
                } else {
                    backoff::delay(
                        failures,
                        inner.config.backoff_base,
                        inner.config.backoff_max,
                    )
                }
            }
        };
        health.set(
            LinkState::Backoff,
            Some(format!("next attempt in {} ms", wait.as_millis())),
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = retry.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// First delay before a store write or an event judged while the store failed is tried again.
const STORE_RETRY_BASE: Duration = Duration::from_millis(200);
/// Longest such delay: short, so ingest resumes within seconds of the database's return.
const STORE_RETRY_MAX: Duration = Duration::from_secs(5);

/// Connects; returns the socket and whether the upstream says it is a relay. The host's name
/// is resolved once and the socket opened to a checked address ([`Outbound`]): outside dev mode
/// (`allow_private`) a host resolving to a loopback, private or link-local address is refused.
async fn dial(url: &str, allow_private: bool) -> Result<(Ws, bool), String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("user-agent", HeaderValue::from_static(USER_AGENT));
    // Frames up to twice the limit are read and then refused with a counted reason, so an
    // oversized frame does not make the connection fail on it again and again.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_SIZE * 2))
        .max_frame_size(Some(MAX_FRAME_SIZE * 2));
    let host = request.uri().host().unwrap_or_default().to_owned();
    let port = request
        .uri()
        .port_u16()
        .unwrap_or(if request.uri().scheme_str() == Some("ws") {
            80
        } else {
            443
        });
    let (ws, response) = tokio::time::timeout(DIAL_TIMEOUT, async {
        let stream = Outbound::new(allow_private)
            .connect(&host, port, DIAL_TIMEOUT)
            .await
            .map_err(|e| format!("dial failed: {e}"))?;
        tokio_tungstenite::client_async_tls_with_config(request, stream, Some(config), None)
            .await
            .map_err(|e| format!("dial failed: {e}"))
    })
    .await
    .map_err(|_| "dial timed out".to_owned())??;
    let is_relay = response
        .headers()
        .get_all("server")
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.contains("atproto-relay")));
    Ok((ws, is_relay))
}

/// One received event on its way through verification.
struct InFlight {
    /// The upstream seq, when the event has one.
    seq: Option<i64>,
    /// The event's DID, when it has one.
    did: Option<String>,
    /// Position in this connection's stream, to tell entries of one DID apart.
    position: u64,
    /// When its frame was read.
    received: Instant,
    /// The event's `ingest.event` span: its verification, then its append, run inside it.
    span: tracing::Span,
    /// The verification task.
    verdict: JoinHandle<Verdict>,
    /// Dropped when the event is settled: the next event of the same DID waits for that.
    _settled: oneshot::Sender<()>,
}

/// The events of one connection between reading and settling, in upstream order.
#[derive(Default)]
struct Pipeline {
    queue: VecDeque<InFlight>,
    /// The latest unsettled event of each DID: its position and its settle signal.
    latest: HashMap<String, (u64, oneshot::Receiver<()>)>,
    next_position: u64,
}

impl Pipeline {
    /// Starts verifying `message`; it waits for the previous unsettled event of its DID.
    fn start(&mut self, inner: &Inner, ctx: &Arc<HostContext>, message: Message) {
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
    fn abort(&mut self) {
        for entry in self.queue.drain(..) {
            entry.verdict.abort();
        }
        self.latest.clear();
    }
}

/// The verdict of the oldest event in flight; pending while there is none.
async fn head_verdict(queue: &mut VecDeque<InFlight>) -> Result<Verdict, JoinError> {
    match queue.front_mut() {
        Some(entry) => (&mut entry.verdict).await,
        None => std::future::pending().await,
    }
}

enum Step {
    Frame(Option<Result<WsMessage, tungstenite::Error>>),
    Verdict(Box<Result<Verdict, JoinError>>),
    Tick,
    Flush,
    Resume,
    Growth,
    Shutdown,
}

/// What a connection works with: the shared ingest state and its host's.
#[derive(Clone, Copy)]
struct Link<'a> {
    inner: &'a Inner,
    ctx: &'a Arc<HostContext>,
    limiter: &'a Mutex<HostLimiter>,
    health: &'a HostLink,
}

/// Counts one frame against the host's rate limits; returns until when reading stops, if the
/// next frame does not fit now.
fn count_rate(link: Link<'_>) -> Option<Instant> {
    let now = Instant::now();
    let mut limiter = lock(link.limiter);
    limiter.record(now);
    let until = now + limiter.wait(now)?;
    limiter.pauses += 1;
    limiter.paused_until = Some(until);
    link.inner
        .counters
        .rate_limit_pauses
        .fetch_add(1, Ordering::Relaxed);
    Some(until)
}

/// Whether a paused host may be read again; else the new end of the pause.
fn resume_rate(link: Link<'_>) -> Option<Instant> {
    let now = Instant::now();
    let mut limiter = lock(link.limiter);
    let until = limiter.wait(now).map(|wait| now + wait);
    limiter.paused_until = until;
    until
}

/// Applies the growth rule when the host has been in good standing long enough.
async fn grow(link: Link<'_>, standing_since: &mut Instant) {
    let growth = &link.inner.config.account_limit_growth;
    if standing_since.elapsed() < growth.after {
        return;
    }
    let ctx = link.ctx;
    let limit = ctx.account_limit.load(Ordering::Relaxed);
    let count = ctx.account_count.load(Ordering::Relaxed);
    let Some(next) = growth.next_limit(limit, count) else {
        return;
    };
    match link.inner.change_account_limit(ctx.id, next).await {
        Ok(change) => {
            tracing::info!(
                host = %ctx.hostname,
                old = change.old_limit,
                new = change.new_limit,
                unthrottled = change.unthrottled.len(),
                "account limit grown for good standing"
            );
            link.inner
                .counters
                .account_limit_growths
                .fetch_add(1, Ordering::Relaxed);
            *standing_since = Instant::now();
        }
        Err(e) => tracing::warn!(host = %ctx.hostname, error = %e, "account limit growth failed"),
    }
}

/// Reads the connection until it ends, writing accepted state in batches; `cursor` follows
/// the last upstream seq written to the store.
async fn read(
    link: Link<'_>,
    mut ws: Ws,
    cursor: &mut Option<i64>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let Link { inner, ctx, .. } = link;
    let mut batch = Batch::default();
    let mut pipeline = Pipeline::default();
    let mut last_seq: Option<i64> = None;
    let mut last_activity = Instant::now();
    let mut ticker = tokio::time::interval(PING_INTERVAL);
    ticker.tick().await;
    let window = inner.config.verify_window.max(1);
    // Good standing starts with the connection (see `limits::AccountLimitGrowth`).
    let mut standing_since = Instant::now();
    let growth = &inner.config.account_limit_growth;
    let growth_every = growth
        .after
        .clamp(Duration::from_millis(10), Duration::from_secs(60));
    let mut next_growth_check = Instant::now() + growth_every;
    let mut paused_until = resume_rate(link);
    let end = loop {
        let flush_at = batch
            .started
            .map(|t| t + inner.config.flush_interval)
            .unwrap_or_else(Instant::now);
        let can_read = pipeline.queue.len() < window && paused_until.is_none();
        let has_head = !pipeline.queue.is_empty();
        let resume_at = paused_until.unwrap_or_else(Instant::now);
        let step = tokio::select! {
            frame = ws.next(), if can_read => Step::Frame(frame),
            verdict = head_verdict(&mut pipeline.queue), if has_head => Step::Verdict(Box::new(verdict)),
            _ = ticker.tick() => Step::Tick,
            _ = tokio::time::sleep_until(flush_at.into()), if !batch.is_empty() => Step::Flush,
            _ = tokio::time::sleep_until(resume_at.into()), if paused_until.is_some() => Step::Resume,
            _ = tokio::time::sleep_until(next_growth_check.into()), if growth.enabled() => Step::Growth,
            _ = shutdown.changed() => Step::Shutdown,
        };
        match step {
            Step::Shutdown => break End::Shutdown,
            Step::Resume => paused_until = resume_rate(link),
            Step::Growth => {
                grow(link, &mut standing_since).await;
                next_growth_check = Instant::now() + growth_every;
            }
            Step::Flush => {
                if let Err(end) = flush(link, &mut batch, cursor, shutdown).await {
                    break end;
                }
            }
            Step::Tick => {
                // A host paused by its rate limit is silent because it is not read.
                if paused_until.is_some() {
                    last_activity = Instant::now();
                }
                if last_activity.elapsed() > inner.config.idle_timeout {
                    break End::Lost("no traffic within the idle timeout".to_owned());
                }
                if ws.send(WsMessage::Ping(Default::default())).await.is_err() {
                    break End::Lost("ping failed".to_owned());
                }
            }
            Step::Verdict(verdict) => {
                let settled = settle_head(inner, ctx, &mut pipeline, *verdict, &mut batch);
                match settled {
                    Err(end) => break end,
                    Ok(true) => standing_since = Instant::now(),
                    Ok(false) => {}
                }
                if batch.updates.len() >= inner.config.max_batch {
                    if let Err(end) = flush(link, &mut batch, cursor, shutdown).await {
                        break end;
                    }
                }
            }
            Step::Frame(None) => break End::Lost("closed".to_owned()),
            Step::Frame(Some(Err(e))) => break End::Lost(e.to_string()),
            Step::Frame(Some(Ok(message))) => {
                last_activity = Instant::now();
                let bytes = match message {
                    WsMessage::Binary(bytes) => bytes,
                    WsMessage::Close(_) => break End::Lost("closed by upstream".to_owned()),
                    WsMessage::Text(_) => {
                        inner.counters.record(
                            DropReason::UnknownFrame,
                            &ctx.hostname,
                            None,
                            "text message",
                        );
                        continue;
                    }
                    _ => continue,
                };
                paused_until = count_rate(link);
                let received = receive(inner, ctx, bytes, &mut last_seq, &mut pipeline);
                match received {
                    Err(end) => break end,
                    Ok(true) => standing_since = Instant::now(),
                    Ok(false) => {}
                }
            }
        }
    };
    // What was read before a lost connection is still settled; on shutdown, a failed log or
    // an unavailable store it is not (the cursor has not passed it, so it is read again).
    let end = match end {
        End::Lost(_) | End::FutureCursor => {
            let mut end = end;
            while let Some(entry) = pipeline.queue.front_mut() {
                let verdict = (&mut entry.verdict).await;
                if let Err(failed) = settle_head(inner, ctx, &mut pipeline, verdict, &mut batch) {
                    end = failed;
                    break;
                }
            }
            end
        }
        other => other,
    };
    pipeline.abort();
    // Whatever was accepted is written before leaving (unless the log failed: then its
    // events may not be durable, and recovery at the next start settles them).
    if !matches!(end, End::LogFailed(_) | End::HostGone) {
        if let Err(failed) = flush(link, &mut batch, cursor, shutdown).await {
            let _ = ws.close(None).await;
            return failed;
        }
    }
    let _ = ws.close(None).await;
    end
}

/// Checks and decodes one binary frame and starts its verification. `Ok(true)`: the frame
/// was dropped for a fault of the host's; `Err` ends the connection.
fn receive(
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
    pipeline.start(inner, ctx, message);
    Ok(false)
}

/// Settles the oldest event in flight (whose verification gave `verdict`): account limit,
/// event log, batch. `Ok(true)`: the event was dropped for a fault of the host's; `Err` ends
/// the connection.
fn settle_head(
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
                    message.set_seq(seq);
                    encode_frame(&message)
                });
            if let (Err(_), Some(seq)) = (&appended, assigned) {
                inner.unapplied.remove(&[seq]);
            }
            match appended {
                Ok(ticket) => {
                    batch.relay_seqs.push(ticket.seq());
                    batch.last_ticket = Some(ticket);
                    note_update(inner, ctx, batch, did, state, update, new_account);
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
        batch.upstream_seq = Some(seq);
        batch.started.get_or_insert_with(Instant::now);
    }
    Ok(faulty)
}

fn note_update(
    inner: &Inner,
    ctx: &HostContext,
    batch: &mut Batch,
    did: String,
    state: super::AccountState,
    update: AccountUpdate,
    new_account: bool,
) {
    if new_account {
        ctx.account_count.fetch_add(1, Ordering::Relaxed);
        inner.counters.new_accounts.fetch_add(1, Ordering::Relaxed);
    }
    inner.accounts.put_pending(&did, state);
    batch.updates.push(update);
    batch.dids.push(did);
    batch.started.get_or_insert_with(Instant::now);
}

/// Waits until the batch's events are durable, then writes account state, the cursor and
/// the batch's place in the log ([`LogProgress`]) in one transaction. A failing store is
/// retried with capped backoff for as long as it takes (the connection is not read meanwhile,
/// which back-pressures the host); on shutdown it gives up after one more try and leaves the
/// batch to recovery at the next start, which finds its events in the log.
async fn flush(
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
