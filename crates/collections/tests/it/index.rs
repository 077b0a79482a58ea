//! Live updates: creates, updates, deletes, account status, replays, snapshots.

use std::collections::BTreeMap;

use atrelay_collections::{
    CollectionIndex, CommitOutcome, IndexError, Op, OpAction, RepoSnapshot, SnapshotOutcome,
};
use atrelay_stream::AccountStatus;
use atrelay_testkit::{sample_record, RecordPath, TidClock};

use crate::common::{feed, list_all, pds_with_plc_and_web, temp_index, CAPTAIN};

#[tokio::test]
async fn create_lists_plc_and_web_accounts() {
    let (_dir, index) = temp_index();
    let (_d, pds, plc, web) = pds_with_plc_and_web().await;
    let mut seq = feed(&pds, &index, 0);
    assert!(list_all(&index, CAPTAIN, 10).is_empty());
    pds.create_record(&plc, CAPTAIN, sample_record(CAPTAIN, "a"))
        .expect("create");
    pds.create_record(&web, CAPTAIN, sample_record(CAPTAIN, "b"))
        .expect("create");
    seq = feed(&pds, &index, seq);
    let mut expected = vec![plc.clone(), web.clone()];
    expected.sort();
    assert_eq!(list_all(&index, CAPTAIN, 500), expected);
    assert_eq!(index.collections(), vec![(CAPTAIN.to_owned(), 2)]);
    let state = index.account(&web).expect("account").expect("known");
    assert!(state.exact, "the genesis commit seeds exact counts");
    assert_eq!(state.collections.get(CAPTAIN), Some(&1));
    assert!(seq > 0);
}

#[tokio::test]
async fn deleting_last_record_removes_did() {
    let (_dir, index) = temp_index();
    let (_d, pds, plc, web) = pds_with_plc_and_web().await;
    let first = pds
        .create_record(&web, CAPTAIN, sample_record(CAPTAIN, "1"))
        .expect("create");
    let second = pds
        .create_record(&web, CAPTAIN, sample_record(CAPTAIN, "2"))
        .expect("create");
    pds.create_record(&plc, CAPTAIN, sample_record(CAPTAIN, "3"))
        .expect("create");
    let mut seq = feed(&pds, &index, 0);
    assert_eq!(list_all(&index, CAPTAIN, 500).len(), 2);

    let path = |c: &atrelay_testkit::CommitData| RecordPath::parse(&c.ops[0].path).expect("path");
    // An update is count-neutral: it must not let one delete look like two records left.
    pds.put_record(&web, path(&first), sample_record(CAPTAIN, "1b"))
        .expect("update");
    pds.delete_record(&web, path(&first)).expect("delete");
    seq = feed(&pds, &index, seq);
    assert!(
        list_all(&index, CAPTAIN, 500).contains(&web),
        "one record left"
    );

    pds.delete_record(&web, path(&second)).expect("delete");
    feed(&pds, &index, seq);
    assert_eq!(list_all(&index, CAPTAIN, 500), vec![plc]);
    assert_eq!(index.collections(), vec![(CAPTAIN.to_owned(), 1)]);
    assert_eq!(index.drift_count(), 0);
}

#[tokio::test]
async fn deactivation_hides_and_reactivation_restores() {
    let (_dir, index) = temp_index();
    let (_d, pds, plc, web) = pds_with_plc_and_web().await;
    for did in [&plc, &web] {
        pds.create_record(did, CAPTAIN, sample_record(CAPTAIN, "x"))
            .expect("create");
        pds.create_record(
            did,
            "app.bsky.feed.post",
            sample_record("app.bsky.feed.post", "p"),
        )
        .expect("create");
    }
    let mut seq = feed(&pds, &index, 0);
    assert_eq!(list_all(&index, CAPTAIN, 1).len(), 2);

    pds.set_status(&web, Some(AccountStatus::Deactivated))
        .expect("deactivate");
    pds.set_status(&plc, Some(AccountStatus::Takendown))
        .expect("take down");
    seq = feed(&pds, &index, seq);
    assert!(list_all(&index, CAPTAIN, 500).is_empty());
    assert!(list_all(&index, "app.bsky.feed.post", 500).is_empty());
    assert!(index.collections().is_empty());

    pds.set_status(&web, None).expect("reactivate");
    feed(&pds, &index, seq);
    assert_eq!(list_all(&index, CAPTAIN, 500), vec![web.clone()]);
    assert_eq!(list_all(&index, "app.bsky.feed.post", 500), vec![web]);
    assert_eq!(
        index.collections(),
        vec![
            ("app.bsky.feed.post".to_owned(), 1),
            (CAPTAIN.to_owned(), 1)
        ]
    );
}

#[tokio::test]
async fn replayed_commits_are_ignored() {
    let (_dir, index) = temp_index();
    let (_d, pds, plc, _web) = pds_with_plc_and_web().await;
    pds.create_record(&plc, CAPTAIN, sample_record(CAPTAIN, "x"))
        .expect("create");
    feed(&pds, &index, 0);
    // The whole stream again, as after a relay restart from an older cursor.
    feed(&pds, &index, 0);
    let state = index.account(&plc).expect("account").expect("known");
    assert_eq!(state.collections.get(CAPTAIN), Some(&1));
}

fn revs(n: usize) -> Vec<String> {
    let mut clock = TidClock::new(7);
    (0..n).map(|_| clock.next_tid().to_text()).collect()
}

