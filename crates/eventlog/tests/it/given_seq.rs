//! `append_with_seq`: a mirrored log keeps its source's numbering, gaps included, never goes
//! back, and replays and reopens like any other log.

use std::time::{Duration, SystemTime};

use atrelay_eventlog::{Config, Durability, Error, EventLog, Start};
use bytes::Bytes;

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::new(dir);
    config.durability = Durability::Fsync {
        max_delay: Duration::ZERO,
        max_events: 100,
    };
    // Small segments, so the given seqs cross segment boundaries.
    config.segment_bytes = 4096;
    config
}

fn append(log: &EventLog, seq: i64) -> Result<i64, Error> {
    let body = Bytes::from(format!("frame {seq} {}", "x".repeat(200)));
    log.append_with_seq(seq, DID, 1, SystemTime::now(), body)?
        .wait()
}

#[test]
fn given_seqs_are_kept_with_their_gaps_and_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(config(dir.path())).unwrap();
    // A fresh log starts where its source is, not at 1.
    let seqs: Vec<i64> = (0..60).map(|i| 5_000 + i * 3).collect();
    for &seq in &seqs {
        assert_eq!(append(&log, seq).unwrap(), seq);
    }
    assert_eq!(log.oldest_seq(), Some(5_000));
    assert_eq!(log.newest_seq(), *seqs.last().unwrap());
    for stale in [5_000, *seqs.last().unwrap()] {
        match append(&log, stale) {
            Err(Error::SeqNotAfter { seq, newest }) => {
                assert_eq!((seq, newest), (stale, *seqs.last().unwrap()))
            }
            other => panic!("stale seq {stale} was taken: {other:?}"),
        }
    }
    log.close().unwrap();
    drop(log);

    // Reopened: the numbering goes on after the newest stored seq; a replay from inside a gap
    // starts at the next stored event.
    let log = EventLog::open(config(dir.path())).unwrap();
    assert_eq!(log.newest_seq(), *seqs.last().unwrap());
    assert!(matches!(
        append(&log, *seqs.last().unwrap()),
        Err(Error::SeqNotAfter { .. })
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut reader = log.reader(Some(5_001)).unwrap();
        assert_eq!(reader.start(), Start::Cursor { cursor: 5_001 });
        for &seq in &seqs[1..] {
            assert_eq!(reader.next().await.unwrap().seq(), seq);
        }
        let mut outdated = log.reader(Some(10)).unwrap();
        assert!(matches!(outdated.start(), Start::Outdated { .. }));
        assert_eq!(outdated.next().await.unwrap().seq(), 5_000);
    });
    log.close().unwrap();
}
