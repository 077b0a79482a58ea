//! The fake PDS's firehose over a real WebSocket: replay from a cursor, live events, cursor
//! errors, and two PDSes side by side.

use atrelay_stream::{decode_frame, Message, FUTURE_CURSOR};
use atrelay_testkit::{AccountOptions, Checked, FakeDirectory, FakePds, KeyCurve, StreamChecker};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::util::{connect, next_frame, read_frames, Keys};

async fn pds_with_accounts(directory: &FakeDirectory, with_web: bool) -> (FakePds, Vec<String>) {
    let pds = FakePds::start(directory).await.unwrap();
    let mut dids = vec![
        pds.create_account(AccountOptions::default()).unwrap(),
        pds.create_account(AccountOptions {
            curve: KeyCurve::P256,
            ..Default::default()
        })
        .unwrap(),
    ];
    if with_web {
        dids.push(
            pds.create_account(AccountOptions {
                did_web: true,
                ..Default::default()
            })
            .unwrap(),
        );
    }
    (pds, dids)
}

#[tokio::test]
async fn two_pdses_replay_then_live_and_every_event_verifies() {
    let directory = FakeDirectory::start().await.unwrap();
    let (pds_a, dids_a) = pds_with_accounts(&directory, true).await;
    let (pds_b, dids_b) = pds_with_accounts(&directory, false).await;
    assert_ne!(pds_a.hostname(), pds_b.hostname());
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..20 {
        for did in &dids_a {
            pds_a.random_commit(did, &mut rng, 3, 20).unwrap();
        }
        for did in &dids_b {
            pds_b.random_commit(did, &mut rng, 2, 20).unwrap();
        }
    }
    let mut keys = Keys::new(&directory);
    for (pds, dids) in [(&pds_a, &dids_a), (&pds_b, &dids_b)] {
        let mut checker = StreamChecker::new(Some(pds.hostname()));
        let mut ws = connect(&pds.firehose_url(), Some(0)).await;
        let backlog = pds.events();
        // 3 creation events per account, then 20 commits each.
        assert_eq!(backlog.len(), dids.len() * 23);
        let frames = read_frames(&mut ws, backlog.len()).await;
        let mut commits = 0;
        for (frame, stored) in frames.iter().zip(&backlog) {
            assert_eq!(frame, &stored.frame.to_vec());
            match keys.check(&mut checker, frame, false).await.unwrap() {
                Checked::Commit { continuous, .. } => {
                    assert!(continuous);
                    commits += 1;
                }
                Checked::Identity { .. } | Checked::Account { active: true, .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(commits, dids.len() * 21);

        // Live: new events arrive on the same connection, in order.
        for did in dids {
            pds.random_commit(did, &mut rng, 5, 10).unwrap();
        }
        pds.emit_sync(&dids[0]).unwrap();
        let live = read_frames(&mut ws, dids.len() + 1).await;
        for frame in &live[..dids.len()] {
            assert!(matches!(
                keys.check(&mut checker, frame, false).await,
                Ok(Checked::Commit {
                    continuous: true,
                    ..
                })
            ));
        }
        // A #sync at the same rev as the last commit is not newer.
        assert!(keys
            .check(&mut checker, &live[dids.len()], false)
            .await
            .is_err());
        assert_eq!(checker.discontinuities(), 0);
    }
}

#[tokio::test]
async fn cursors_replay_from_the_middle_refuse_the_future_and_default_to_live() {
    let directory = FakeDirectory::start().await.unwrap();
    let (pds, dids) = pds_with_accounts(&directory, false).await;
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..5 {
        pds.random_commit(&dids[0], &mut rng, 1, 10).unwrap();
    }
    let head = pds.head_seq();
    assert_eq!(head, 11);

    let mut ws = connect(&pds.firehose_url(), Some(7)).await;
    let frames = read_frames(&mut ws, 4).await;
    let seqs: Vec<i64> = frames
        .iter()
        .map(|f| decode_frame(f).unwrap().seq().unwrap())
        .collect();
    assert_eq!(seqs, vec![8, 9, 10, 11]);

    let mut future = connect(&pds.firehose_url(), Some(head + 1)).await;
    let frame = next_frame(&mut future).await.unwrap();
    match decode_frame(&frame).unwrap() {
        Message::Error(e) => assert_eq!(e.error, FUTURE_CURSOR),
        other => panic!("expected FutureCursor, got {other:?}"),
    }
    assert!(next_frame(&mut future).await.is_none());

    // Without a cursor only new events come; the cursor-7 client gets them too.
    let mut live = connect(&pds.firehose_url(), None).await;
    // Wait until both subscribers are registered before emitting.
    while pds.subscriber_count() < 2 {
        tokio::task::yield_now().await;
    }
    pds.emit_identity(&dids[1]).unwrap();
    for ws in [&mut live, &mut ws] {
        let frame = next_frame(ws).await.unwrap();
        assert_eq!(decode_frame(&frame).unwrap().seq(), Some(head + 1));
    }

    pds.disconnect_subscribers();
    assert!(next_frame(&mut live).await.is_none());
    assert!(next_frame(&mut ws).await.is_none());
}

#[tokio::test]
async fn trimmed_log_sends_outdated_cursor_then_the_window() {
    let directory = FakeDirectory::start().await.unwrap();
    let (pds, dids) = pds_with_accounts(&directory, false).await;
    let mut rng = StdRng::seed_from_u64(8);
    for _ in 0..4 {
        pds.random_commit(&dids[0], &mut rng, 1, 10).unwrap();
    }
    pds.trim_log(3);
    let head = pds.head_seq();
    let mut ws = connect(&pds.firehose_url(), Some(2)).await;
    let frames = read_frames(&mut ws, 4).await;
    match decode_frame(&frames[0]).unwrap() {
        Message::Info(info) => assert_eq!(info.name, atrelay_stream::OUTDATED_CURSOR),
        other => panic!("expected #info, got {other:?}"),
    }
    let seqs: Vec<Option<i64>> = frames[1..]
        .iter()
        .map(|f| decode_frame(f).unwrap().seq())
        .collect();
    assert_eq!(seqs, vec![Some(head - 2), Some(head - 1), Some(head)]);
    // A cursor inside the retained window is not outdated.
    let mut ws = connect(&pds.firehose_url(), Some(head - 2)).await;
    let frame = next_frame(&mut ws).await.unwrap();
    assert_eq!(decode_frame(&frame).unwrap().seq(), Some(head - 1));
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_consumer_too_slow() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start_with(
        &directory,
        atrelay_testkit::PdsOptions {
            live_capacity: Some(4),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    let mut ws = connect(&pds.firehose_url(), None).await;
    while pds.subscriber_count() < 1 {
        tokio::task::yield_now().await;
    }
    // On this single-threaded runtime the subscriber's task cannot run while these are
    // emitted, so it falls more than 4 events behind.
    for _ in 0..20 {
        pds.emit_identity(&did).unwrap();
    }
    let mut last = None;
    while let Some(frame) = next_frame(&mut ws).await {
        last = Some(decode_frame(&frame).unwrap());
    }
    match last {
        Some(Message::Error(e)) => assert_eq!(e.error, atrelay_stream::CONSUMER_TOO_SLOW),
        other => panic!("expected ConsumerTooSlow, got {other:?}"),
    }
}
