//! The splitter step: one `atrelay splitter` process follows the SQLite relay after its
//! ingest (from cursor 0), then 1,000 consumers replay the whole log from the splitter at once.
//! Measured: deliveries/s to all consumers together, and the splitter's memory per consumer
//! (RSS with the consumers connected and served, less RSS before they came, per consumer).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::consumer::{wait_for, Consumer};
use super::processes::{free_port, Process, Relay};
use super::procstat::{memory, Memory};

/// A consumer making no progress this long fails the step.
const STALL: Duration = Duration::from_secs(60);

/// What the splitter step measured.
#[derive(Debug, Clone)]
pub struct SplitterFigures {
    /// Consumers served at once.
    pub consumers: usize,
    /// Events each consumer received.
    pub events: u64,
    /// From the first connection to the last consumer's last frame.
    pub elapsed: Duration,
    /// The splitter's memory before the consumers connected.
    pub before: Memory,
    /// Its memory with every consumer connected and served.
    pub after: Memory,
}

impl SplitterFigures {
    /// Frames delivered per second, all consumers together.
    pub fn deliveries_per_sec(&self) -> f64 {
        (self.consumers as u64 * self.events) as f64 / self.elapsed.as_secs_f64()
    }

    /// RSS added per connected consumer, in bytes.
    pub fn rss_per_consumer(&self) -> f64 {
        self.after.rss.saturating_sub(self.before.rss) as f64 / self.consumers as f64
    }
}

/// Starts a splitter of `relay` in `work_dir` (emptied first), waits until it holds the
/// relay's `events` events, and serves them to `consumers` consumers from cursor 0.
///
/// # Errors
/// The splitter did not start or catch up, or a consumer stalled or was dropped.
pub async fn fan_out(
    binary: &Path,
    relay: &Relay,
    work_dir: &Path,
    events: u64,
    consumers: usize,
) -> Result<SplitterFigures> {
    if work_dir.exists() {
        std::fs::remove_dir_all(work_dir)
            .with_context(|| format!("clearing {}", work_dir.display()))?;
    }
    std::fs::create_dir_all(work_dir)?;
    let api = format!("127.0.0.1:{}", free_port()?);
    let metrics = format!("127.0.0.1:{}", free_port()?);
    let log = std::fs::File::create(work_dir.join("splitter.log"))?;
    let limit = (consumers + 16).to_string();
    let child = Command::new(binary)
        .arg("splitter")
        .args(["--upstream", &format!("ws://{}", relay.api)])
        .arg("--persist-dir")
        .arg(work_dir.join("persist"))
        .args(["--bind", &api, "--metrics-listen", &metrics])
        .args(["--start-cursor", "0"])
        .args(["--max-consumers", &limit, "--max-consumers-per-ip", &limit])
        .args(["--log-level", "warn"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {} splitter", binary.display()))?;
    let mut splitter = Process::new(child, "atrelay splitter");
    let newest = newest_seq(relay).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        splitter.check_running()?;
        if stored_seq(&api).await.is_ok_and(|seq| seq >= newest) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the splitter did not store the relay's events (up to seq {newest}) in 5 minutes"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = memory(splitter.pid())?;
    let started = Instant::now();
    let mut connected = Vec::with_capacity(consumers);
    for _ in 0..consumers {
        connected.push(Consumer::connect(&api, Some(0), false).await?);
    }
    wait_for(&connected, events, STALL).await?;
    let elapsed = started.elapsed();
    let after = memory(splitter.pid())?;
    for consumer in &connected {
        consumer.stop();
    }
    Ok(SplitterFigures {
        consumers,
        events,
        elapsed,
        before,
        after,
    })
}

/// The relay's newest seq, from its metrics (`atrelay_eventlog_newest_seq`).
async fn newest_seq(relay: &Relay) -> Result<i64> {
    let text = reqwest::get(format!("http://{}/metrics", relay.metrics))
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|line| line.strip_prefix("atrelay_eventlog_newest_seq "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|seq| seq as i64)
        .context("no atrelay_eventlog_newest_seq in the relay's metrics")
}

/// The newest seq the splitter stored (its `/status`).
async fn stored_seq(api: &str) -> Result<i64> {
    let status: serde_json::Value = reqwest::get(format!("http://{api}/status"))
        .await?
        .json()
        .await?;
    status["log"]["newestSeq"]
        .as_i64()
        .context("no log.newestSeq in /status")
}
