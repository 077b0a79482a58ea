//! The follower: subscribes to the upstream's `subscribeRepos` after the newest stored seq and
//! appends each frame to the splitter's log as received, bytes and seq unchanged (no
//! verification, no re-sequencing), reconnecting with backoff.
//!
//! The cursor is the log itself: after a crash the log holds every durable frame, and the next
//! subscription starts after the newest one, so nothing is stored twice or skipped. Frames the
//! upstream sends again after a reconnect (seq not above the newest stored) are dropped.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, SystemTime},
};

use atrelay_eventlog::{EventLog, Ticket};
use atrelay_repo::syntax::datetime_utc_micros;
use atrelay_stream::{decode_frame_bytes, Message, FUTURE_CURSOR, MAX_FRAME_SIZE, OUTDATED_CURSOR};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{self, protocol::WebSocketConfig};

use super::config::Upstream;
use super::status::{Phase, UpstreamStatus};
use crate::engine::ingest::events::{KIND_ACCOUNT, KIND_COMMIT, KIND_IDENTITY, KIND_SYNC};

/// First wait after a failure; doubles up to the configured maximum.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest a dial (TCP, TLS, websocket handshake) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection silent this long (no frame, no ping) is dropped and dialled again.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Appends not yet durable before the follower waits for the log to catch up.
const MAX_IN_FLIGHT: i64 = 4096;

/// Follows one upstream into one log.
pub struct Follower {
    /// The upstream relay.
    pub upstream: Upstream,
    /// The splitter's log.
    pub log: EventLog,
    /// Shared connection state and counters.
    pub status: Arc<UpstreamStatus>,
    /// Cursor of the first subscription when the log is empty.
    pub start_cursor: Option<i64>,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
}

/// How one connection ended.
enum Ended {
    /// The splitter is stopping.
    Stopped,
    /// The upstream is behind the stored log (`FutureCursor`).
    UpstreamBehind(String),
    /// Anything else: dial failure, closed socket, error frame, log failure.
    Failed(String),
}

