//! Helpers shared by the tests.

use std::path::Path;
use std::time::Duration;

use atrelay_eventlog::{Config, Durability, Event, EventLog, Reader};
use bytes::Bytes;

/// A config with small segments so tests cross segment boundaries.
pub fn small_config(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.segment_bytes = 8 * 1024;
    config.index_interval_bytes = 512;
    config.durability = Durability::Fsync {
        max_delay: Duration::ZERO,
        max_events: 1000,
    };
    config
}

/// The body the tests store for `seq`: it names the seq, so a mix-up shows.
pub fn body(seq: i64, len: usize) -> Bytes {
    let mut text = format!("event {seq};");
    while text.len() < len {
        text.push('.');
    }
    Bytes::from(text)
}

/// Checks that an event's body is the one [`body`] made for its seq.
pub fn check_body(event: &Event) {
    let prefix = format!("event {};", event.seq());
    assert!(
        event.body().starts_with(prefix.as_bytes()),
        "seq {} has body {:?}",
        event.seq(),
        event.body()
    );
}

/// Appends `n` events for `did` and waits until they are durable; returns their seqs.
pub async fn append_n(log: &EventLog, did: &str, n: usize, len: usize) -> Vec<i64> {
    let mut tickets = Vec::with_capacity(n);
    for _ in 0..n {
        tickets.push(log.append(did, 1, |seq| body(seq, len)).unwrap());
    }
    let mut seqs = Vec::with_capacity(n);
    for ticket in tickets {
        seqs.push(ticket.durable().await.unwrap());
    }
    seqs
}

/// Reads `n` events from a reader.
pub async fn read_n(reader: &mut Reader, n: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let event = reader.next().await.unwrap();
        check_body(&event);
        out.push(event);
    }
    out
}

/// Seqs of events.
pub fn seqs(events: &[Event]) -> Vec<i64> {
    events.iter().map(Event::seq).collect()
}

/// Segment files in a log directory, sorted.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// A multi-threaded runtime for tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
