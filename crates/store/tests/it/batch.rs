//! The batched ingest write: merge rules, atomicity and cursors.

use atrelay_store::{
    AccountStatus, AccountUpdate, BatchOutcome, HostCursor, RepoState, StoreError,
};

use crate::support::{backend_test, new_host, TestDb};

fn repo(n: u32) -> RepoState {
    RepoState {
        rev: format!("3l{n:011}"),
        commit_cid: format!("bafycommit{n}"),
        data_cid: format!("bafydata{n}"),
    }
}

backend_test!(updates_keep_what_they_do_not_carry);
async fn updates_keep_what_they_do_not_carry(db: &mut TestDb) {
    let store = &db.store;
    let host = store
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap()
        .id;
    let over_limit = AccountUpdate {
        initial_local_status: AccountStatus::Throttled,
        initial_local_reason: Some("host account limit".to_owned()),
        ..AccountUpdate::new("did:plc:late", host)
    };
    store
        .apply_batch(
            &[
                AccountUpdate::new("did:plc:alice", host).with_repo(repo(1)),
                over_limit.clone(),
            ],
            &[],
        )
        .await
        .unwrap();
    let late = store.account("did:plc:late").await.unwrap().unwrap();
    assert_eq!(late.local_status, AccountStatus::Throttled);
    assert_eq!(late.local_reason.as_deref(), Some("host account limit"));
    assert_eq!(late.repo, None);

    // An #account event: no repository state, so the last commit is kept.
    store
        .apply_batch(
            &[AccountUpdate::new("did:plc:alice", host)
                .with_upstream_status(AccountStatus::Deactivated)],
            &[],
        )
        .await
        .unwrap();
    let alice = store.account("did:plc:alice").await.unwrap().unwrap();
    assert_eq!(alice.upstream_status, AccountStatus::Deactivated);
    assert_eq!(alice.repo, Some(repo(1)));
    assert_eq!(alice.status(), Some(AccountStatus::Deactivated));

    // An operator's takedown survives later ingest writes, and so does the initial throttle.
    store
        .set_local_status("did:plc:alice", AccountStatus::Takendown, Some("policy"))
        .await
        .unwrap();
    let mut unthrottle = over_limit;
    unthrottle.initial_local_status = AccountStatus::Active;
    unthrottle.initial_local_reason = None;
    store
        .apply_batch(
            &[
                AccountUpdate::new("did:plc:alice", host).with_repo(repo(2)),
                unthrottle,
            ],
            &[],
        )
        .await
        .unwrap();
    let alice = store.account("did:plc:alice").await.unwrap().unwrap();
    assert_eq!(alice.local_status, AccountStatus::Takendown);
    assert_eq!(alice.local_reason.as_deref(), Some("policy"));
    assert_eq!(alice.upstream_status, AccountStatus::Active);
    assert_eq!(alice.repo, Some(repo(2)));
    let late = store.account("did:plc:late").await.unwrap().unwrap();
    assert_eq!(late.local_status, AccountStatus::Throttled);
}

