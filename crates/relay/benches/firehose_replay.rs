//! Cursor replay of a large log over real websockets to consumers in a separate process: one
//! consumer from cursor 0, then ten at once (aggregate events/s), with the raw event-log read
//! rate (a reader in this process, no socket) measured in the same run as the reference.
//!
//! `cargo bench -p atrelay --bench firehose_replay`. The relay is the real router on a loopback
//! port (SQLite store, event log with the default fsync policy) on a two-thread runtime; the
//! consumers are this binary re-run in client mode (tokio-tungstenite, counting frames without
//! decoding them), so they share the machine's cores with the relay but not its process.
//! `ATRELAY_BENCH_REPLAY_EVENTS` sets the log size (default 1,000,000) and
//! `ATRELAY_BENCH_FRAME_BYTES` the frame size (default 1,024).

#[path = "firehose_support/mod.rs"]
mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use support::{append_events, BenchRelay};

/// Set in the child: the firehose URL its consumers connect to.
const CLIENT_URL_ENV: &str = "ATRELAY_BENCH_REPLAY_CLIENT";
/// Set in the child: how many consumers it runs.
const CLIENT_CONSUMERS_ENV: &str = "ATRELAY_BENCH_REPLAY_CONSUMERS";
/// Set in the child: how many frames each consumer waits for.
const CLIENT_FRAMES_ENV: &str = "ATRELAY_BENCH_REPLAY_FRAMES";
/// A consumer making no progress for this long means the benchmark is broken.
const STALL: Duration = Duration::from_secs(60);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if let Ok(url) = std::env::var(CLIENT_URL_ENV) {
        client(
            &url,
            env_or(CLIENT_CONSUMERS_ENV, 1),
            env_or(CLIENT_FRAMES_ENV, 0) as u64,
        );
        return;
    }
    // `cargo test --benches` runs benchmarks with `--bench` absent: do nothing then.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let events = env_or("ATRELAY_BENCH_REPLAY_EVENTS", 1_000_000);
    let frame = env_or("ATRELAY_BENCH_FRAME_BYTES", 1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let relay = rt.block_on(BenchRelay::start(16));
    let log = relay.log.clone();
    let started = Instant::now();
    let last = rt.block_on(async move {
        tokio::task::spawn_blocking(move || append_events(&log, events, frame))
            .await
            .unwrap()
    });
    assert_eq!(last, events as i64);
    println!(
        "firehose_replay: {events} events of {frame} B appended in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let reference = rt.block_on(read_log(&relay, events));
    println!(
        "  reference, event-log reader from cursor 0, no socket: {:.0} events/s",
        reference
    );
    for consumers in [1, 10] {
        let before = rss_bytes();
        let (rate, peak) = with_peak_rss(|| replay_to_child(&relay, consumers, events as u64));
        println!(
            "  replay from cursor 0 over the socket, {consumers} consumer(s) in a child process: \
             {rate:.0} events/s in aggregate ({:.0} per consumer, {:.0} MB/s in aggregate)",
            rate / consumers as f64,
            rate * frame as f64 / 1e6,
        );
        println!(
            "    relay RSS {:.1} MiB before, peak {:.1} MiB during ({:.2} MiB more per consumer)",
            before as f64 / MIB,
            peak as f64 / MIB,
            peak.saturating_sub(before) as f64 / MIB / consumers as f64,
        );
    }
    // Ingest beside replay: appends (what ingest does per accepted event) timed alone, then
    // while ten consumers replay the whole log.
    let extra = events / 10;
    let alone = timed_appends(&relay, extra, frame);
    let (beside, replay_rate) = std::thread::scope(|scope| {
        let replay = scope.spawn(|| replay_to_child(&relay, 10, events as u64));
        let deadline = Instant::now() + STALL;
        while relay.state.consumers.len() < 10 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let beside = timed_appends(&relay, extra, frame);
        (beside, replay.join().unwrap())
    });
    println!(
        "  appends of {extra} more events: {alone:.0} events/s alone, {beside:.0} events/s while \
         10 consumers replay ({replay_rate:.0} events/s in aggregate), {:.0} % of alone",
        beside / alone * 100.0
    );
    assert_eq!(
        relay.state.consumers.len(),
        0,
        "a consumer is still connected"
    );
    rt.block_on(relay.finish());
}

const MIB: f64 = 1024.0 * 1024.0;

/// This process's resident set size (the relay runs in it; the consumers do not).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Runs `work` while sampling the RSS every 5 ms; its result and the peak seen.
fn with_peak_rss<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = rss_bytes();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        });
        let result = work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (result, sampler.join().unwrap())
    })
}

/// Appends `count` events of `frame` bytes and waits until they are durable; events/s.
fn timed_appends(relay: &BenchRelay, count: usize, frame: usize) -> f64 {
    let started = Instant::now();
    append_events(&relay.log, count, frame);
    count as f64 / started.elapsed().as_secs_f64()
}

/// Reads the whole log with an event-log reader; events/s.
async fn read_log(relay: &BenchRelay, events: usize) -> f64 {
    let mut reader = relay.log.reader(Some(0)).unwrap();
    let started = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..events {
        bytes += reader.next().await.unwrap().body().len();
    }
    assert!(bytes > 0);
    events as f64 / started.elapsed().as_secs_f64()
}

/// Runs `consumers` consumers from cursor 0 in a child process; aggregate events/s.
fn replay_to_child(relay: &BenchRelay, consumers: usize, frames: u64) -> f64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CLIENT_URL_ENV, relay.url(Some(0)))
        .env(CLIENT_CONSUMERS_ENV, consumers.to_string())
        .env(CLIENT_FRAMES_ENV, frames.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut rate = None;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(value) = line.strip_prefix("aggregate_events_per_second ") {
            rate = value.trim().parse::<f64>().ok();
        }
    }
    assert!(
        child.wait().unwrap().success(),
        "the consumer process failed"
    );
    // The relay notices the closed sockets shortly after.
    let deadline = Instant::now() + STALL;
    while !relay.state.consumers.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    rate.expect("the consumer process reported no rate")
}

/// Child mode: connects `consumers` websockets to `url` at once, counts `frames` binary frames
/// on each, and prints the aggregate rate (all frames over the time from the first connect to
/// the last frame).
fn client(url: &str, consumers: usize, frames: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(consumers);
        for _ in 0..consumers {
            let url = url.to_owned();
            tasks.push(tokio::spawn(async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
                let mut received = 0u64;
                while received < frames {
                    let message = tokio::time::timeout(STALL, ws.next())
                        .await
                        .expect("no frame for a minute")
                        .expect("the relay closed the stream")
                        .expect("the stream failed");
                    if message.is_binary() {
                        received += 1;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "aggregate_events_per_second {}",
            (frames * consumers as u64) as f64 / secs
        );
    });
}
