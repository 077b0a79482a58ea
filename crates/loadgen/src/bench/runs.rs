//! The measured runs: each starts a fresh relay on a load served by another process and
//! reads the relay's CPU and memory from `/proc`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::consumer::{wait_for, Consumer};
use super::processes::{start_load, Process, Relay, RelaySetup};
use super::procstat::{cpu_time, memory, Memory};

/// A consumer making no progress for this long means the run is broken.
const STALL: Duration = Duration::from_secs(120);

/// What one ingest run measured.
#[derive(Debug, Clone, Default)]
pub struct IngestFigures {
    /// Events the load sent (and every consumer received).
    pub events: u64,
    /// From `requestCrawl` until the last consumer had every event.
    pub elapsed: Duration,
    /// CPU the relay used in that time.
    pub cpu: Duration,
    /// Largest resident memory sampled during the run, in bytes.
    pub peak_rss: u64,
    /// The anonymous part of the last sample (heap, stacks), in bytes; the rest of the resident
    /// memory is file pages (the binary, mapped files) the kernel can drop.
    pub rss_anon: u64,
    /// The delay-measuring consumer's rate: frames from its first to its last.
    pub live_per_sec: f64,
    /// Upstream-to-consumer delay percentiles (p50, p99), in milliseconds.
    pub delay_ms: Option<(u32, u32)>,
    /// Consumers connected during the run (the delay-measuring one included).
    pub consumers: usize,
    /// Events the relay says it dropped (`atrelay_ingest_dropped_events_total`).
    pub dropped: u64,
}

impl IngestFigures {
    /// Events per second through ingest.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    /// Milliseconds of relay CPU per event.
    pub fn cpu_ms_per_event(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.events.max(1) as f64
    }

    /// Cores the relay kept busy on average.
    pub fn cores(&self) -> f64 {
        self.cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }

    /// Frames delivered per second over every consumer.
    pub fn deliveries_per_sec(&self) -> f64 {
        (self.events * self.consumers as u64) as f64 / self.elapsed.as_secs_f64()
    }
}

/// A relay that has ingested a load, kept running for the measurements that follow.
pub struct Ingested {
    /// The relay.
    pub relay: Relay,
    /// The load's process, kept running so its hosts stay connected (quiet).
    _load: Process,
    /// The figures.
    pub figures: IngestFigures,
}

/// How an ingest run is set up.
pub struct IngestRun<'a> {
    /// The load directory.
    pub load_dir: &'a Path,
    /// Events each host sends at most.
    pub limit: Option<usize>,
    /// Events per second over all hosts (`None`: as fast as the relay reads).
    pub rate: Option<f64>,
    /// The relay binary, database and scratch directory (`plc_host` is filled in).
    pub relay: RelaySetup,
    /// Counting-only consumers connected besides the delay-measuring one.
    pub extra_consumers: usize,
    /// Record a CPU profile of the relay with `perf` into this file.
    pub perf_output: Option<&'a Path>,
}

