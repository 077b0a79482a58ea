//! One upstream host: dial, read frames, verify and pass on, write state in batches,
//! reconnect.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atrelay_eventlog::Ticket;
use atrelay_store::{AccountUpdate, Host, HostCursor, HostStatus};
use atrelay_stream::{decode_frame_bytes, encode_frame, Message, FUTURE_CURSOR, MAX_FRAME_SIZE};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig,
    Message as WsMessage,
};

use super::backoff;
use super::drops::DropReason;
use super::verify::{HostContext, Outcome};
use super::{Inner, USER_AGENT};
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
}

/// Accepted events not yet written to the store.
#[derive(Default)]
struct Batch {
    last_ticket: Option<Ticket>,
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
    host: Host,
    retry: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ctx = HostContext {
        id: host.id,
        hostname: host.hostname.clone(),
        account_limit: host.limits.account_limit,
        account_count: Arc::new(AtomicI64::new(host.account_count)),
    };
    // A new host is read from the oldest event it holds, so nothing it emitted before or
    // during its crawl request is lost.
    let mut cursor = Some(host.last_seq.unwrap_or(0));
    let mut failures: u32 = 0;
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
                match read(&inner, &ctx, ws, &mut cursor, &mut shutdown).await {
                    End::Shutdown => return,
                    End::LogFailed(reason) => {
                        tracing::error!(host = %host.hostname, %reason, "event log failed; ingest stops");
                        return;
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
                            .drops
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
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = retry.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

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

enum Step {
    Frame(Option<Result<WsMessage, tungstenite::Error>>),
    Tick,
    Flush,
    Shutdown,
}

/// Reads the connection until it ends, writing accepted state in batches; `cursor` follows
/// the last upstream seq written to the store.
async fn read(
    inner: &Inner,
    ctx: &HostContext,
    mut ws: Ws,
    cursor: &mut Option<i64>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let mut batch = Batch::default();
    let mut last_seq: Option<i64> = None;
    let mut last_activity = Instant::now();
    let mut ticker = tokio::time::interval(PING_INTERVAL);
    ticker.tick().await;
    let end = loop {
        let flush_at = batch
            .started
            .map(|t| t + inner.config.flush_interval)
            .unwrap_or_else(Instant::now);
        let step = tokio::select! {
            frame = ws.next() => Step::Frame(frame),
            _ = ticker.tick() => Step::Tick,
            _ = tokio::time::sleep_until(flush_at.into()), if !batch.is_empty() => Step::Flush,
            _ = shutdown.changed() => Step::Shutdown,
        };
        match step {
            Step::Shutdown => break End::Shutdown,
            Step::Flush => {
                if let Err(end) = flush(inner, ctx, &mut batch, cursor).await {
                    break end;
                }
            }
            Step::Tick => {
                if last_activity.elapsed() > inner.config.idle_timeout {
                    break End::Lost("no traffic within the idle timeout".to_owned());
                }
                if ws.send(WsMessage::Ping(Default::default())).await.is_err() {
                    break End::Lost("ping failed".to_owned());
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
                        inner.drops.record(
                            DropReason::UnknownFrame,
                            &ctx.hostname,
                            None,
                            "text message",
                        );
                        continue;
                    }
                    _ => continue,
                };
                if let Some(end) = handle_frame(inner, ctx, bytes, &mut last_seq, &mut batch).await
                {
                    break end;
                }
                if batch.updates.len() >= inner.config.max_batch {
                    if let Err(end) = flush(inner, ctx, &mut batch, cursor).await {
                        break end;
                    }
                }
            }
        }
    };
    // Whatever was accepted is written before leaving (unless the log failed).
    if !matches!(end, End::LogFailed(_)) {
        if let Err(failed) = flush(inner, ctx, &mut batch, cursor).await {
            return failed;
        }
    }
    let _ = ws.close(None).await;
    end
}

/// Handles one binary frame; `Some` ends the connection.
async fn handle_frame(
    inner: &Inner,
    ctx: &HostContext,
    bytes: bytes::Bytes,
    last_seq: &mut Option<i64>,
    batch: &mut Batch,
) -> Option<End> {
    let host = ctx.hostname.as_str();
    if bytes.len() > MAX_FRAME_SIZE {
        let detail = format!("{} bytes", bytes.len());
        inner
            .drops
            .record(DropReason::FrameTooLarge, host, None, &detail);
        return None;
    }
    let message = match decode_frame_bytes(&bytes) {
        Ok(message) => message,
        Err(e) => {
            inner
                .drops
                .record(DropReason::BadFrame, host, None, &e.to_string());
            return None;
        }
    };
    if let Message::Error(error) = &message {
        if error.error == FUTURE_CURSOR {
            return Some(End::FutureCursor);
        }
        return Some(End::Lost(format!(
            "upstream error {}: {}",
            error.error,
            error.message.as_deref().unwrap_or("")
        )));
    }
    let seq = message.seq();
    if let (Some(seq), Some(last)) = (seq, *last_seq) {
        if seq <= last {
            inner.drops.record(
                DropReason::SeqNotIncreasing,
                host,
                message.did(),
                &format!("seq {seq} after {last}"),
            );
            // A host whose seq goes back was probably reset: reconnecting from the stored
            // cursor either resumes or gets `FutureCursor`, which restarts from live.
            return Some(End::Lost(format!("upstream seq went back to {seq}")));
        }
    }
    let (outcome, discontinuity) = inner.verifier.process(ctx, message).await;
    if discontinuity {
        inner.drops.discontinuities.fetch_add(1, Ordering::Relaxed);
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
            let appended = inner.log.append(&did, kind, move |seq| {
                message.set_seq(seq);
                encode_frame(&message)
            });
            match appended {
                Ok(ticket) => {
                    batch.last_ticket = Some(ticket);
                    note_update(inner, ctx, batch, did, state, update, new_account);
                    inner.drops.accepted.fetch_add(1, Ordering::Relaxed);
                }
                Err(
                    e @ (atrelay_eventlog::Error::Closed | atrelay_eventlog::Error::Failed { .. }),
                ) => return Some(End::LogFailed(e.to_string())),
                Err(e) => {
                    inner
                        .drops
                        .record(DropReason::Internal, host, Some(&did), &e.to_string())
                }
            }
        }
        Outcome::Drop {
            reason,
            did,
            detail,
        } => inner.drops.record(reason, host, did.as_deref(), &detail),
        Outcome::Ignore => {}
    }
    if let Some(seq) = seq {
        *last_seq = Some(seq);
        batch.upstream_seq = Some(seq);
        batch.started.get_or_insert_with(Instant::now);
    }
    None
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
    }
    inner.accounts.put_pending(&did, state);
    batch.updates.push(update);
    batch.dids.push(did);
    batch.started.get_or_insert_with(Instant::now);
}

/// Waits until the batch's events are durable, then writes account state and the cursor.
async fn flush(
    inner: &Inner,
    ctx: &HostContext,
    batch: &mut Batch,
    cursor: &mut Option<i64>,
) -> Result<(), End> {
    let batch = std::mem::take(batch);
    if batch.is_empty() {
        return Ok(());
    }
    if let Some(ticket) = batch.last_ticket {
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
    let mut attempt = 0;
    loop {
        match inner.store.apply_batch(&batch.updates, &cursors).await {
            Ok(_) => break,
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::warn!(host = %ctx.hostname, error = %e, attempt, "store write failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => {
                // The events are in the log; without their state the relay must not go on.
                return Err(End::LogFailed(format!("store write failed: {e}")));
            }
        }
    }
    inner
        .accounts
        .written(batch.dids.iter().map(String::as_str));
    if let Some(seq) = batch.upstream_seq {
        *cursor = Some(seq);
    }
    Ok(())
}
