//! One upstream host: dial, read frames, verify and pass on, write state in batches,
//! reconnect. This module holds the host's task and its read loop; an event's way from frame to
//! log is in [`super::pipeline`], the store writes in [`super::batch`].
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
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrelay_store::HostStatus;
use atrelay_stream::MAX_FRAME_SIZE;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{watch, Notify};
use tokio::task::JoinError;
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, http::HeaderValue, protocol::WebSocketConfig,
    Message as WsMessage,
};

use super::backoff;
use super::batch::{flush, Batch, STORE_RETRY_BASE, STORE_RETRY_MAX};
use super::counters::DropReason;
use super::health::{HostLink, LinkState};
use super::host::HostContext;
use super::link::{End, Link};
use super::pipeline::{head_verdict, receive, settle_head, Pipeline};
use super::ratelimit::HostLimiter;
use super::verify::Verdict;
use super::{lock, Inner, USER_AGENT};
use crate::engine::outbound::Outbound;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle connection is pinged.
const PING_INTERVAL: Duration = Duration::from_secs(30);

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
                        // (`app::Relay::run`), and a restart recovers from what the log holds.
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
    Verdict(Box<Result<Verdict, JoinError>>),
    Tick,
    Flush,
    Resume,
    Growth,
    Shutdown,
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
        let flush_at = batch.due(inner.config.flush_interval);
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
                if batch.len() >= inner.config.max_batch {
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
