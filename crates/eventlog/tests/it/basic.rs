//! Appending, numbering, reopening and the simple queries.

use std::collections::BTreeSet;

use atrelay_eventlog::{Config, Durability, Error, EventLog, Start, MAX_EVENT_BYTES};
use bytes::Bytes;

use crate::util::{append_n, body, read_n, runtime, seqs, small_config};

#[test]
fn concurrent_appends_get_distinct_increasing_seqs() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        let mut tasks = Vec::new();
        for task in 0..4 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                append_n(&log, &format!("did:plc:task{task}"), 250, 100).await
            }));
        }
        let mut all = BTreeSet::new();
        for task in tasks {
            let seqs = task.await.unwrap();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "one task's seqs increase"
            );
            all.extend(seqs);
        }
        assert_eq!(all, (1..=1000).collect::<BTreeSet<i64>>());
        assert_eq!(log.newest_seq(), 1000);
        assert_eq!(log.oldest_seq(), Some(1));

        let mut reader = log.reader(Some(0)).unwrap();
        let events = read_n(&mut reader, 1000).await;
        assert_eq!(seqs(&events), (1..=1000).collect::<Vec<i64>>());
        assert!(events
            .iter()
            .all(|e| e.did().starts_with("did:plc:task") && e.kind() == 1));
        assert!(log.stats().segments > 1, "small segments roll");
    });
}

#[test]
fn reopening_continues_the_numbering() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        assert_eq!(append_n(&log, "did:plc:a", 50, 300).await.last(), Some(&50));
        log.close().unwrap();
        drop(log);

        let log = EventLog::open(small_config(dir.path())).unwrap();
        assert_eq!(log.newest_seq(), 50);
        assert_eq!(append_n(&log, "did:plc:a", 1, 300).await, vec![51]);
        let mut reader = log.reader(Some(0)).unwrap();
        assert_eq!(
            seqs(&read_n(&mut reader, 51).await),
            (1..=51).collect::<Vec<i64>>()
        );
    });
}

#[test]
fn an_event_from_a_source_keeps_its_receive_time_and_never_a_future_one() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        let received = SystemTime::now() - Duration::from_secs(3);
        let before_future = SystemTime::now();
        let future = before_future + Duration::from_secs(3600);
        let plain_before = SystemTime::now();
        for (did, time) in [("did:plc:past", received), ("did:plc:future", future)] {
            log.append_from(did, 1, None, time, |seq| body(seq, 40))
                .unwrap()
                .durable()
                .await
                .unwrap();
        }
        let plain = log.append("did:plc:plain", 1, |seq| body(seq, 40)).unwrap();
        plain.durable().await.unwrap();
        let after = SystemTime::now();

        let mut reader = log.reader(Some(0)).unwrap();
        let events = read_n(&mut reader, 3).await;
        let micros = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_micros()
        };
        assert_eq!(
            micros(events[0].time()),
            micros(received),
            "the receive time is kept"
        );
        assert!(
            events[1].time() >= before_future && events[1].time() <= after,
            "a receive time in the future is stored as the append time"
        );
        assert!(
            events[2].time() >= plain_before && events[2].time() <= after,
            "a plain append is stamped with its append time"
        );
    });
}

#[test]
fn seq_floor_starts_a_fresh_log() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut config = small_config(dir.path());
        config.seq_floor = 20_000_000_000;
        let log = EventLog::open(config).unwrap();
        assert_eq!(log.newest_seq(), 19_999_999_999);
        assert_eq!(log.oldest_seq(), None);
        assert_eq!(
            append_n(&log, "did:plc:a", 2, 10).await,
            vec![20_000_000_000, 20_000_000_001]
        );
        assert_eq!(log.oldest_seq(), Some(20_000_000_000));
    });
}

#[test]
fn seq_floor_jumps_an_existing_log_ahead() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 10, 10).await;
        log.close().unwrap();
        drop(log);

        let mut config = small_config(dir.path());
        config.seq_floor = 500;
        let log = EventLog::open(config.clone()).unwrap();
        assert_eq!(log.newest_seq(), 499);
        // A consumer at the old head is neither outdated nor ahead; it sees the next event.
        let mut reader = log.reader(Some(10)).unwrap();
        assert_eq!(reader.start(), Start::Cursor { cursor: 10 });
        assert_eq!(append_n(&log, "did:plc:a", 1, 10).await, vec![500]);
        assert_eq!(reader.next().await.unwrap().seq(), 500);
        let mut all = log.reader(Some(0)).unwrap();
        let expected: Vec<i64> = (1..=10).chain([500]).collect();
        assert_eq!(seqs(&read_n(&mut all, 11).await), expected);
        log.close().unwrap();
        drop(log);

        // A floor below the head changes nothing.
        config.seq_floor = 100;
        let log = EventLog::open(config).unwrap();
        assert_eq!(append_n(&log, "did:plc:a", 1, 10).await, vec![501]);
    });
}

