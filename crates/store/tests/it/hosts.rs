//! Hosts: creation, lookup, paging and per-host fields.

use atrelay_store::{HostLimits, HostPage, HostStatus, StoreError};

use crate::support::{backend_test, new_host, TestDb};

backend_test!(create_and_look_up);
async fn create_and_look_up(db: &mut TestDb) {
    let store = &db.store;
    let host = store
        .create_host(&new_host("PDS.Example.com."))
        .await
        .unwrap();
    assert_eq!(host.hostname, "pds.example.com");
    assert_eq!(host.status, HostStatus::Active);
    assert_eq!(host.last_seq, None);
    assert_eq!(host.account_count, 0);
    assert_eq!(host.limits, HostLimits::with_account_limit(100));
    assert!(!host.trusted && !host.no_ssl);
    assert_eq!(host.last_connected_at, None);
    assert_eq!(host.last_error, None);
    assert!(host.created_at > 0);

    assert_eq!(store.host(host.id).await.unwrap(), Some(host.clone()));
    assert_eq!(
        store.host_by_hostname("pds.EXAMPLE.com").await.unwrap(),
        Some(host.clone())
    );
    assert_eq!(store.host(host.id + 1000).await.unwrap(), None);
    assert_eq!(
        store.host_by_hostname("other.example.com").await.unwrap(),
        None
    );

    let err = store
        .create_host(&new_host("pds.example.COM"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::HostExists { hostname } if hostname == "pds.example.com"),
        "{err:?}"
    );
    let err = store
        .create_host(&new_host("not a host"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidHostname { .. }), "{err:?}");

    let local = store
        .create_host(&new_host("localhost:2583"))
        .await
        .unwrap();
    assert_eq!(local.hostname, "localhost:2583");
    assert_ne!(local.id, host.id);
}

backend_test!(paging_by_id);
async fn paging_by_id(db: &mut TestDb) {
    let store = &db.store;
    let mut created = Vec::new();
    for n in 0..25 {
        let host = store
            .create_host(&new_host(&format!("pds{n}.example.com")))
            .await
            .unwrap();
        if n % 5 == 0 {
            store
                .set_host_status(host.id, HostStatus::Offline)
                .await
                .unwrap();
        }
        created.push(host.id);
    }

    let mut seen = Vec::new();
    let mut after_id = None;
    let mut page_sizes = Vec::new();
    loop {
        let page = store
            .list_hosts(&HostPage {
                after_id,
                limit: 10,
                status: None,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        page_sizes.push(page.len());
        after_id = page.last().map(|host| host.id);
        seen.extend(page.into_iter().map(|host| host.id));
    }
    assert_eq!(page_sizes, [10, 10, 5]);
    assert_eq!(seen, created);

    let offline = store
        .list_hosts(&HostPage {
            after_id: None,
            limit: 100,
            status: Some(HostStatus::Offline),
        })
        .await
        .unwrap();
    assert_eq!(offline.len(), 5);
    assert!(offline
        .iter()
        .all(|host| host.status == HostStatus::Offline));
    let after_two = store
        .list_hosts(&HostPage {
            after_id: Some(offline[1].id),
            limit: 100,
            status: Some(HostStatus::Offline),
        })
        .await
        .unwrap();
    assert_eq!(after_two, offline[2..]);

    assert_eq!(store.count_hosts(None).await.unwrap(), 25);
    assert_eq!(
        store.count_hosts(Some(HostStatus::Offline)).await.unwrap(),
        5
    );
    assert_eq!(
        store.count_hosts(Some(HostStatus::Banned)).await.unwrap(),
        0
    );

    let err = store
        .list_hosts(&HostPage {
            after_id: None,
            limit: 0,
            status: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidArgument { name: "limit", .. }),
        "{err:?}"
    );
}

backend_test!(per_host_fields);
async fn per_host_fields(db: &mut TestDb) {
    let store = &db.store;
    let id = store
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap()
        .id;

    for status in HostStatus::ALL {
        store.set_host_status(id, status).await.unwrap();
        assert_eq!(store.host(id).await.unwrap().unwrap().status, status);
    }

    // Cursors are i64: well beyond 2^31 and up to the maximum.
    for seq in [0, 1 << 31, 5_000_000_000, i64::MAX] {
        store.set_host_cursor(id, Some(seq)).await.unwrap();
        assert_eq!(store.host(id).await.unwrap().unwrap().last_seq, Some(seq));
    }
    store.set_host_cursor(id, None).await.unwrap();
    assert_eq!(store.host(id).await.unwrap().unwrap().last_seq, None);

    let limits = HostLimits {
        events_per_second: Some(50),
        events_per_hour: Some(2_600),
        events_per_day: Some(21_000),
        account_limit: 10_000_000,
        crawl_rate: Some(2.5),
    };
    store.set_host_limits(id, &limits).await.unwrap();
    store.set_host_trusted(id, true).await.unwrap();
    let host = store.host(id).await.unwrap().unwrap();
    assert_eq!(host.limits, limits);
    assert!(host.trusted);

    store.record_host_connected(id).await.unwrap();
    store
        .record_host_error(id, "connection reset")
        .await
        .unwrap();
    let host = store.host(id).await.unwrap().unwrap();
    assert!(host.last_connected_at.is_some());
    assert!(host.last_error_at.is_some());
    assert_eq!(host.last_error.as_deref(), Some("connection reset"));

    let missing = id + 1000;
    let results = [
        store.set_host_status(missing, HostStatus::Banned).await,
        store.set_host_cursor(missing, Some(1)).await,
        store.set_host_limits(missing, &limits).await,
        store.set_host_trusted(missing, false).await,
        store.record_host_connected(missing).await,
        store.record_host_error(missing, "x").await,
    ];
    for result in results {
        assert!(
            matches!(result, Err(StoreError::HostNotFound { id }) if id == missing),
            "{result:?}"
        );
    }
    let err = store.recount_host_accounts(missing).await.unwrap_err();
    assert!(matches!(err, StoreError::HostNotFound { .. }), "{err:?}");
}
