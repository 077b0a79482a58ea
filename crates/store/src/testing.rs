//! Scratch databases for tests and benchmarks (feature `testing`): a migrated [`Store`] on a
//! new SQLite file or a new PostgreSQL schema, and a PostgreSQL database of a test's own for
//! tests that break the database (refuse connections) under a running relay.
//!
//! PostgreSQL comes from [`DATABASE_URL_ENV`]; without it the PostgreSQL constructors print a
//! notice and return `None`, so a laptop without a server skips those tests visibly.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;

use crate::{ConnectOptions, Store};

/// The environment variable naming the PostgreSQL server tests use
/// (`postgres://postgres@127.0.0.1:5432/postgres` in CI).
pub const DATABASE_URL_ENV: &str = "TEST_DATABASE_URL";

/// The PostgreSQL server of the tests, or `None` after a notice when it is not configured.
pub fn postgres_url() -> Option<String> {
    match std::env::var(DATABASE_URL_ENV) {
        Ok(url) => Some(url),
        Err(_) => {
            eprintln!("skipping: {DATABASE_URL_ENV} not set");
            None
        }
    }
}

/// A migrated store on a scratch database, and how to reach that database again.
pub struct ScratchStore {
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

impl ScratchStore {
    /// A migrated store on a new SQLite file in a temporary directory.
    ///
    /// # Panics
    /// When the file cannot be created or migrated.
    pub async fn sqlite() -> ScratchStore {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!(
            "sqlite://{}",
            dir.path().join("state/relay.sqlite").display()
        );
        let options = ConnectOptions::default();
        let store = Store::open(&url, &options)
            .await
            .expect("a scratch SQLite store");
        ScratchStore {
            store,
            url,
            options,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A migrated store on a new schema named after `prefix` on the tests' PostgreSQL server,
    /// with at most `max_connections`; `None` (with a notice) when [`DATABASE_URL_ENV`] is unset.
    ///
    /// # Panics
    /// When the server does not answer or the schema cannot be created.
    pub async fn postgres(prefix: &str, max_connections: u32) -> Option<ScratchStore> {
        let url = postgres_url()?;
        let schema = unique_name(prefix);
        execute(&url, &format!("CREATE SCHEMA {schema}")).await;
        let options = ConnectOptions {
            max_connections: Some(max_connections),
            postgres_schema: Some(schema.clone()),
        };
        let store = Store::open(&url, &options)
            .await
            .expect("a scratch PostgreSQL store");
        Some(ScratchStore {
            store,
            url,
            options,
            cleanup: Cleanup::Postgres { schema },
        })
    }

    /// A new store on the same database (after closing the old one, as a restart would).
    ///
    /// # Panics
    /// When the database cannot be opened again.
    pub async fn reconnect(&mut self) {
        self.store.close().await;
        self.store = Store::open(&self.url, &self.options)
            .await
            .expect("the scratch database again");
    }

    /// Closes the store and removes the scratch database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres { schema } = &self.cleanup {
            execute(&self.url, &format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    }
}

/// A PostgreSQL database of one test's own on the tests' server, for a relay process to use
/// while the test refuses and allows connections to it; dropped by [`OwnDatabase::drop_database`].
pub struct OwnDatabase {
    admin: sqlx::PgConnection,
    name: String,
    url: String,
}

impl OwnDatabase {
    /// Creates (or recreates) the database `atrelay_{tag}_{pid}`; `None` (with a notice) when
    /// [`DATABASE_URL_ENV`] is unset.
    ///
    /// # Panics
    /// When the server does not answer or the database cannot be created.
    pub async fn create(tag: &str) -> Option<OwnDatabase> {
        let admin_url = postgres_url()?;
        let name = format!("atrelay_{tag}_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("the tests' PostgreSQL server");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
        }
        let slash = admin_url
            .rfind('/')
            .expect("the tests' database URL names a database");
        let url = format!("{}/{name}", &admin_url[..slash]);
        Some(OwnDatabase { admin, name, url })
    }

    /// The database's URL, for the relay under test.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Refuses new connections and ends the open ones: an outage as the relay sees it.
    pub async fn refuse_connections(&mut self) {
        let name = self.name.clone();
        self.run(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
            .await;
        self.run(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await;
    }

    /// Takes connections again after [`OwnDatabase::refuse_connections`].
    pub async fn allow_connections(&mut self) {
        let name = self.name.clone();
        self.run(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
            .await;
    }

    /// Drops the database, ending any connection still open to it.
    pub async fn drop_database(mut self) {
        let name = self.name.clone();
        self.run(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }

    async fn run(&mut self, sql: &str) {
        sqlx::query(sql).execute(&mut self.admin).await.expect(sql);
    }
}

/// `{prefix}_{pid}_{counter}_{nanos}`: unique across tests of a process and across runs.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs one statement on the PostgreSQL server, outside any scratch schema.
async fn execute(url: &str, sql: &str) {
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .expect("the tests' PostgreSQL server");
    sqlx::query(sql).execute(&mut connection).await.expect(sql);
    let _ = connection.close().await;
}
