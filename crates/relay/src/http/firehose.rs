//! `GET /xrpc/com.atproto.sync.subscribeRepos`: the relay's firehose.
//!
//! Each consumer gets its own event-log reader: replay strictly after its cursor, then live,
//! with the frames' bytes shared (`Bytes`) with every other consumer. Readers pull from the
//! log, so a slow consumer only falls behind; it never slows ingest or anyone else.
//!
//! **Replay.** Any cursor inside the retained window is served completely, oldest to newest,
//! then live without a gap or duplicate; a cursor older than the window gets
//! `#info OutdatedCursor` and the whole window; one ahead of the newest event gets
//! `FutureCursor` and is closed. A replaying consumer reads from the segment files in bounded
//! batches, paced by its own socket: it is never refused for being far behind, and its memory
//! (one read batch, the websocket write buffer) does not depend on the distance. Frames are
//! written in runs (every event the reader has at hand, up to [`MAX_RUN`]) and the socket is
//! flushed once per run, not once per frame.
//!
//! **Slow consumers** (`ConsumerTooSlow`, then the socket is closed), the rule indigo applies
//! with its 16,384-event buffer per live subscriber, made tolerant of short stalls:
//!
//! - a consumer that has caught up with the live head once (its reader went live) and is then
//!   more than [`FirehoseConfig::max_lag`] events behind the head continuously for longer than
//!   [`FirehoseConfig::too_slow_after`] (`--consumer-max-lag`, `--consumer-too-slow-after`);
//! - a consumer whose socket accepts nothing for [`FirehoseConfig::send_timeout`];
//! - a consumer so far behind that retention deleted events it had not read yet.
//!
//! A consumer still replaying towards the head is never dropped for its distance (indigo
//! does not drop during playback either).

use std::{
    net::SocketAddr,
    sync::{atomic::Ordering, Arc},
    task::Poll,
    time::{Duration, Instant, SystemTime},
};

