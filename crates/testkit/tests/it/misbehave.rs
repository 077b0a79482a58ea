//! Each misbehaviour produces an event that the reference checker rejects for the expected
//! reason, and the PDS behaves again afterwards.

use atrelay_repo::proof::ProofError;
use atrelay_stream::{decode_frame, Message, FUTURE_CURSOR};
use atrelay_testkit::{
    AccountOptions, CheckError, Checked, FakeDirectory, FakePds, KeyCurve, Misbehavior,
    StreamChecker,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::util::{connect, next_frame, read_frames, Keys};

fn is_expected(m: &Misbehavior, result: &Result<Checked, CheckError>) -> bool {
    matches!(
        (m, result),
        (
            Misbehavior::BadSignature,
            Err(CheckError::Proof {
                source: ProofError::Signature(_),
                ..
            }),
        ) | (
            Misbehavior::WrongPrevData,
            Err(CheckError::Proof {
                source: ProofError::PrevDataMismatch { .. },
                ..
            }),
        ) | (
            Misbehavior::RevBackwards,
            Err(CheckError::RevNotIncreasing { .. })
        ) | (Misbehavior::FutureRev, Err(CheckError::FutureRev { .. }))
            | (
                Misbehavior::OversizedBlocks,
                Err(CheckError::Proof {
                    source: ProofError::BlocksTooLarge { .. },
                    ..
                }),
            )
            | (Misbehavior::GarbageFrame, Err(CheckError::Frame(_)))
            | (
                Misbehavior::WrongHost { .. },
                Err(CheckError::WrongHost { .. })
            )
    )
}

#[tokio::test]
async fn every_misbehaviour_is_rejected_for_its_reason() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let mut keys = Keys::new(&directory);
    for curve in [KeyCurve::K256, KeyCurve::P256] {
        let did = pds
            .create_account(AccountOptions {
                curve,
                ..Default::default()
            })
            .unwrap();
        let mut checker = StreamChecker::new(Some(pds.hostname()));
        let start = pds.head_seq() - 3;
        let mut ws = connect(&pds.firehose_url(), Some(start)).await;
        for frame in read_frames(&mut ws, 3).await {
            keys.check(&mut checker, &frame, true).await.unwrap();
        }
        for _ in 0..5 {
            pds.random_commit(&did, &mut rng, 2, 10).unwrap();
            let frame = next_frame(&mut ws).await.unwrap();
            keys.check(&mut checker, &frame, true).await.unwrap();
        }
        let cases = [
            Misbehavior::BadSignature,
            Misbehavior::WrongPrevData,
            Misbehavior::RevBackwards,
            Misbehavior::FutureRev,
            Misbehavior::OversizedBlocks,
            Misbehavior::GarbageFrame,
            Misbehavior::WrongHost {
                endpoint: "http://127.0.0.1:1".to_owned(),
            },
        ];
        for m in cases {
            pds.misbehave(m.clone());
            pds.random_commit(&did, &mut rng, 3, 10).unwrap();
            let frame = next_frame(&mut ws).await.unwrap();
            let result = keys.check(&mut checker, &frame, true).await;
            assert!(is_expected(&m, &result), "{m:?} gave {result:?}");
            if matches!(m, Misbehavior::WrongHost { .. }) {
                pds.publish_document(&did).unwrap();
            }
            // The next commit is good again (a discontinuity at most, since the checker
            // dropped the bad one).
            pds.random_commit(&did, &mut rng, 1, 10).unwrap();
            let frame = next_frame(&mut ws).await.unwrap();
            let result = keys.check(&mut checker, &frame, true).await;
            assert!(
                matches!(result, Ok(Checked::Commit { .. })),
                "after {m:?}: {result:?}"
            );
        }
        assert!(checker.discontinuities() >= 5);
    }
}

#[tokio::test]
async fn sequence_reset_goes_backwards_live_and_makes_old_cursors_future() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    let mut keys = Keys::new(&directory);
    let mut checker = StreamChecker::new(Some(pds.hostname()));
    let mut ws = connect(&pds.firehose_url(), Some(0)).await;
    for frame in read_frames(&mut ws, 3).await {
        keys.check(&mut checker, &frame, false).await.unwrap();
    }
    let old_head = pds.head_seq();
    pds.misbehave(Misbehavior::SequenceReset);
    assert_eq!(pds.head_seq(), 0);
    pds.emit_identity(&did).unwrap();
    let frame = next_frame(&mut ws).await.unwrap();
    assert_eq!(
        keys.check(&mut checker, &frame, false).await,
        Err(CheckError::SeqNotIncreasing {
            seq: 1,
            last: old_head
        })
    );

    let mut again = connect(&pds.firehose_url(), Some(old_head)).await;
    let frame = next_frame(&mut again).await.unwrap();
    match decode_frame(&frame).unwrap() {
        Message::Error(e) => assert_eq!(e.error, FUTURE_CURSOR),
        other => panic!("expected FutureCursor, got {other:?}"),
    }
}

