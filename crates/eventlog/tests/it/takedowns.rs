//! Takedowns: replay and live readers skip a DID's events until it is restored.

use atrelay_eventlog::EventLog;

use crate::util::{append_n, body, read_n, runtime, seqs, small_config};

#[test]
fn replay_skips_taken_down_dids_until_restored() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        let bad = append_n(&log, "did:plc:bad", 5, 100).await;
        let good = append_n(&log, "did:plc:good", 5, 100).await;
        assert!(log.take_down("did:plc:bad").unwrap());
        assert!(!log.take_down("did:plc:bad").unwrap());
        assert!(log.is_taken_down("did:plc:bad"));

        let mut reader = log.reader(Some(0)).unwrap();
        let events = read_n(&mut reader, 5).await;
        assert_eq!(seqs(&events), good);
        assert!(events.iter().all(|e| e.did() == "did:plc:good"));
        log.close().unwrap();
        drop(log);

        // Persisted across a reopen.
        let log = EventLog::open(small_config(dir.path())).unwrap();
        assert!(log.is_taken_down("did:plc:bad"));
        let mut reader = log.reader(Some(0)).unwrap();
        assert_eq!(reader.next().await.unwrap().seq(), good[0]);

        assert!(log.restore("did:plc:bad").unwrap());
        assert!(!log.restore("did:plc:bad").unwrap());
        let mut reader = log.reader(Some(0)).unwrap();
        let expected: Vec<i64> = bad.iter().chain(&good).copied().collect();
        assert_eq!(seqs(&read_n(&mut reader, 10).await), expected);
    });
}

#[test]
fn live_readers_skip_taken_down_dids_from_the_moment_of_the_takedown() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let log = EventLog::open(small_config(dir.path())).unwrap();
        let mut reader = log.reader(None).unwrap();
        let first = append_n(&log, "did:plc:bad", 1, 10).await;
        assert_eq!(reader.next().await.unwrap().seq(), first[0]);
        log.take_down("did:plc:bad").unwrap();
        append_n(&log, "did:plc:bad", 3, 10).await;
        let good = append_n(&log, "did:plc:good", 1, 10).await;
        assert_eq!(reader.next().await.unwrap().seq(), good[0]);
        log.restore("did:plc:bad").unwrap();
        let back = append_n(&log, "did:plc:bad", 1, 10).await;
        assert_eq!(reader.next().await.unwrap().seq(), back[0]);
    });
}

#[test]
fn visible_kinds_of_a_taken_down_did_still_reach_replay_and_live_readers() {
    const ACCOUNT_KIND: u8 = 5;
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let mut config = small_config(dir.path());
        config.takedown_visible_kinds = vec![ACCOUNT_KIND];
        let log = EventLog::open(config).unwrap();
        let mut live = log.reader(None).unwrap();
        let before = append_n(&log, "did:plc:bad", 2, 10).await;
        assert_eq!(seqs(&read_n(&mut live, 2).await), before);

        log.take_down("did:plc:bad").unwrap();
        let notice = log
            .append("did:plc:bad", ACCOUNT_KIND, |seq| body(seq, 10))
            .unwrap()
            .durable()
            .await
            .unwrap();
        append_n(&log, "did:plc:bad", 2, 10).await;
        let good = append_n(&log, "did:plc:good", 1, 10).await;

        // Live: the notice and the other DID, not the taken-down DID's other events.
        assert_eq!(seqs(&read_n(&mut live, 2).await), vec![notice, good[0]]);

        // Replay: the notice survives, the events of other kinds do not.
        let mut replay = log.reader(Some(0)).unwrap();
        let events = read_n(&mut replay, 2).await;
        assert_eq!(seqs(&events), vec![notice, good[0]]);
        assert_eq!(events[0].kind(), ACCOUNT_KIND);
    });
}
