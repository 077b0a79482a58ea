//! Unit tests of the log's failure path: a failed fsync stops appends, and readers end with
//! the failure.

use std::time::Duration;

use bytes::Bytes;

use super::EventLog;
use crate::config::{Config, Durability};
use crate::error::Error;

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::new(dir);
    config.durability = Durability::Fsync {
        max_delay: Duration::ZERO,
        max_events: 100,
    };
    config
}

#[test]
fn a_failed_fsync_stops_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(config(dir.path())).unwrap();
    let ok = log
        .append("did:plc:a", 1, |_| Bytes::from_static(b"one"))
        .unwrap();
    assert_eq!(ok.wait().unwrap(), 1);

    log.inject_fsync_failure(true);
    let lost = log
        .append("did:plc:a", 1, |_| Bytes::from_static(b"two"))
        .unwrap();
    assert!(matches!(lost.wait(), Err(Error::Failed { .. })));
    assert!(!lost.is_durable());
    assert!(matches!(
        log.append("did:plc:a", 1, |_| Bytes::new()),
        Err(Error::Failed { .. })
    ));
    assert_eq!(log.newest_seq(), 1);
    let health = log.health();
    assert!(health.failed.is_some() && health.dir_present, "{health:?}");
    assert!(matches!(log.close(), Err(Error::Failed { .. })));
    assert!(matches!(log.flush(), Err(Error::Failed { .. })));
    drop(log);

    // Reopening recovers what is on disk; the numbering never goes back.
    let log = EventLog::open(config(dir.path())).unwrap();
    let next = log
        .append("did:plc:a", 1, |_| Bytes::from_static(b"three"))
        .unwrap();
    assert!(next.wait().unwrap() >= 2);
}

#[test]
fn a_reader_of_a_failed_log_ends_with_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = EventLog::open(config(dir.path())).unwrap();
        let mut reader = log.reader(None).unwrap();
        log.inject_fsync_failure(true);
        let ticket = log
            .append("did:plc:a", 1, |_| Bytes::from_static(b"x"))
            .unwrap();
        assert!(matches!(ticket.durable().await, Err(Error::Failed { .. })));
        assert!(matches!(reader.next().await, Err(Error::Failed { .. })));
    });
}