#[test]
fn cursors_ahead_of_the_log_or_negative_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        assert!(matches!(
            log.reader(Some(1)),
            Err(Error::FutureCursor {
                cursor: 1,
                newest: 0
            })
        ));
        append_n(&log, "did:plc:a", 3, 10).await;
        assert!(matches!(
            log.reader(Some(4)),
            Err(Error::FutureCursor {
                cursor: 4,
                newest: 3
            })
        ));
        assert!(matches!(
            log.reader(Some(-1)),
            Err(Error::InvalidCursor { cursor: -1 })
        ));
        let reader = log.reader(Some(3)).unwrap();
        assert_eq!(reader.start(), Start::Cursor { cursor: 3 });
    });
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(small_config(dir.path())).unwrap();
    assert!(matches!(
        EventLog::open(small_config(dir.path())),
        Err(Error::Locked { .. })
    ));
    log.close().unwrap();
    drop(log);
    EventLog::open(small_config(dir.path())).unwrap();
}

#[test]
fn bad_appends_are_refused_without_using_a_seq() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(small_config(dir.path())).unwrap();
    assert!(matches!(
        log.append("", 1, |_| Bytes::new()),
        Err(Error::InvalidDid { .. })
    ));
    assert!(matches!(
        log.append("did:plc:a b", 1, |_| Bytes::new()),
        Err(Error::InvalidDid { .. })
    ));
    let too_large = log.append("did:plc:a", 1, |_| {
        Bytes::from(vec![0u8; MAX_EVENT_BYTES + 1])
    });
    assert!(matches!(too_large, Err(Error::EventTooLarge { .. })));
    let ticket = log.append("did:plc:a", 1, |seq| body(seq, 10)).unwrap();
    assert_eq!(ticket.seq(), 1);
    assert_eq!(ticket.wait().unwrap(), 1);
}

#[test]
fn invalid_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.seq_floor = 0;
    assert!(matches!(
        EventLog::open(config),
        Err(Error::InvalidConfig(_))
    ));
    let mut config = Config::new(dir.path());
    config.segment_bytes = 100;
    assert!(matches!(
        EventLog::open(config),
        Err(Error::InvalidConfig(_))
    ));
    let mut config = Config::new(dir.path());
    config.durability = Durability::Fsync {
        max_delay: std::time::Duration::ZERO,
        max_events: 0,
    };
    assert!(matches!(
        EventLog::open(config),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn close_makes_everything_durable_and_stops_appends_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut config = small_config(dir.path());
        // A long fsync delay: only close makes these durable.
        config.durability = Durability::Fsync {
            max_delay: std::time::Duration::from_secs(3600),
            max_events: 1_000_000,
        };
        let log = EventLog::open(config).unwrap();
        let mut live = log.reader(None).unwrap();
        let tickets: Vec<_> = (0..20)
            .map(|_| log.append("did:plc:a", 1, |seq| body(seq, 10)).unwrap())
            .collect();
        assert!(!tickets[19].is_durable());
        // Events that are not durable are not served: the log still ends at 0.
        assert_eq!(log.newest_seq(), 0);
        assert!(matches!(
            log.reader(Some(1)),
            Err(Error::FutureCursor {
                cursor: 1,
                newest: 0
            })
        ));
        assert_eq!(log.stats().pending, 20);
        log.close().unwrap();
        for ticket in &tickets {
            assert_eq!(ticket.durable().await.unwrap(), ticket.seq());
        }
        assert!(matches!(
            log.append("did:plc:a", 1, |_| Bytes::new()),
            Err(Error::Closed)
        ));
        assert_eq!(
            seqs(&read_n(&mut live, 20).await),
            (1..=20).collect::<Vec<i64>>()
        );
        assert!(matches!(live.next().await, Err(Error::Closed)));
        let mut replay = log.reader(Some(15)).unwrap();
        assert_eq!(
            seqs(&read_n(&mut replay, 5).await),
            (16..=20).collect::<Vec<i64>>()
        );
        assert!(matches!(replay.next().await, Err(Error::Closed)));
        assert!(matches!(log.reader(None), Err(Error::Closed)));
        log.close().unwrap();
    });
}

#[test]
fn blocking_waits_and_flush_work_outside_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(dir.path());
    config.durability = Durability::Fsync {
        max_delay: std::time::Duration::from_millis(2),
        max_events: 10,
    };
    let log = EventLog::open(config).unwrap();
    let first = log.append("did:plc:a", 1, |seq| body(seq, 10)).unwrap();
    assert_eq!(first.wait().unwrap(), 1);
    for _ in 0..25 {
        let _ = log.append("did:plc:a", 1, |seq| body(seq, 10)).unwrap();
    }
    assert_eq!(log.flush().unwrap(), 26);
    let stats = log.stats();
    assert_eq!(
        (stats.newest_seq, stats.oldest_seq, stats.pending),
        (26, Some(1), 0)
    );
}

#[test]
fn os_buffered_durability_serves_events() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut config = small_config(dir.path());
        config.durability = Durability::OsBuffered;
        let log = EventLog::open(config).unwrap();
        append_n(&log, "did:plc:a", 100, 200).await;
        let mut reader = log.reader(Some(50)).unwrap();
        assert_eq!(
            seqs(&read_n(&mut reader, 50).await),
            (51..=100).collect::<Vec<i64>>()
        );
    });
}