impl Follower {
    /// Follows the upstream until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = BACKOFF_BASE;
        loop {
            if *stop.borrow() {
                break;
            }
            let stored_before = self.status.frames_in.load(Ordering::Relaxed);
            self.status.set(Phase::Connecting, None);
            match self.follow_once(&mut stop).await {
                Ended::Stopped => break,
                Ended::UpstreamBehind(why) => {
                    tracing::error!(
                        upstream = %self.upstream.ws_base,
                        newest_stored = self.log.newest_seq(),
                        %why,
                        "upstream answered FutureCursor: it is behind this splitter's log (was it reset or replaced?); \
                         keeping the stored events and retrying. If the upstream really started a new numbering, \
                         stop the splitter and empty its --persist-dir"
                    );
                    self.status.set(Phase::UpstreamBehind, Some(why));
                }
                Ended::Failed(why) => {
                    tracing::warn!(upstream = %self.upstream.ws_base, %why, "upstream connection ended");
                    self.status.set(Phase::Backoff, Some(why));
                }
            }
            if self.status.frames_in.load(Ordering::Relaxed) > stored_before {
                backoff = BACKOFF_BASE;
            }
            let wait = backoff.mul_f64(1.0 + fastrand::f64() * 0.25);
            backoff = (backoff * 2).min(self.max_backoff.max(BACKOFF_BASE));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stopped(&mut stop) => break,
            }
        }
        self.status.set(Phase::Stopped, None);
    }

    /// The cursor of the next subscription: after the newest stored seq, or the configured
    /// start for an empty log.
    fn cursor(&self) -> Option<i64> {
        match self.log.newest_seq() {
            newest if newest > 0 => Some(newest),
            _ => self.start_cursor,
        }
    }

    /// One connection: dial, then store frames until it ends.
    async fn follow_once(&self, stop: &mut watch::Receiver<bool>) -> Ended {
        // Appends of the previous connection still queued become durable first, so the cursor
        // (the newest durable seq) is above every seq the log has taken.
        let log = self.log.clone();
        match tokio::task::spawn_blocking(move || log.flush()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Ended::Failed(format!("event log: {error}")),
            Err(error) => return Ended::Failed(format!("event log flush task: {error}")),
        }
        let cursor = self.cursor();
        let url = self.upstream.subscribe_url(cursor);
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_SIZE * 2))
            .max_frame_size(Some(MAX_FRAME_SIZE * 2));
        let dial = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false);
        let mut socket = tokio::select! {
            dialled = tokio::time::timeout(DIAL_TIMEOUT, dial) => match dialled {
                Ok(Ok((socket, _))) => socket,
                Ok(Err(error)) => return Ended::Failed(format!("dial {url}: {error}")),
                Err(_) => return Ended::Failed(format!("dial {url}: no answer within {DIAL_TIMEOUT:?}")),
            },
            () = stopped(stop) => return Ended::Stopped,
        };
        self.status.connects.fetch_add(1, Ordering::Relaxed);
        self.status.set(Phase::Connected, None);
        tracing::info!(upstream = %self.upstream.ws_base, ?cursor, "following the upstream");

        let mut newest = self.log.newest_seq();
        loop {
            let message = tokio::select! {
                message = tokio::time::timeout(IDLE_TIMEOUT, socket.next()) => message,
                () = stopped(stop) => {
                    let _ = socket.close(None).await;
                    return Ended::Stopped;
                }
            };
            let frame = match message {
                Err(_) => return Ended::Failed(format!("nothing heard for {IDLE_TIMEOUT:?}")),
                Ok(None) => return Ended::Failed("the upstream closed the stream".to_owned()),
                Ok(Some(Err(error))) => return Ended::Failed(format!("read: {error}")),
                Ok(Some(Ok(tungstenite::Message::Binary(frame)))) => frame,
                Ok(Some(Ok(tungstenite::Message::Close(close)))) => {
                    return Ended::Failed(format!("the upstream closed the stream: {close:?}"))
                }
                Ok(Some(Ok(_))) => continue,
            };
            match self.store(frame, &mut newest) {
                // Bounds the log's queue; otherwise durability is the log's business.
                Ok(Some(ticket)) if ticket.seq() - self.log.newest_seq() > MAX_IN_FLIGHT => {
                    if let Err(error) = ticket.durable().await {
                        return Ended::Failed(format!("event log: {error}"));
                    }
                }
                Ok(_) => {}
                Err(ended) => return ended,
            }
        }
    }

    /// Stores one upstream frame; `Ok(None)` when it is not stored (no seq, or already held).
    fn store(&self, frame: Bytes, newest: &mut i64) -> Result<Option<Ticket>, Ended> {
        let received = SystemTime::now();
        let message = match decode_frame_bytes(&frame) {
            Ok(message) => message,
            Err(error) => {
                self.status.frames_skipped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "upstream frame does not decode; skipped");
                return Ok(None);
            }
        };
        let (seq, did) = match (&message, message.seq(), message.did()) {
            (Message::Error(error), _, _) => {
                let why = format!(
                    "upstream error frame {}: {}",
                    error.error,
                    error.message.as_deref().unwrap_or_default()
                );
                return Err(if error.error == FUTURE_CURSOR {
                    Ended::UpstreamBehind(why)
                } else {
                    Ended::Failed(why)
                });
            }
            (Message::Info(info), _, _) => {
                self.status.frames_skipped.fetch_add(1, Ordering::Relaxed);
                if info.name == OUTDATED_CURSOR {
                    tracing::warn!(
                        cursor = *newest,
                        message = info.message.as_deref().unwrap_or_default(),
                        "upstream says our cursor is older than its window: events between were missed"
                    );
                } else {
                    tracing::info!(name = %info.name, "upstream #info");
                }
                return Ok(None);
            }
            (_, Some(seq), Some(did)) => (seq, did),
            _ => {
                self.status.frames_skipped.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
        };
        self.status.last_read_seq.store(seq, Ordering::Relaxed);
        if seq <= *newest {
            self.status.frames_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let kind = match message {
            Message::Commit(_) => KIND_COMMIT,
            Message::Identity(_) => KIND_IDENTITY,
            Message::Account(_) => KIND_ACCOUNT,
            _ => KIND_SYNC,
        };
        if let Some(time) = message.time().and_then(datetime_utc_micros) {
            self.status
                .last_event_time_us
                .store(time, Ordering::Relaxed);
        }
        let ticket = self
            .log
            .append_with_seq(seq, did, kind, received, frame)
            .map_err(|error| Ended::Failed(format!("event log: {error}")))?;
        *newest = seq;
        self.status.frames_in.fetch_add(1, Ordering::Relaxed);
        Ok(Some(ticket))
    }
}

/// Completes once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
