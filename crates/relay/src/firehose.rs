//! `GET /xrpc/com.atproto.sync.subscribeRepos`: the relay's firehose.
//!
//! Each consumer gets its own event-log reader: replay strictly after its cursor, then live,
//! with the frames' bytes shared (`Bytes`) with every other consumer. Readers pull from the
//! log, so a slow consumer only falls behind; it never slows ingest or anyone else. One that
//! falls more than [`FirehoseConfig::max_lag`] events behind, or whose socket accepts nothing
//! for [`FirehoseConfig::send_timeout`], gets `ConsumerTooSlow` and is closed.

use std::{
    net::SocketAddr,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use axum::{
    extract::{
        ws::{Message as WsMessage, WebSocket},
        ConnectInfo, Query, State, WebSocketUpgrade,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use atrelay_eventlog::{Error as LogError, Start};
use atrelay_stream::{encode_frame, ErrorFrame, Info, Message};

use crate::{consumers::ConsumerSlot, state::AppState, xrpc::XrpcError};

/// How the firehose treats its consumers.
#[derive(Debug, Clone, Copy)]
pub struct FirehoseConfig {
    /// A consumer further behind the newest event than this is dropped with `ConsumerTooSlow`.
    pub max_lag: i64,
    /// A consumer whose socket takes no frame for this long is dropped with `ConsumerTooSlow`.
    pub send_timeout: Duration,
    /// An idle consumer is pinged this often, and dropped when it has not answered (any frame
    /// or pong) for three intervals.
    pub ping_interval: Duration,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        FirehoseConfig {
            max_lag: 100_000,
            send_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(30),
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
    State(state): State<AppState>,
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
        .max_frame_size(crate::consumers::MAX_INBOUND_FRAME_BYTES)
        .max_message_size(crate::consumers::MAX_INBOUND_MESSAGE_BYTES)
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
}

async fn serve_consumer(
    state: AppState,
    mut socket: WebSocket,
    cursor: Option<i64>,
    slot: &ConsumerSlot,
) -> Ended {
    let config = state.firehose;
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
                if reader.lag() > config.max_lag {
                    too_slow(&mut socket, "more events behind than the relay buffers", config).await;
                    return Ended::TooSlow;
                }
                if !send(&mut socket, event.into_body(), config.send_timeout).await {
                    too_slow(&mut socket, "the connection accepted no data", config).await;
                    return Ended::TooSlow;
                }
                slot.record_sent();
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return Ended::Disconnected,
                Some(Ok(_)) => last_heard = Instant::now(),
            },
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
