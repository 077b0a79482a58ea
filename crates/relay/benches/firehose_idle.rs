//! Memory per idle firehose consumer: the relay's resident memory before and after 1,000 live
//! websocket consumers connect (and after each has been sent one frame), divided by their
//! number. The consumers run in a child process (this binary, re-run in client mode) so that
//! their own memory is not counted.
//!
//! `cargo bench -p atrelay --bench firehose_idle`; `ATRELAY_BENCH_CONSUMERS` changes the count.

#[path = "firehose_support/mod.rs"]
mod support;

use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
    time::Duration,
};

use futures_util::StreamExt;
use support::{append_events, rss_bytes, wait_for_consumers, BenchRelay};

/// Set in the child: the firehose URL it connects its consumers to.
const CLIENT_ENV: &str = "ATRELAY_BENCH_IDLE_CLIENT";

fn consumers() -> usize {
    std::env::var("ATRELAY_BENCH_CONSUMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn main() {
    if let Ok(url) = std::env::var(CLIENT_ENV) {
        client(&url, consumers());
        return;
    }
    let count = consumers();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let relay = rt.block_on(BenchRelay::start(count + 8));

    // One consumer first, so that one-time allocations are not counted per consumer.
    let (child, _) = spawn_clients(&relay.url(None), 1);
    rt.block_on(wait_for_consumers(&relay, 1));
    finish_clients(child);
    rt.block_on(wait_until_gone(&relay));

    std::thread::sleep(Duration::from_secs(1));
    let before = rss_bytes();
    let (child, connected) = spawn_clients(&relay.url(None), count);
    rt.block_on(wait_for_consumers(&relay, count));
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_bytes();

    // Each consumer is sent one 1 KiB frame: what a consumer costs once it has been written to.
    append_events(&relay.log, 1, 1024);
    std::thread::sleep(Duration::from_secs(2));
    let after_frame = rss_bytes();
    let sent = relay.state.consumers.frames_sent();

    finish_clients(child);
    rt.block_on(wait_until_gone(&relay));
    std::thread::sleep(Duration::from_secs(1));
    let gone = rss_bytes();

    let per = |bytes: u64| bytes.saturating_sub(before) as f64 / count as f64 / 1024.0;
    println!("firehose_idle: {connected} consumers connected from a child process");
    println!("  relay RSS before: {:.1} MiB", mib(before));
    println!(
        "  idle ({count} consumers): {:.1} MiB, {:.1} KiB per consumer",
        mib(idle),
        per(idle)
    );
    println!(
        "  after one 1 KiB frame each ({sent} frames sent): {:.1} MiB, {:.1} KiB per consumer",
        mib(after_frame),
        per(after_frame)
    );
    println!("  after they left: {:.1} MiB", mib(gone));
    rt.block_on(relay.finish());
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Starts a child process holding `count` consumers; returns it once all are connected.
fn spawn_clients(url: &str, count: usize) -> (std::process::Child, usize) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CLIENT_ENV, url)
        .env("ATRELAY_BENCH_CONSUMERS", count.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let connected = line
        .trim()
        .strip_prefix("connected ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("client process said {line:?}"));
    (child, connected)
}

/// Closes the child's stdin (it then exits) and waits for it.
fn finish_clients(mut child: std::process::Child) {
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "client process: {status}");
}

async fn wait_until_gone(relay: &BenchRelay) {
    while !relay.state.consumers.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Client mode: connects `count` live consumers, says so on stdout, reads (and so answers
/// pings) until stdin closes.
fn client(url: &str, count: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(_)) = ws.next().await {}
            }));
        }
        println!("connected {count}");
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .unwrap();
        for task in tasks {
            task.abort();
        }
    });
}
