//! Test databases (a fresh SQLite file, or a fresh PostgreSQL schema, per test) and helpers.

use atrelay_store::{HostLimits, HostStatus, NewHost};

/// A store on a scratch database (SQLite file or PostgreSQL schema), from the store's
/// `testing` feature.
pub use atrelay_store::testing::ScratchStore as TestDb;

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
                let Some(mut db) = $crate::support::TestDb::postgres("atrelay_store_test", 4).await
                else {
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