use axum::{
    extract::{
        ws::{Message as WsMessage, WebSocket},
        ConnectInfo, FromRef, Query, State, WebSocketUpgrade,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::SinkExt;
use serde::Deserialize;

use atrelay_eventlog::{Error as LogError, Event, EventLog, Reader, Start};
use atrelay_stream::{encode_frame, ErrorFrame, Info, Message};

use crate::{
    config::FirehoseConfig,
    engine::consumers::{ConsumerSlot, Consumers},
    http::xrpc::XrpcError,
    state::AppState,
};

/// Most frames written to a consumer's socket between two flushes.
pub const MAX_RUN: usize = 1024;

/// What serving `subscribeRepos` needs: the log to read, the consumer registry and the
/// slow-consumer policy. The relay and the splitter (`crate::splitter`) each build one from
/// their own state (`FromRef`), so both serve the same firehose code.
#[derive(Clone)]
pub struct Firehose {
    /// The sequenced event log consumers read.
    pub log: EventLog,
    /// Connected consumers and their limits.
    pub consumers: Arc<Consumers>,
    /// How consumers are treated.
    pub config: FirehoseConfig,
}

impl FromRef<AppState> for Firehose {
    fn from_ref(state: &AppState) -> Self {
        Firehose {
            log: state.log.clone(),
            consumers: state.consumers.clone(),
            config: state.firehose,
        }
    }
}

/// Query parameters of `subscribeRepos`.
#[derive(Debug, Deserialize)]
pub struct SubscribeParams {
    cursor: Option<String>,
}

/// Checks the request, admits the consumer and upgrades to a websocket.
pub async fn subscribe_repos(
    State(state): State<Firehose>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    Query(params): Query<SubscribeParams>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let cursor = match parse_cursor(params.cursor.as_deref()) {
        Ok(cursor) => cursor,
        Err(error) => return error.into_response(),
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let slot = match state.consumers.admit(remote, user_agent) {
        Ok(slot) => slot,
        Err(refusal) => {
            return XrpcError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RateLimitExceeded",
                refusal.to_string(),
            )
            .into_response()
        }
    };
    // Consumers only send control frames: a small read buffer instead of tungstenite's 128 KiB,
    // which every connection fills with zeros on its first read (133 KiB of RSS per idle
    // consumer; see the firehose_idle benchmark).
    upgrade
        .max_frame_size(crate::engine::consumers::MAX_INBOUND_FRAME_BYTES)
        .max_message_size(crate::engine::consumers::MAX_INBOUND_MESSAGE_BYTES)
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| async move {
            let ended = serve_consumer(state, socket, cursor, &slot).await;
            let sent = slot.sent.load(Ordering::Relaxed);
            match ended {
                Ended::LogStopped(reason) => {
                    tracing::warn!(%remote, sent, %reason, "consumer closed: event log stopped")
                }
                other => tracing::debug!(%remote, sent, ended = ?other, "consumer gone"),
            }
        })
}

/// `cursor` absent is live; otherwise a non-negative integer.
fn parse_cursor(raw: Option<&str>) -> Result<Option<i64>, XrpcError> {
    match raw {
        None | Some("") => Ok(None),
        Some(raw) => match raw.parse::<i64>() {
            Ok(cursor) if cursor >= 0 => Ok(Some(cursor)),
            _ => Err(XrpcError::invalid_request(format!(
                "cursor must be a non-negative integer, got {raw:?}"
            ))),
        },
    }
}

/// Why a consumer's connection ended.
#[derive(Debug)]
enum Ended {
    /// The consumer closed, or its socket failed.
    Disconnected,
    /// The cursor was ahead of the stream.
    FutureCursor,
    /// The consumer fell behind.
    TooSlow,
    /// It stopped answering pings.
    Unresponsive,
    /// The event log stopped (shutdown) or failed.
    LogStopped(String),
    /// An operator disconnected it (`/admin/consumers/disconnect`).
    Kicked,
}

async fn serve_consumer(
    state: Firehose,
    mut socket: WebSocket,
    cursor: Option<i64>,
    slot: &ConsumerSlot,
) -> Ended {
    let config = state.config;
    let mut reader = match state.log.reader(cursor) {
        Ok(reader) => reader,
        Err(LogError::FutureCursor { cursor, newest }) => {
            let frame = ErrorFrame::future_cursor(Some(format!(
                "cursor {cursor} is ahead of the newest event {newest}"
            )));
            send_and_close(&mut socket, Message::Error(frame), config.send_timeout).await;
            return Ended::FutureCursor;
        }
        Err(error) => return Ended::LogStopped(error.to_string()),
    };
    if let Start::Outdated { cursor, oldest } = reader.start() {
        let message = match oldest {
            Some(oldest) => format!(
                "cursor {cursor} is older than the oldest stored event {oldest}; replaying the whole window"
            ),
            None => format!("cursor {cursor} is older than the stored window, which is empty"),
        };
        let info = encode_frame(&Message::Info(Info::outdated_cursor(Some(message))));
        if !send(&mut socket, info, config.send_timeout).await {
            return Ended::Disconnected;
        }
    }

    let mut ping = tokio::time::interval(config.ping_interval);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut pace = Pace::default();
    let mut run_times = Vec::with_capacity(MAX_RUN);
    loop {
        tokio::select! {
            event = reader.next() => {
                let event = match event {
                    Ok(event) => event,
                    Err(LogError::FellBehind { .. }) => {
                        too_slow(&mut socket, "fell behind the event log's retention", config).await;
                        return Ended::TooSlow;
                    }
                    Err(error) => {
                        let _ = socket.send(WsMessage::Close(None)).await;
                        return Ended::LogStopped(error.to_string());
                    }
                };
                if !send_run(&mut socket, &mut reader, event, slot, config.send_timeout, &mut run_times).await {
                    too_slow(&mut socket, "the connection accepted no data", config).await;
                    return Ended::TooSlow;
                }
                observe_run(&reader, &run_times);
                slot.record_lag(reader.lag().max(0));
                if pace.too_slow(reader.is_live(), reader.lag(), config, Instant::now()) {
                    let why = format!(
                        "more than {} events behind the live head for over {} s",
                        config.max_lag,
                        config.too_slow_after.as_secs_f64()
                    );
                    too_slow(&mut socket, &why, config).await;
                    return Ended::TooSlow;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return Ended::Disconnected,
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            () = slot.kicked() => {
                let _ = socket.send(WsMessage::Close(None)).await;
                return Ended::Kicked;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > config.ping_interval * 3 {
                    let _ = socket.send(WsMessage::Close(None)).await;
                    return Ended::Unresponsive;
                }
                if !send_ping(&mut socket, config.send_timeout).await {
                    return Ended::Disconnected;
                }
            }
        }
    }
}

/// Whether a consumer keeps up with the live head: the `ConsumerTooSlow` rule.
#[derive(Debug, Default)]
struct Pace {
    /// The consumer has caught up with the head at least once (before that it replays and is
    /// never too slow).
    caught_up: bool,
    /// Since when it has been more than `max_lag` behind, without a break.
    behind_since: Option<Instant>,
}

impl Pace {
    /// Looks at the reader after a run of frames (`live`: it follows the live feed; `lag`:
    /// events ahead of it); true once the consumer has been too far behind for too long.
    fn too_slow(&mut self, live: bool, lag: i64, config: FirehoseConfig, now: Instant) -> bool {
        self.caught_up |= live;
        if !self.caught_up || lag <= config.max_lag {
            self.behind_since = None;
            return false;
        }
        let since = *self.behind_since.get_or_insert(now);
        now.duration_since(since) > config.too_slow_after
    }
}

/// Writes `first` and every further event the reader has at hand (up to [`MAX_RUN`]) without
/// flushing in between, then flushes, noting each event's time in `times`; false when the
/// socket failed or accepted nothing for `timeout`.
async fn send_run(
    socket: &mut WebSocket,
    reader: &mut Reader,
    first: Event,
    slot: &ConsumerSlot,
    timeout: Duration,
    times: &mut Vec<SystemTime>,
) -> bool {
    times.clear();
    times.push(first.time());
    if !feed(socket, first.into_body(), timeout).await {
        return false;
    }
    slot.record_sent();
    for _ in 1..MAX_RUN {
        let Some(event) = reader.try_next() else {
            break;
        };
        times.push(event.time());
        if !feed(socket, event.into_body(), timeout).await {
            return false;
        }
        slot.record_sent();
    }
    matches!(
        tokio::time::timeout(timeout, socket.flush()).await,
        Ok(Ok(()))
    )
}

/// Records a consumer's lag after a run, and, once it follows the live feed, each event's
/// upstream-to-consumer latency from the `times` the log gave the run's events (a replay's
/// age says nothing about delivery).
fn observe_run(reader: &Reader, times: &[SystemTime]) {
    let instruments = crate::metrics::instruments();
    instruments
        .consumer_lag_events
        .observe(reader.lag().max(0) as f64);
    if reader.is_live() {
        let flushed = SystemTime::now();
        for time in times {
            if let Ok(age) = flushed.duration_since(*time) {
                instruments.delivery_seconds.observe(age.as_secs_f64());
            }
        }
    }
}

/// Queues one binary frame in the socket's write buffer (which writes itself out when full);
/// false when the socket failed or took longer than `timeout`. The timer is only armed when
/// the socket is not ready at once: most frames go into the buffer without waiting.
async fn feed(socket: &mut WebSocket, frame: bytes::Bytes, timeout: Duration) -> bool {
    let mut feed = socket.feed(WsMessage::Binary(frame));
    if let Poll::Ready(result) = futures_util::poll!(&mut feed) {
        return result.is_ok();
    }
    matches!(tokio::time::timeout(timeout, feed).await, Ok(Ok(())))
}

/// Sends one binary frame; false when the socket failed or took longer than `timeout`.
async fn send(socket: &mut WebSocket, frame: bytes::Bytes, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, socket.send(WsMessage::Binary(frame))).await,
        Ok(Ok(()))
    )
}

async fn send_ping(socket: &mut WebSocket, timeout: Duration) -> bool {
    let ping = WsMessage::Ping(bytes::Bytes::from_static(b"atrelay"));
    matches!(
        tokio::time::timeout(timeout, socket.send(ping)).await,
        Ok(Ok(()))
    )
}

async fn too_slow(socket: &mut WebSocket, why: &str, config: FirehoseConfig) {
    let frame = ErrorFrame::consumer_too_slow(Some(format!("consumer too slow: {why}")));
    // A stalled socket may never take the error frame; do not wait on it for long.
    send_and_close(
        socket,
        Message::Error(frame),
        config.send_timeout.min(Duration::from_secs(1)),
    )
    .await;
}

async fn send_and_close(socket: &mut WebSocket, message: Message, timeout: Duration) {
    if send(socket, encode_frame(&message), timeout).await {
        let _ = tokio::time::timeout(timeout, socket.send(WsMessage::Close(None))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_caught_up_consumer_behind_for_long_is_too_slow() {
        let config = FirehoseConfig {
            max_lag: 100,
            too_slow_after: Duration::from_secs(10),
            ..FirehoseConfig::default()
        };
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut pace = Pace::default();
        // Replaying from far behind: never too slow, however long.
        assert!(!pace.too_slow(false, 1_000_000, config, at(0)));
        assert!(!pace.too_slow(false, 1_000_000, config, at(3600)));
        // Caught up once; then behind, but not for long enough.
        assert!(!pace.too_slow(true, 0, config, at(3601)));
        assert!(!pace.too_slow(false, 5_000, config, at(3602)));
        assert!(!pace.too_slow(false, 5_000, config, at(3612)));
        // Back within the bound restarts the clock.
        assert!(!pace.too_slow(true, 100, config, at(3613)));
        assert!(!pace.too_slow(false, 101, config, at(3614)));
        assert!(!pace.too_slow(false, 101, config, at(3624)));
        // Behind without a break for longer than `too_slow_after`.
        assert!(pace.too_slow(false, 101, config, at(3625)));
    }

    #[test]
    fn cursor_parsing() {
        assert_eq!(parse_cursor(None), Ok(None));
        assert_eq!(parse_cursor(Some("")), Ok(None));
        assert_eq!(parse_cursor(Some("0")), Ok(Some(0)));
        assert_eq!(
            parse_cursor(Some("9007199254740993")),
            Ok(Some(9_007_199_254_740_993))
        );
        for bad in ["-1", "abc", "1.5", "99999999999999999999"] {
            assert_eq!(
                parse_cursor(Some(bad)).unwrap_err().error,
                "InvalidRequest",
                "{bad}"
            );
        }
    }
}
