//! Accounts: lookup, paging by DID, local status and counts.

use atrelay_store::{
    AccountFilter, AccountPage, AccountStatus, AccountUpdate, RepoState, StoreError,
};

use crate::support::{backend_test, new_host, TestDb};

fn repo(n: u32) -> RepoState {
    RepoState {
        rev: format!("3l{n:011}"),
        commit_cid: format!("bafycommit{n}"),
        data_cid: format!("bafydata{n}"),
    }
}

backend_test!(look_up_and_local_status);
async fn look_up_and_local_status(db: &mut TestDb) {
    let store = &db.store;
    let host = store
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap();
    assert_eq!(store.account("did:plc:alice").await.unwrap(), None);

    store
        .apply_batch(
            &[AccountUpdate::new("did:plc:alice", host.id).with_repo(repo(1))],
            &[],
        )
        .await
        .unwrap();
    let alice = store.account("did:plc:alice").await.unwrap().unwrap();
    assert_eq!(alice.host_id, host.id);
    assert_eq!(alice.upstream_status, AccountStatus::Active);
    assert_eq!(alice.local_status, AccountStatus::Active);
    assert_eq!(alice.local_reason, None);
    assert_eq!(alice.repo, Some(repo(1)));
    assert!(alice.is_active());
    assert_eq!(alice.status(), None);

    let taken = store
        .set_local_status(
            "did:plc:alice",
            AccountStatus::Takendown,
            Some("spam report 42"),
        )
        .await
        .unwrap();
    assert_eq!(taken.local_status, AccountStatus::Takendown);
    assert_eq!(taken.local_reason.as_deref(), Some("spam report 42"));
    assert_eq!(taken.status(), Some(AccountStatus::Takendown));
    assert_eq!(store.account("did:plc:alice").await.unwrap(), Some(taken));

    let restored = store
        .set_local_status("did:plc:alice", AccountStatus::Active, None)
        .await
        .unwrap();
    assert!(restored.is_active());
    assert_eq!(restored.local_reason, None);

    let err = store
        .set_local_status("did:plc:nobody", AccountStatus::Suspended, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AccountNotFound { did } if did == "did:plc:nobody"),
        "{err:?}"
    );
}

backend_test!(paging_by_did);
async fn paging_by_did(db: &mut TestDb) {
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
    // Upper-case letters sort before lower-case ones in byte order, on both backends.
    let mut dids: Vec<String> = (0..30).map(|n| format!("did:plc:a{n:03}")).collect();
    dids.push("did:plc:B".to_owned());
    dids.push("did:web:Z.example".to_owned());
    let updates: Vec<AccountUpdate> = dids
        .iter()
        .enumerate()
        .map(|(n, did)| AccountUpdate::new(did.clone(), if n % 2 == 0 { a } else { b }))
        .collect();
    store.apply_batch(&updates, &[]).await.unwrap();
    store
        .set_local_status("did:plc:a003", AccountStatus::Takendown, None)
        .await
        .unwrap();
    store
        .apply_batch(
            &[AccountUpdate::new("did:plc:a004", a).with_upstream_status(AccountStatus::Deleted)],
            &[],
        )
        .await
        .unwrap();

    let all = collect_pages(db, AccountFilter::default(), 7).await;
    let mut sorted = dids.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert_eq!(all[0], "did:plc:B");

    let on_a = collect_pages(
        db,
        AccountFilter {
            host_id: Some(a),
            ..Default::default()
        },
        4,
    )
    .await;
    assert_eq!(on_a.len(), 16);
    let active = collect_pages(
        db,
        AccountFilter {
            active_only: true,
            ..Default::default()
        },
        5,
    )
    .await;
    assert_eq!(active.len(), 30);
    assert!(!active.contains(&"did:plc:a003".to_owned()));
    assert!(!active.contains(&"did:plc:a004".to_owned()));
    let taken = collect_pages(
        db,
        AccountFilter {
            local_status: Some(AccountStatus::Takendown),
            ..Default::default()
        },
        5,
    )
    .await;
    assert_eq!(taken, ["did:plc:a003"]);

    let store = &db.store;
    assert_eq!(
        store
            .count_accounts(&AccountFilter::default())
            .await
            .unwrap(),
        32
    );
    assert_eq!(
        store
            .count_accounts(&AccountFilter {
                host_id: Some(b),
                active_only: true,
                ..Default::default()
            })
            .await
            .unwrap(),
        15
    );
    let err = store
        .list_accounts(&AccountPage {
            after_did: None,
            limit: 0,
            filter: AccountFilter::default(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidArgument { name: "limit", .. }),
        "{err:?}"
    );
}

async fn collect_pages(db: &TestDb, filter: AccountFilter, limit: u32) -> Vec<String> {
    let mut dids = Vec::new();
    let mut after_did = None;
    loop {
        let page = db
            .store
            .list_accounts(&AccountPage {
                after_did: after_did.clone(),
                limit,
                filter: filter.clone(),
            })
            .await
            .unwrap();
        assert!(page.len() <= limit as usize);
        let Some(last) = page.last() else { break };
        after_did = Some(last.did.clone());
        dids.extend(page.into_iter().map(|account| account.did));
    }
    dids
}

backend_test!(read_many_for_a_cache);
async fn read_many_for_a_cache(db: &mut TestDb) {
    let store = &db.store;
    let host = store
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap()
        .id;
    let updates: Vec<AccountUpdate> = (0..1_200)
        .map(|n| AccountUpdate::new(format!("did:plc:{n:05}"), host).with_repo(repo(n)))
        .collect();
    store.apply_batch(&updates, &[]).await.unwrap();

    // Every existing DID plus some unknown ones, more than one query's worth.
    let mut wanted: Vec<String> = (0..1_300)
        .step_by(2)
        .map(|n| format!("did:plc:{n:05}"))
        .collect();
    wanted.push("did:plc:unknown".to_owned());
    let mut found = store.accounts(&wanted).await.unwrap();
    found.sort_by(|x, y| x.did.cmp(&y.did));
    assert_eq!(found.len(), 600);
    assert_eq!(found[0].did, "did:plc:00000");
    assert_eq!(found[599].repo, Some(repo(1_198)));
    assert!(store.accounts(&[]).await.unwrap().is_empty());
}

backend_test!(host_account_counts_follow_accounts);
async fn host_account_counts_follow_accounts(db: &mut TestDb) {
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
    let updates: Vec<AccountUpdate> = (0..3)
        .map(|n| AccountUpdate::new(format!("did:plc:{n}"), a))
        .collect();
    store.apply_batch(&updates, &[]).await.unwrap();
    // Updating existing accounts on the same host does not change the count.
    store.apply_batch(&updates, &[]).await.unwrap();
    let counts = |db: &TestDb| {
        let store = db.store.clone();
        async move {
            (
                store.host(a).await.unwrap().unwrap().account_count,
                store.host(b).await.unwrap().unwrap().account_count,
            )
        }
    };
    assert_eq!(counts(db).await, (3, 0));

    // An account migrates to host b, and a new one appears there, in one batch.
    db.store
        .apply_batch(
            &[
                AccountUpdate::new("did:plc:1", b),
                AccountUpdate::new("did:plc:new", b),
            ],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(counts(db).await, (2, 2));
    assert_eq!(db.store.recount_host_accounts(a).await.unwrap(), 2);
    assert_eq!(db.store.recount_host_accounts(b).await.unwrap(), 2);
}
