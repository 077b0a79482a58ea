//! Retention by age and by size; numbering survives it.

use std::time::{Duration, SystemTime};

use atrelay_eventlog::EventLog;

use crate::util::{append_n, read_n, runtime, segment_files, seqs, small_config};

#[test]
fn age_retention_drops_whole_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 200, 500).await;
        let before = log.stats();
        assert!(before.segments > 3);

        // Nothing is older than 72 hours yet.
        assert_eq!(log.prune(SystemTime::now()).unwrap().segments, 0);
        assert_eq!(log.stats().segments, before.segments);

        let report = log
            .prune(SystemTime::now() + Duration::from_secs(73 * 3600))
            .unwrap();
        assert_eq!(report.segments, before.segments - 1);
        let after = log.stats();
        assert_eq!(after.segments, 1);
        assert_eq!(after.bytes, before.bytes - report.bytes);
        assert_eq!(segment_files(dir.path()).len(), 1);
        let oldest = log.oldest_seq().unwrap();
        let mut reader = log.reader(Some(0)).unwrap();
        assert_eq!(
            seqs(&read_n(&mut reader, (201 - oldest) as usize).await),
            (oldest..=200).collect::<Vec<i64>>()
        );
    });
}

#[test]
fn size_retention_keeps_the_log_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut config = small_config(dir.path());
        config.retention_bytes = 32 * 1024;
        let log = EventLog::open(config).unwrap();
        append_n(&log, "did:plc:a", 400, 500).await;
        let stats = log.stats();
        // The budget plus at most the active segment's growth since the last roll.
        assert!(stats.bytes <= 32 * 1024 + 8 * 1024, "{stats:?}");
        assert!(stats.oldest_seq.unwrap() > 1);
        let oldest = stats.oldest_seq.unwrap();
        let mut reader = log.reader(Some(oldest - 1)).unwrap();
        assert_eq!(reader.next().await.unwrap().seq(), oldest);
    });
}

#[test]
fn numbering_survives_retention_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 100, 500).await;
        log.prune(SystemTime::now() + Duration::from_secs(100 * 3600))
            .unwrap();
        log.close().unwrap();
        drop(log);
        let log = EventLog::open(small_config(dir.path())).unwrap();
        assert_eq!(log.newest_seq(), 100);
        assert_eq!(append_n(&log, "did:plc:a", 1, 10).await, vec![101]);
    });
}