#[tokio::test]
async fn key_rotation_is_followed_by_a_commit_under_the_new_key() {
    let directory = FakeDirectory::start().await.unwrap();
    let pds = FakePds::start(&directory).await.unwrap();
    let did = pds.create_account(AccountOptions::default()).unwrap();
    let mut keys = Keys::new(&directory);
    let mut checker = StreamChecker::new(Some(pds.hostname()));
    let mut ws = connect(&pds.firehose_url(), Some(0)).await;
    for frame in read_frames(&mut ws, 3).await {
        keys.check(&mut checker, &frame, false).await.unwrap();
    }
    pds.rotate_key(&did, KeyCurve::P256).unwrap();
    let frames = read_frames(&mut ws, 2).await;
    assert!(matches!(
        keys.check(&mut checker, &frames[0], false).await,
        Ok(Checked::Identity { .. })
    ));
    // With the stale cached key the commit fails; after re-resolving it verifies.
    assert!(matches!(
        keys.check(&mut checker.clone(), &frames[1], false).await,
        Err(CheckError::Proof {
            source: ProofError::Signature(_),
            ..
        })
    ));
    assert!(matches!(
        keys.check(&mut checker, &frames[1], true).await,
        Ok(Checked::Commit {
            continuous: true,
            ..
        })
    ));
}

#[tokio::test]
async fn migration_moves_the_account_to_the_other_pds_with_a_new_key() {
    let directory = FakeDirectory::start().await.unwrap();
    let old = FakePds::start(&directory).await.unwrap();
    let new = FakePds::start(&directory).await.unwrap();
    let did = old.create_account(AccountOptions::default()).unwrap();
    let mut rng = StdRng::seed_from_u64(21);
    for _ in 0..3 {
        old.random_commit(&did, &mut rng, 2, 10).unwrap();
    }
    let old_rev = old.with_repo(&did, |r| r.rev().to_owned()).unwrap();
    old.migrate_account(&did, &new, KeyCurve::P256).unwrap();
    assert!(matches!(
        old.migrate_account(&did, &new, KeyCurve::P256),
        Err(atrelay_testkit::TestkitError::AccountExists { .. })
    ));

    let mut keys = Keys::new(&directory);
    // The old PDS's last event marks the account deactivated; a relay drops it, since the
    // document now names the new PDS (an old host's #account is ignored after migration).
    let mut checker = StreamChecker::new(Some(old.hostname()));
    let mut ws = connect(&old.firehose_url(), Some(old.head_seq() - 1)).await;
    let frame = next_frame(&mut ws).await.unwrap();
    assert!(matches!(
        keys.check(&mut checker, &frame, true).await,
        Err(CheckError::WrongHost { .. })
    ));

    // The new PDS announces the account and a #sync under the new key at a higher rev.
    let mut checker = StreamChecker::new(Some(new.hostname()));
    let mut ws = connect(&new.firehose_url(), Some(0)).await;
    let frames = read_frames(&mut ws, 3).await;
    assert!(matches!(
        keys.check(&mut checker, &frames[0], true).await,
        Ok(Checked::Identity { .. })
    ));
    assert!(matches!(
        keys.check(&mut checker, &frames[1], false).await,
        Ok(Checked::Account { active: true, .. })
    ));
    match keys.check(&mut checker, &frames[2], false).await {
        Ok(Checked::Sync { rev, .. }) => assert!(rev > old_rev),
        other => panic!("expected a verified #sync, got {other:?}"),
    }
    // Writes continue on the new PDS and chain onto the #sync.
    new.random_commit(&did, &mut rng, 1, 10).unwrap();
    let frame = next_frame(&mut ws).await.unwrap();
    assert!(matches!(
        keys.check(&mut checker, &frame, false).await,
        Ok(Checked::Commit {
            continuous: true,
            ..
        })
    ));
}
