//! The store handle: connecting to a backend and applying the embedded migrations.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{Result, StoreError};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The relay's SQL state: one API over a PostgreSQL or a SQLite connection pool.
///
/// Cloning is cheap (the pool is reference counted). Every method runs its own short
/// transaction or single statement; the hot ingest path uses [`Store::apply_batch`].
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// Held by every SQLite batch write. SQLite has one writer at a time; without this,
    /// concurrent batches (one per host) wait inside SQLite's busy handler, which sleeps and
    /// polls (seconds per statement under load), instead of queueing here in order.
    pub(crate) sqlite_batch_writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// The connection pool behind a [`Store`].
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// The use of a [`Store`]'s connection pool ([`Store::pool_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL (`postgres://`, `postgresql://`).
    Postgres,
    /// SQLite (`sqlite://path`, `sqlite::memory:`).
    Sqlite,
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Largest number of pooled connections; `None` means 10 for PostgreSQL and 4 for a
    /// SQLite file (an in-memory SQLite database always uses one connection).
    pub max_connections: Option<u32>,
    /// PostgreSQL only: the schema to create tables in and read from (`search_path`).
    /// It must exist. `None` uses the server's default search path.
    pub postgres_schema: Option<String>,
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is compiled once per backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Postgres($pool) => $body,
            $crate::store::Pool::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

impl Store {
    /// Connects to the database named by `url` with default options.
    ///
    /// `sqlite://path/to/file` (created with its directory if missing, WAL journal),
    /// `sqlite::memory:`, `postgres://...` and `postgresql://...` are accepted.
    /// Migrations are not applied: call [`Store::migrate`].
    ///
    /// # Errors
    /// [`StoreError::UnsupportedUrl`] for another scheme, [`StoreError::Io`] when the SQLite
    /// directory cannot be created, [`StoreError::Database`] when connecting fails.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, &ConnectOptions::default()).await
    }

    /// Connects like [`Store::connect`], then applies the embedded migrations.
    ///
    /// # Errors
    /// As [`Store::connect`] and [`Store::migrate`].
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Store> {
        let store = Store::connect_with(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to the database named by `url` with explicit options.
    ///
    /// # Errors
    /// As [`Store::connect`].
    pub async fn connect_with(url: &str, options: &ConnectOptions) -> Result<Store> {
        let scheme = url.split(':').next().unwrap_or_default();
        let pool = match scheme {
            "sqlite" => Pool::Sqlite(connect_sqlite(url, options).await?),
            "postgres" | "postgresql" => Pool::Postgres(connect_postgres(url, options).await?),
            _ => {
                return Err(StoreError::UnsupportedUrl {
                    scheme: scheme.to_owned(),
                })
            }
        };
        Ok(Store {
            pool,
            sqlite_batch_writer: std::sync::Arc::default(),
        })
    }

    /// Applies the embedded migrations for this backend. Running it again is a no-op.
    ///
    /// # Errors
    /// [`StoreError::Migrate`] when a migration fails or an applied one was edited.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The connection pool's use right now, for metrics.
    pub fn pool_stats(&self) -> PoolStats {
        fn stats<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                open: pool.size(),
                idle: pool.num_idle() as u32,
                max: pool.options().get_max_connections(),
            }
        }
        match &self.pool {
            Pool::Postgres(pool) => stats(pool),
            Pool::Sqlite(pool) => stats(pool),
        }
    }

    /// Checks that the database answers (`SELECT 1`), for health endpoints.
    ///
    /// # Errors
    /// [`StoreError::Database`] when it does not.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))?;
        Ok(())
    }

    /// Closes every pooled connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

async fn connect_sqlite(url: &str, options: &ConnectOptions) -> Result<SqlitePool> {
    let connect = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let filename = connect.get_filename();
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !in_memory {
        if let Some(dir) = filename.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            create_dir(dir)?;
        }
    }
    let mut pool = SqlitePoolOptions::new();
    if in_memory {
        // Each connection to `:memory:` is its own database: keep exactly one, forever.
        pool = pool
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    } else {
        pool = pool.max_connections(options.max_connections.unwrap_or(4));
    }
    Ok(pool.connect_with(connect).await?)
}

async fn connect_postgres(url: &str, options: &ConnectOptions) -> Result<PgPool> {
    let mut connect = PgConnectOptions::from_str(url)?;
    if let Some(schema) = &options.postgres_schema {
        connect = connect.options([("search_path", schema.as_str())]);
    }
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.unwrap_or(10))
        .connect_with(connect)
        .await?;
    Ok(pool)
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// The current time in Unix milliseconds, the unit of every `*_at` column.
pub(crate) fn now_ms() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

/// Checks a page size and returns it as the SQL `LIMIT`.
pub(crate) fn page_limit(limit: u32) -> Result<i64> {
    if limit == 0 {
        return Err(StoreError::InvalidArgument {
            name: "limit",
            reason: "must be at least 1",
        });
    }
    Ok(i64::from(limit))
}

/// Numbered placeholders `$first, $first+1, ...` for `count` values, comma separated.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps a unique-constraint violation to `conflict`, any other error to [`StoreError::Database`].
pub(crate) fn on_unique_violation(
    err: sqlx::Error,
    conflict: impl FnOnce() -> StoreError,
) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => conflict(),
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn zero_page_is_rejected() {
        assert!(matches!(
            page_limit(0),
            Err(StoreError::InvalidArgument { name: "limit", .. })
        ));
        assert_eq!(page_limit(7).unwrap(), 7);
    }
}