backend_test!(repeated_dids_merge);
async fn repeated_dids_merge(db: &mut TestDb) {
    let store = &db.store;
    let a = store
        .create_host(&new_host("a.example.com"))
        .await
        .unwrap()
        .id;
    let b = store
        .create_host(&new_host("b.example.com"))
        .await
        .unwrap()
        .id;
    let outcome = store
        .apply_batch(
            &[
                AccountUpdate::new("did:plc:x", a).with_repo(repo(1)),
                AccountUpdate::new("did:plc:x", a).with_repo(repo(2)),
                AccountUpdate::new("did:plc:x", b).with_upstream_status(AccountStatus::Suspended),
            ],
            &[
                HostCursor {
                    host_id: a,
                    seq: 10,
                },
                HostCursor {
                    host_id: a,
                    seq: 11,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        BatchOutcome {
            accounts: 1,
            cursors: 1
        }
    );
    let x = store.account("did:plc:x").await.unwrap().unwrap();
    assert_eq!(x.host_id, b);
    assert_eq!(x.upstream_status, AccountStatus::Suspended);
    assert_eq!(x.repo, Some(repo(2)));
    assert_eq!(store.host(a).await.unwrap().unwrap().last_seq, Some(11));
    assert_eq!(store.host(a).await.unwrap().unwrap().account_count, 0);
    assert_eq!(store.host(b).await.unwrap().unwrap().account_count, 1);

    assert_eq!(
        store.apply_batch(&[], &[]).await.unwrap(),
        BatchOutcome::default()
    );
}

backend_test!(a_failing_batch_writes_nothing);
async fn a_failing_batch_writes_nothing(db: &mut TestDb) {
    let store = &db.store;
    let host = store
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap()
        .id;
    store
        .apply_batch(
            &[AccountUpdate::new("did:plc:old", host).with_repo(repo(1))],
            &[HostCursor {
                host_id: host,
                seq: 100,
            }],
        )
        .await
        .unwrap();
    let missing = host + 1000;
    let good_updates = [
        AccountUpdate::new("did:plc:new", host).with_repo(repo(5)),
        AccountUpdate::new("did:plc:old", host).with_repo(repo(6)),
    ];

    // A cursor of a missing host, after the account upserts succeeded inside the transaction.
    let err = store
        .apply_batch(
            &good_updates,
            &[
                HostCursor {
                    host_id: host,
                    seq: 200,
                },
                HostCursor {
                    host_id: missing,
                    seq: 1,
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::HostNotFound { id } if id == missing),
        "{err:?}"
    );
    assert_unchanged(db, host).await;

    // An account on a missing host (a foreign key violation) among good ones.
    let mut bad_updates = good_updates.to_vec();
    bad_updates.push(AccountUpdate::new("did:plc:stray", missing));
    let err = store
        .apply_batch(
            &bad_updates,
            &[HostCursor {
                host_id: host,
                seq: 200,
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::HostNotFound { id } if id == missing),
        "{err:?}"
    );
    assert_unchanged(db, host).await;

    let err = store
        .apply_batch(&[AccountUpdate::new("", host)], &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidArgument { name: "did", .. }),
        "{err:?}"
    );
}

async fn assert_unchanged(db: &TestDb, host: i64) {
    let store = &db.store;
    assert_eq!(store.account("did:plc:new").await.unwrap(), None);
    assert_eq!(store.account("did:plc:stray").await.unwrap(), None);
    assert_eq!(
        store.account("did:plc:old").await.unwrap().unwrap().repo,
        Some(repo(1))
    );
    let host = store.host(host).await.unwrap().unwrap();
    assert_eq!(host.last_seq, Some(100));
    assert_eq!(host.account_count, 1);
}

backend_test!(large_cursors_and_batches);
async fn large_cursors_and_batches(db: &mut TestDb) {
    let store = &db.store;
    let a = store
        .create_host(&new_host("a.example.com"))
        .await
        .unwrap()
        .id;
    let b = store
        .create_host(&new_host("b.example.com"))
        .await
        .unwrap()
        .id;
    let updates: Vec<AccountUpdate> = (0..2_500)
        .map(|n| {
            AccountUpdate::new(format!("did:plc:{n:06}"), if n % 3 == 0 { b } else { a })
                .with_repo(repo(n))
        })
        .collect();
    let outcome = store
        .apply_batch(
            &updates,
            &[
                HostCursor {
                    host_id: a,
                    seq: 5_000_000_000,
                },
                HostCursor {
                    host_id: b,
                    seq: i64::MAX,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        BatchOutcome {
            accounts: 2_500,
            cursors: 2
        }
    );
    let host_a = store.host(a).await.unwrap().unwrap();
    let host_b = store.host(b).await.unwrap().unwrap();
    assert_eq!(host_a.last_seq, Some(5_000_000_000));
    assert_eq!(host_b.last_seq, Some(i64::MAX));
    assert_eq!(host_a.account_count + host_b.account_count, 2_500);
    assert_eq!(host_b.account_count, 834);
    // Rows at the edges of the multi-row statements SQLite gets land whole, on the right DID.
    for n in [0, 63, 64, 65, 1_337, 2_495, 2_496, 2_499] {
        let account = store
            .account(&format!("did:plc:{n:06}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.repo, Some(repo(n)), "account {n}");
        assert_eq!(
            account.host_id,
            if n % 3 == 0 { b } else { a },
            "account {n}"
        );
    }
}

backend_test!(concurrent_batches_all_land);
async fn concurrent_batches_all_land(db: &mut TestDb) {
    // Several ingest writers at once: SQLite serialises them on its write lock (waiting, not
    // failing with "database is locked"), PostgreSQL runs them side by side.
    let mut tasks = Vec::new();
    for writer in 0..6_u32 {
        let store = db.store.clone();
        let host = store
            .create_host(&new_host(&format!("pds{writer}.example.com")))
            .await
            .unwrap()
            .id;
        tasks.push(tokio::spawn(async move {
            for round in 0..5_u32 {
                let updates: Vec<AccountUpdate> = (0..200)
                    .map(|n| {
                        AccountUpdate::new(format!("did:plc:w{writer}r{round}n{n}"), host)
                            .with_repo(repo(n))
                    })
                    .collect();
                let cursor = [HostCursor {
                    host_id: host,
                    seq: i64::from(round),
                }];
                store.apply_batch(&updates, &cursor).await.unwrap();
            }
            host
        }));
    }
    for task in tasks {
        let host = task.await.unwrap();
        let host = db.store.host(host).await.unwrap().unwrap();
        assert_eq!(host.account_count, 1_000);
        assert_eq!(host.last_seq, Some(4));
    }
}

backend_test!(desynchronized_flag_is_stored_and_replaced);
async fn desynchronized_flag_is_stored_and_replaced(db: &mut TestDb) {
    let store = &db.store;
    let host = store
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap()
        .id;
    let did = "did:plc:desync";
    store
        .apply_batch(&[AccountUpdate::new(did, host).with_repo(repo(1))], &[])
        .await
        .unwrap();
    assert!(!store.account(did).await.unwrap().unwrap().desynchronized);
    // A commit that does not chain sets it; later updates of the batch carry it on.
    store
        .apply_batch(
            &[
                AccountUpdate::new(did, host)
                    .with_repo(repo(2))
                    .with_desynchronized(true),
                AccountUpdate::new(did, host)
                    .with_upstream_status(AccountStatus::Active)
                    .with_desynchronized(true),
            ],
            &[],
        )
        .await
        .unwrap();
    let account = store.account(did).await.unwrap().unwrap();
    assert!(account.desynchronized);
    assert!(account.is_active());
    assert_eq!(account.repo, Some(repo(2)));
    // A commit that chains again clears it.
    store
        .apply_batch(&[AccountUpdate::new(did, host).with_repo(repo(3))], &[])
        .await
        .unwrap();
    assert!(!store.account(did).await.unwrap().unwrap().desynchronized);
}

backend_test!(log_progress_is_written_with_the_batch_and_only_rises);
async fn log_progress_is_written_with_the_batch_and_only_rises(db: &mut TestDb) {
    use atrelay_store::{HostLogSeq, LogProgress};
    let store = &db.store;
    let a = store
        .create_host(&new_host("a.example.com"))
        .await
        .unwrap()
        .id;
    let b = store
        .create_host(&new_host("b.example.com"))
        .await
        .unwrap()
        .id;
    assert_eq!(store.log_progress().await.unwrap(), LogProgress::default());
    let progress = |host_id, relay_seq, watermark| LogProgress {
        hosts: vec![HostLogSeq { host_id, relay_seq }],
        watermark: Some(watermark),
    };
    store
        .apply_logged_batch(
            &[AccountUpdate::new("did:plc:alice", a).with_repo(repo(1))],
            &[HostCursor {
                host_id: a,
                seq: 40,
            }],
            &progress(a, 12, 9),
        )
        .await
        .unwrap();
    // A later batch of another host with an older watermark does not lower it.
    store
        .apply_logged_batch(
            &[AccountUpdate::new("did:plc:bob", b)],
            &[HostCursor { host_id: b, seq: 7 }],
            &progress(b, 11, 5),
        )
        .await
        .unwrap();
    // Nor does a stale relay seq of host a.
    store
        .apply_logged_batch(&[], &[], &progress(a, 3, 10))
        .await
        .unwrap();
    let mut read = store.log_progress().await.unwrap();
    read.hosts.sort_by_key(|h| h.host_id);
    assert_eq!(read.watermark, Some(10));
    assert_eq!(
        read.hosts,
        vec![
            HostLogSeq {
                host_id: a,
                relay_seq: 12
            },
            HostLogSeq {
                host_id: b,
                relay_seq: 11
            },
        ]
    );
    assert_eq!(store.host(a).await.unwrap().unwrap().last_seq, Some(40));

    // A failing batch writes no progress either.
    let failed = store
        .apply_logged_batch(
            &[AccountUpdate::new("did:plc:carol", 999_999)],
            &[],
            &progress(a, 50, 50),
        )
        .await;
    assert!(matches!(failed, Err(StoreError::HostNotFound { .. })));
    assert_eq!(store.log_progress().await.unwrap().watermark, Some(10));
}