/// Starts the load and a fresh relay, connects the consumers, asks the relay to crawl every
/// host and waits until every consumer has every event.
///
/// # Errors
/// A process that does not start, a refused crawl, a stalled or disconnected consumer.
pub async fn ingest(run: IngestRun<'_>) -> Result<Ingested> {
    let (load, endpoints) = start_load(run.load_dir, run.limit, run.rate)?;
    let mut setup = run.relay;
    setup.plc_host = endpoints.directory.clone();
    let mut relay = Relay::start(&setup).await?;
    let mut consumers = vec![Consumer::connect(&relay.api, None, true).await?];
    for _ in 0..run.extra_consumers {
        consumers.push(Consumer::connect(&relay.api, None, false).await?);
    }
    let pid = relay.process.pid();
    let perf = match run.perf_output {
        Some(output) => Some(start_perf(pid, output)?),
        None => None,
    };
    let cpu_before = cpu_time(pid)?;
    let started = Instant::now();
    relay.request_crawl(&endpoints.hosts).await?;
    let mut peak_rss = 0;
    let waiting = wait_for(&consumers, endpoints.events, STALL);
    tokio::pin!(waiting);
    loop {
        tokio::select! {
            result = &mut waiting => { result?; break; }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                relay.process.check_running()?;
                let sample = memory(pid)?;
                peak_rss = peak_rss.max(sample.rss);
            }
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time(pid)?.saturating_sub(cpu_before);
    let sample = memory(pid)?;
    peak_rss = peak_rss.max(sample.rss);
    if let Some(perf) = perf {
        stop_perf(perf)?;
    }
    let live = &consumers[0].tally;
    let live_per_sec = match *live
        .first_and_last
        .lock()
        .unwrap_or_else(|e| e.into_inner())
    {
        Some((first, last)) if last > first => {
            endpoints.events.saturating_sub(1) as f64 / (last - first).as_secs_f64()
        }
        _ => 0.0,
    };
    let delay_ms = percentiles(&mut live.delays_ms.lock().unwrap_or_else(|e| e.into_inner()));
    for consumer in &consumers {
        consumer.stop();
    }
    let dropped = dropped_events(&relay).await.unwrap_or(0);
    Ok(Ingested {
        relay,
        _load: load,
        figures: IngestFigures {
            events: endpoints.events,
            elapsed,
            cpu,
            peak_rss,
            rss_anon: sample.anon,
            live_per_sec,
            delay_ms,
            consumers: consumers.len(),
            dropped,
        },
    })
}

/// Replays the relay's whole log to one consumer from cursor 0 over the socket; events/s.
///
/// # Errors
/// A stalled or disconnected consumer.
pub async fn replay(relay: &Relay, events: u64) -> Result<f64> {
    let started = Instant::now();
    let consumer = Consumer::connect(&relay.api, Some(0), false).await?;
    wait_for(std::slice::from_ref(&consumer), events, STALL).await?;
    let rate = events as f64 / started.elapsed().as_secs_f64();
    consumer.stop();
    Ok(rate)
}

/// The relay's CPU use (share of one core) over `window` with nothing happening, and its
/// memory at the end.
///
/// # Errors
/// The relay is gone.
pub async fn idle(relay: &Relay, window: Duration) -> Result<(f64, Memory)> {
    let pid = relay.process.pid();
    let before = cpu_time(pid)?;
    tokio::time::sleep(window).await;
    let used = cpu_time(pid)?.saturating_sub(before);
    Ok((used.as_secs_f64() / window.as_secs_f64(), memory(pid)?))
}

/// The `(p50, p99)` of `values`, sorting them.
fn percentiles(values: &mut [u32]) -> Option<(u32, u32)> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some((at(0.50), at(0.99)))
}

/// The sum of `atrelay_ingest_dropped_events_total` on the relay's metrics endpoint.
async fn dropped_events(relay: &Relay) -> Result<u64> {
    let text = reqwest::get(format!("http://{}/metrics", relay.metrics))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with("atrelay_ingest_dropped_events_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

fn start_perf(pid: u32, output: &Path) -> Result<(std::process::Child, std::path::PathBuf)> {
    let child = std::process::Command::new("perf")
        .args(["record", "-F", "499", "-g", "-p", &pid.to_string(), "-o"])
        .arg(output)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting perf (is it installed?)")?;
    Ok((child, output.to_owned()))
}

fn stop_perf((mut perf, output): (std::process::Child, std::path::PathBuf)) -> Result<()> {
    // perf writes its file when interrupted; how it then exits varies between versions, so
    // the file is what is checked.
    // SAFETY: kill with a valid pid and signal has no memory-safety preconditions.
    unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
    perf.wait()?;
    let written = std::fs::metadata(&output).map_or(0, |m| m.len());
    if written == 0 {
        bail!("perf record wrote no profile to {}", output.display());
    }
    Ok(())
}
