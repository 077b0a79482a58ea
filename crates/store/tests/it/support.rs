//! Test databases: a fresh SQLite file, or a fresh PostgreSQL schema, per test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use atrelay_store::{ConnectOptions, HostLimits, HostStatus, NewHost, Store};

const DEFAULT_NOTICE: &str = "skipping: TEST_DATABASE_URL not set";

/// A store on a scratch database, and how to reach that database again.
pub struct TestDb {
    /// The migrated store.
    pub store: Store,
    url: String,
    options: ConnectOptions,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The temporary directory holding the SQLite file; removed on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// The PostgreSQL schema to drop.
    Postgres { schema: String },
}

impl TestDb {
    /// A migrated store on a new SQLite file.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}",
            dir.path().join("state/relay.sqlite").display()
        );
        let options = ConnectOptions::default();
        let store = Store::open(&url, &options).await.unwrap();
        TestDb {
            store,
            url,
            options,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A migrated store on a new PostgreSQL schema, or `None` (with a notice) when
    /// `TEST_DATABASE_URL` is not set.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("{DEFAULT_NOTICE}");
            return None;
        };
        let schema = unique_schema_name();
        execute(&url, &format!("CREATE SCHEMA {schema}")).await;
        let options = ConnectOptions {
            max_connections: Some(4),
            postgres_schema: Some(schema.clone()),
        };
        let store = Store::open(&url, &options).await.unwrap();
        Some(TestDb {
            store,
            url,
            options,
            cleanup: Cleanup::Postgres { schema },
        })
    }

    /// A new store on the same database (after closing the old one, as a restart would).
    pub async fn reconnect(&mut self) {
        self.store.close().await;
        self.store = Store::open(&self.url, &self.options).await.unwrap();
    }

    /// Closes the store and removes the scratch database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres { schema } = &self.cleanup {
            execute(&self.url, &format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    }
}

fn unique_schema_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "atrelay_store_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Runs one statement on the PostgreSQL server, outside any scratch schema.
async fn execute(url: &str, sql: &str) {
    let pool = sqlx::PgPool::connect(url)
        .await
        .expect("TEST_DATABASE_URL must be reachable");
    sqlx::query(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

/// Declares a test module running `$test(&mut TestDb)` once on SQLite and once on PostgreSQL.
macro_rules! backend_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let mut db = $crate::support::TestDb::sqlite().await;
                super::$name(&mut db).await;
                db.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(mut db) = $crate::support::TestDb::postgres().await else {
                    return;
                };
                super::$name(&mut db).await;
                db.finish().await;
            }
        }
    };
}
pub(crate) use backend_test;

/// A new active host with the given name and account limit 100.
pub fn new_host(hostname: &str) -> NewHost {
    NewHost {
        hostname: hostname.to_owned(),
        no_ssl: false,
        trusted: false,
        status: HostStatus::Active,
        limits: HostLimits::with_account_limit(100),
    }
}
