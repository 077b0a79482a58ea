//! Firehose consumers of the relay under test: real websocket clients over loopback.
//!
//! A [`Consumer`] counts the frames it receives and, when asked, reads each frame's `time`
//! (stamped by the load's host when it sent the frame) to record how long the frame took
//! from the upstream host through the relay to here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use atrelay_repo::syntax::datetime_utc_micros;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

/// What a consumer has seen so far, shared with its task.
#[derive(Debug, Default)]
pub struct Tally {
    /// Frames received.
    pub frames: AtomicU64,
    /// Upstream-to-here delays in milliseconds, when measured.
    pub delays_ms: Mutex<Vec<u32>>,
    /// When the first and the latest frame arrived.
    pub first_and_last: Mutex<Option<(Instant, Instant)>>,
    /// Why the connection ended, if it did.
    pub ended: Mutex<Option<String>>,
}

/// A running consumer.
pub struct Consumer {
    /// Its tally.
    pub tally: Arc<Tally>,
    task: tokio::task::JoinHandle<()>,
}

impl Consumer {
    /// Connects to `relay` (`host:port`) with `cursor` (none: live) and starts counting;
    /// `measure_delay` also records each frame's delay.
    ///
    /// # Errors
    /// The websocket handshake failed.
    pub async fn connect(relay: &str, cursor: Option<i64>, measure_delay: bool) -> Result<Self> {
        let url = match cursor {
            Some(cursor) => {
                format!("ws://{relay}/xrpc/com.atproto.sync.subscribeRepos?cursor={cursor}")
            }
            None => format!("ws://{relay}/xrpc/com.atproto.sync.subscribeRepos"),
        };
        let (mut socket, _) = tokio_tungstenite::connect_async(&url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let tally = Arc::new(Tally::default());
        let counting = tally.clone();
        let task = tokio::spawn(async move {
            let mut first = None;
            while let Some(message) = socket.next().await {
                match message {
                    Ok(Message::Binary(frame)) => {
                        let now = Instant::now();
                        let first = *first.get_or_insert(now);
                        if measure_delay {
                            if let Some(sent) = frame_time_ms(&frame) {
                                let delay = unix_ms().saturating_sub(sent);
                                lock(&counting.delays_ms)
                                    .push(u32::try_from(delay).unwrap_or(u32::MAX));
                            }
                        }
                        *lock(&counting.first_and_last) = Some((first, now));
                        counting.frames.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Message::Close(close)) => {
                        *lock(&counting.ended) = Some(format!("closed by the relay: {close:?}"));
                        break;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        *lock(&counting.ended) = Some(error.to_string());
                        break;
                    }
                }
            }
        });
        Ok(Self { tally, task })
    }

    /// Frames received so far.
    pub fn frames(&self) -> u64 {
        self.tally.frames.load(Ordering::Relaxed)
    }

    /// Stops the consumer.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Waits until every consumer has `goal` frames; fails when none of them makes progress for
/// `stall`, or one of them is disconnected first.
///
/// # Errors
/// A stall or a disconnect, with the counts reached.
pub async fn wait_for(consumers: &[Consumer], goal: u64, stall: Duration) -> Result<()> {
    let mut last_total = 0;
    let mut last_progress = Instant::now();
    loop {
        let total: u64 = consumers.iter().map(Consumer::frames).sum();
        if consumers.iter().all(|c| c.frames() >= goal) {
            return Ok(());
        }
        if let Some(ended) = consumers.iter().find_map(|c| lock(&c.tally.ended).clone()) {
            bail!("a consumer was disconnected before it had {goal} frames: {ended}");
        }
        if total > last_total {
            last_total = total;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > stall {
            let least = consumers.iter().map(Consumer::frames).min().unwrap_or(0);
            bail!("no frame for {stall:?}: the slowest consumer has {least} of {goal}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `time` a frame's body carries, in Unix milliseconds: the 24-character
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` text after the `time` key, found without decoding the frame.
pub fn frame_time_ms(frame: &[u8]) -> Option<u64> {
    // CBOR: text(4) "time", then text(24) with a one-byte length.
    const KEY: &[u8] = b"\x64time\x78\x18";
    let at = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let micros = datetime_utc_micros(std::str::from_utf8(frame.get(at..at + 24)?).ok()?)?;
    u64::try_from(micros / 1000).ok()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_time_the_format_writes() {
        let now = SystemTime::now();
        let text = atrelay_repo::syntax::format_datetime(now);
        let expected = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let mut frame = b"\xa2\x63seq\x01\x64time\x78\x18".to_vec();
        frame.extend_from_slice(text.as_bytes());
        assert_eq!(frame_time_ms(&frame), Some(expected));
        assert_eq!(frame_time_ms(b"no time here"), None);
    }
}
