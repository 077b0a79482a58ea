//! Connecting and migrating.

use atrelay_store::{Backend, ConnectOptions, Store, StoreError};

use crate::support::{backend_test, new_host, TestDb};

backend_test!(migrations_are_idempotent);
async fn migrations_are_idempotent(db: &mut TestDb) {
    let id = db
        .store
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap()
        .id;
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    // Reopening applies the migrations again (a restart, or `atrelay migrate`).
    db.reconnect().await;
    db.store.ping().await.unwrap();
    assert_eq!(
        db.store.host(id).await.unwrap().unwrap().hostname,
        "pds.example.com"
    );
}

#[tokio::test]
async fn urls_choose_the_backend() {
    let memory = Store::open("sqlite::memory:", &ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(memory.backend(), Backend::Sqlite);
    memory
        .create_host(&new_host("pds.example.com"))
        .await
        .unwrap();
    // One connection keeps the in-memory database alive across calls.
    assert_eq!(memory.count_hosts(None).await.unwrap(), 1);
    memory.close().await;

    let err = Store::connect("mysql://user:secret@db/relay")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnsupportedUrl { scheme } if scheme == "mysql"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret"));

    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) => {
            let store = Store::connect(&url).await.unwrap();
            assert_eq!(store.backend(), Backend::Postgres);
            store.ping().await.unwrap();
            store.close().await;
        }
        Err(_) => eprintln!("skipping: TEST_DATABASE_URL not set"),
    }
}

#[tokio::test]
async fn sqlite_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/relay.sqlite");
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url, &ConnectOptions::default()).await.unwrap();
    store.close().await;
    assert!(path.exists());
}