#[test]
fn unseeded_account_is_listed_but_not_unlisted_until_its_snapshot() {
    let (_dir, index) = temp_index();
    let did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    let rev = revs(4);
    // A create on an account the index never saw (not its repository's first commit).
    let outcome = index
        .apply_commit(
            did,
            &rev[1],
            Some(&rev[0]),
            &[Op::new(OpAction::Create, format!("{CAPTAIN}/a"))],
        )
        .expect("apply");
    assert_eq!(outcome, CommitOutcome::Applied { exact: false });
    assert_eq!(list_all(&index, CAPTAIN, 10), vec![did.to_owned()]);
    // Deleting it says nothing about older records: still listed.
    index
        .apply_commit(
            did,
            &rev[3],
            Some(&rev[1]),
            &[Op::new(OpAction::Delete, format!("{CAPTAIN}/a"))],
        )
        .expect("apply");
    assert_eq!(list_all(&index, CAPTAIN, 10), vec![did.to_owned()]);

    // A snapshot taken at rev[2] (after the create, before the delete) says one record;
    // the delete seen at rev[3] brings it to zero.
    let snapshot = RepoSnapshot::new(rev[2].clone(), BTreeMap::from([(CAPTAIN.to_owned(), 1)]));
    assert_eq!(
        index.apply_snapshot(did, &snapshot).expect("snapshot"),
        SnapshotOutcome::Applied { exact: true }
    );
    assert!(list_all(&index, CAPTAIN, 10).is_empty());
    let state = index.account(did).expect("account").expect("known");
    assert!(state.exact);
    assert_eq!(state.rev.as_deref(), Some(rev[3].as_str()));
}

#[test]
fn snapshot_older_than_exact_counts_is_stale_and_newer_one_wins() {
    let (_dir, index) = temp_index();
    let did = "did:web:example.com";
    let rev = revs(4);
    index
        .apply_commit(
            did,
            &rev[1],
            None,
            &[Op::new(OpAction::Create, format!("{CAPTAIN}/a"))],
        )
        .expect("genesis");
    let old = RepoSnapshot::new(rev[0].clone(), BTreeMap::new());
    assert_eq!(
        index.apply_snapshot(did, &old).expect("snapshot"),
        SnapshotOutcome::Stale
    );
    assert_eq!(list_all(&index, CAPTAIN, 10), vec![did.to_owned()]);
    // A newer snapshot (the record was deleted at rev[2], not seen live) repairs it, and the
    // late delete itself is then ignored as older than the snapshot.
    let newer = RepoSnapshot::new(
        rev[3].clone(),
        BTreeMap::from([("app.bsky.feed.like".to_owned(), 2)]),
    );
    assert_eq!(
        index.apply_snapshot(did, &newer).expect("snapshot"),
        SnapshotOutcome::Applied { exact: true }
    );
    assert!(list_all(&index, CAPTAIN, 10).is_empty());
    assert_eq!(
        index
            .apply_commit(
                did,
                &rev[2],
                Some(&rev[1]),
                &[Op::new(OpAction::Delete, format!("{CAPTAIN}/a"))]
            )
            .expect("late"),
        CommitOutcome::Stale
    );
    assert_eq!(
        index.collections(),
        vec![("app.bsky.feed.like".to_owned(), 1)]
    );
}

#[test]
fn bad_input_is_a_typed_error_and_writes_nothing() {
    let (_dir, index) = temp_index();
    let rev = revs(1);
    let did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    assert!(matches!(
        index.list_repos("not an nsid", None, 10),
        Err(IndexError::InvalidCollection { .. })
    ));
    assert!(matches!(
        index.list_repos(CAPTAIN, None, 0),
        Err(IndexError::InvalidLimit { .. })
    ));
    assert!(matches!(
        index.list_repos(CAPTAIN, None, 2001),
        Err(IndexError::InvalidLimit { .. })
    ));
    assert!(matches!(
        index.apply_commit("nope", &rev[0], None, &[]),
        Err(IndexError::InvalidDid { .. })
    ));
    assert!(matches!(
        index.apply_commit(did, "yesterday", None, &[]),
        Err(IndexError::InvalidRev { .. })
    ));
    let ops = [
        Op::new(OpAction::Create, format!("{CAPTAIN}/a")),
        Op::new(OpAction::Create, "no-slash"),
    ];
    assert!(matches!(
        index.apply_commit(did, &rev[0], None, &ops),
        Err(IndexError::InvalidPath(_))
    ));
    assert!(index.account(did).expect("account").is_none());
}

#[test]
fn index_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rev = revs(1);
    let did = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb";
    {
        let index = CollectionIndex::open(dir.path()).expect("open");
        index
            .apply_commit(
                did,
                &rev[0],
                None,
                &[Op::new(OpAction::Create, format!("{CAPTAIN}/a"))],
            )
            .expect("apply");
        index
            .set_account_active("did:web:gone.example", false)
            .expect("hide");
        index.persist().expect("persist");
    }
    let index = CollectionIndex::open(dir.path()).expect("reopen");
    assert_eq!(list_all(&index, CAPTAIN, 10), vec![did.to_owned()]);
    assert_eq!(index.collections(), vec![(CAPTAIN.to_owned(), 1)]);
    assert_eq!(
        index
            .apply_commit(
                did,
                &rev[0],
                None,
                &[Op::new(OpAction::Create, format!("{CAPTAIN}/b"))]
            )
            .expect("replay"),
        CommitOutcome::Stale
    );
    assert!(
        !index
            .account("did:web:gone.example")
            .expect("account")
            .expect("known")
            .active
    );
}
