//! The crash test: a child process appends as fast as it can and prints each seq once it is
//! acknowledged durable; the parent kills it with SIGKILL at random points, reopens the log
//! and checks that every acknowledged event is there, in order, exactly once, and that no
//! seq is ever handed out twice.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use atrelay_eventlog::{Error, EventLog};

use crate::util::{body, check_body, runtime, small_config};

/// Set in the child's environment to the log directory.
const CHILD_ENV: &str = "ATRELAY_EVENTLOG_CRASH_CHILD";
/// Kill iterations.
const ITERATIONS: usize = 8;

#[test]
fn acknowledged_events_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("crash test seed {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut acked = BTreeSet::new();
    let mut max_handed_out = 0;
    for iteration in 0..ITERATIONS {
        // Kill after a random number of acknowledgements (0 = as soon as it starts).
        let kill_after = rng.usize(0..3000);
        let new_acks = run_child_until(dir.path(), kill_after);
        let min_new = new_acks.iter().min().copied();
        if let Some(min_new) = min_new {
            assert!(
                min_new > max_handed_out,
                "iteration {iteration}: seq {min_new} reused (previous max {max_handed_out})"
            );
        }
        acked.extend(new_acks);
        let present = verify(dir.path(), &acked);
        max_handed_out = present.last().copied().unwrap_or(0).max(max_handed_out);
        eprintln!(
            "iteration {iteration}: killed after {kill_after} acks; {} acked, {} stored",
            acked.len(),
            present.len()
        );
    }
    assert!(!acked.is_empty(), "the child acknowledged events");
}

/// Runs the child, kills it once it has acknowledged `kill_after` events, and returns the
/// seqs it acknowledged.
fn run_child_until(dir: &std::path::Path, kill_after: usize) -> Vec<i64> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "crash::acknowledged_events_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let collector = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(seq) = line
                .strip_prefix("ack ")
                .and_then(|s| s.parse::<i64>().ok())
            {
                acks.push(seq);
                if acks.len() == kill_after {
                    let _ = tx.send(());
                }
            }
        }
        acks
    });
    if kill_after > 0 {
        // Either the child reached the count, or it exited (and dropped the pipe).
        let _ = rx.recv();
    }
    // Child::kill sends SIGKILL on unix.
    let _ = child.kill();
    child.wait().unwrap();
    collector.join().unwrap()
}

/// Reopens the log, reads everything, checks it against `acked`, and returns the seqs stored.
fn verify(dir: &std::path::Path, acked: &BTreeSet<i64>) -> Vec<i64> {
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir)).unwrap();
        let mut reader = log.reader(Some(0)).unwrap();
        log.close().unwrap();
        let mut present = Vec::new();
        loop {
            match reader.next().await {
                Ok(event) => {
                    check_body(&event);
                    if let Some(&prev) = present.last() {
                        assert!(event.seq() > prev, "seq {} after {prev}", event.seq());
                    }
                    present.push(event.seq());
                }
                Err(Error::Closed) => break,
                Err(err) => panic!("reading back: {err}"),
            }
        }
        let stored: BTreeSet<i64> = present.iter().copied().collect();
        let missing: Vec<&i64> = acked.difference(&stored).collect();
        assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
        present
    })
}

/// The child: append from several tasks forever, printing each seq once durable.
fn child(dir: &str) {
    runtime().block_on(async {
        let log = EventLog::open(small_config(std::path::Path::new(dir))).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
        for task in 0..4 {
            let log = log.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let did = format!("did:plc:crash{task}");
                loop {
                    let tickets: Vec<_> = (0..8)
                        .map(|i| log.append(&did, 1, |seq| body(seq, 100 + 97 * i)).unwrap())
                        .collect();
                    for ticket in tickets {
                        let seq = ticket.durable().await.unwrap();
                        if tx.send(seq).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        let mut stdout = std::io::stdout().lock();
        while let Some(seq) = rx.recv().await {
            writeln!(stdout, "ack {seq}").unwrap();
            stdout.flush().unwrap();
        }
    });
}
