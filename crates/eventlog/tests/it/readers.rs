//! Replay from a cursor, the switch to live, lagging readers, seeks.

use std::time::{Duration, SystemTime};

use atrelay_eventlog::{Error, EventLog, Start};

use crate::util::{append_n, read_n, runtime, seqs, small_config};

#[test]
fn replay_switches_to_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 500, 200).await;
        let mut reader = log.reader(Some(100)).unwrap();
        let writer = {
            let log = log.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    append_n(&log, "did:plc:b", 100, 200).await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let events = read_n(&mut reader, 2400).await;
        assert_eq!(seqs(&events), (101..=2500).collect::<Vec<i64>>());
        writer.await.unwrap();
    });
}

#[test]
fn a_live_reader_starts_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 10, 10).await;
        let mut reader = log.reader(None).unwrap();
        assert_eq!(reader.start(), Start::Live { after: 10 });
        append_n(&log, "did:plc:a", 5, 10).await;
        assert_eq!(
            seqs(&read_n(&mut reader, 5).await),
            vec![11, 12, 13, 14, 15]
        );
        assert_eq!(reader.position(), 15);
        assert_eq!(reader.lag(), 0);
    });
}

#[test]
fn a_reader_that_lags_the_broadcast_continues_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut config = small_config(dir.path());
        config.live_buffer = 4;
        let log = EventLog::open(config).unwrap();
        let mut reader = log.reader(None).unwrap();
        append_n(&log, "did:plc:a", 1, 10).await;
        assert_eq!(reader.next().await.unwrap().seq(), 1);
        // The reader is live now; 300 events overflow its 4-event subscription.
        append_n(&log, "did:plc:a", 300, 100).await;
        assert_eq!(reader.lag(), 300);
        assert_eq!(
            seqs(&read_n(&mut reader, 300).await),
            (2..=301).collect::<Vec<i64>>()
        );
        append_n(&log, "did:plc:a", 3, 10).await;
        assert_eq!(seqs(&read_n(&mut reader, 3).await), vec![302, 303, 304]);
    });
}

#[test]
fn every_cursor_seeks_to_the_next_event() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        // Varying sizes, so index entries fall unevenly across segments.
        for len in [10, 700, 50, 3000, 200] {
            append_n(&log, "did:plc:a", 60, len).await;
        }
        assert!(log.stats().segments > 5);
        let newest = log.newest_seq();
        for cursor in 0..newest {
            let mut reader = log.reader(Some(cursor)).unwrap();
            let events = read_n(&mut reader, 2.min((newest - cursor) as usize)).await;
            assert_eq!(events[0].seq(), cursor + 1, "cursor {cursor}");
        }
    });
}

#[test]
fn an_old_cursor_is_outdated_and_gets_the_whole_window() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 200, 500).await;
        let report = log
            .prune(SystemTime::now() + Duration::from_secs(100 * 3600))
            .unwrap();
        assert!(report.segments > 0);
        let oldest = log.oldest_seq().unwrap();
        assert!(oldest > 2);
        assert_eq!(report.through_seq, Some(oldest - 1));

        let mut reader = log.reader(Some(1)).unwrap();
        assert_eq!(
            reader.start(),
            Start::Outdated {
                cursor: 1,
                oldest: Some(oldest)
            }
        );
        assert_eq!(reader.next().await.unwrap().seq(), oldest);

        // Cursor 0 asks for the whole window and is not outdated.
        let mut reader = log.reader(Some(0)).unwrap();
        assert_eq!(reader.start(), Start::Cursor { cursor: 0 });
        assert_eq!(reader.next().await.unwrap().seq(), oldest);

        // The cursor just before the oldest event is complete, not outdated.
        let reader = log.reader(Some(oldest - 1)).unwrap();
        assert_eq!(reader.start(), Start::Cursor { cursor: oldest - 1 });
    });
}

#[test]
fn a_reader_whose_next_segment_was_deleted_fell_behind() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 300, 500).await;
        let mut reader = log.reader(Some(0)).unwrap();
        assert_eq!(reader.next().await.unwrap().seq(), 1);
        log.prune(SystemTime::now() + Duration::from_secs(100 * 3600))
            .unwrap();
        let oldest = log.oldest_seq().unwrap();
        // The reader finishes the segment it has open, then finds the rest gone.
        let mut last = 1;
        let err = loop {
            match reader.next().await {
                Ok(event) => {
                    assert_eq!(event.seq(), last + 1);
                    last = event.seq();
                }
                Err(err) => break err,
            }
        };
        assert!(last < oldest);
        assert!(
            matches!(err, Error::FellBehind { seq } if seq == last),
            "{err}"
        );
    });
}

#[test]
fn many_readers_see_the_same_stream() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        append_n(&log, "did:plc:a", 100, 100).await;
        let mut tasks = Vec::new();
        for cursor in [0, 50, 100] {
            let mut reader = log.reader(Some(cursor)).unwrap();
            tasks.push(tokio::spawn(async move {
                seqs(&read_n(&mut reader, (400 - cursor) as usize).await)
            }));
        }
        append_n(&log, "did:plc:a", 300, 100).await;
        for (task, cursor) in tasks.into_iter().zip([0, 50, 100]) {
            assert_eq!(
                task.await.unwrap(),
                ((cursor + 1)..=400).collect::<Vec<i64>>()
            );
        }
    });
}

/// Reads `n` events, taking every run `try_next` has at hand after each `next`.
async fn read_n_in_runs(reader: &mut atrelay_eventlog::Reader, n: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        out.push(reader.next().await.unwrap().seq());
        while out.len() < n {
            match reader.try_next() {
                Some(event) => out.push(event.seq()),
                None => break,
            }
        }
    }
    out
}

#[test]
fn try_next_takes_runs_without_gap_and_is_live_tells_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut config = small_config(dir.path());
        config.live_buffer = 4;
        let log = EventLog::open(config).unwrap();
        append_n(&log, "did:plc:a", 300, 100).await;
        let mut reader = log.reader(Some(0)).unwrap();
        assert!(!reader.is_live());
        // Nothing is read before the first `next`.
        assert!(reader.try_next().is_none());
        assert_eq!(
            read_n_in_runs(&mut reader, 300).await,
            (1..=300).collect::<Vec<i64>>()
        );
        // Caught up: the next `next` goes live and waits for the append.
        let appender = {
            let log = log.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                append_n(&log, "did:plc:a", 1, 10).await
            })
        };
        assert_eq!(reader.next().await.unwrap().seq(), 301);
        appender.await.unwrap();
        assert!(reader.is_live());
        // 200 events overflow the 4-event subscription: `try_next` notices the lag, the
        // reader falls back to the files and goes on without a gap.
        append_n(&log, "did:plc:a", 200, 100).await;
        assert!(reader.try_next().is_none());
        assert!(!reader.is_live());
        assert_eq!(
            read_n_in_runs(&mut reader, 200).await,
            (302..=501).collect::<Vec<i64>>()
        );
        append_n(&log, "did:plc:a", 3, 10).await;
        assert_eq!(read_n_in_runs(&mut reader, 3).await, vec![502, 503, 504]);
    });
}
