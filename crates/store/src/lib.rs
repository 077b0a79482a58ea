//! The relay's SQL state over sqlx: one API, [`Store`], for PostgreSQL and SQLite.
//!
//! What it keeps (DESIGN.md, "state that must survive a crash", minus the event log and the
//! collection index):
//! - [`Host`]s: hostname, [`HostStatus`], upstream cursor (`last_seq`), trusted flag,
//!   [`HostLimits`], running account count, last connection and last error;
//! - [`Account`]s: DID, host, upstream and local [`AccountStatus`] (with a reason), and the
//!   latest verified commit ([`RepoState`]: rev, commit CID, data CID), and whether its chain is
//!   broken (`desynchronized`, kept across restarts);
//! - [`DomainBan`]s, matched against a hostname and all its parent domains;
//! - [`Settings`] that operators change at run time (new hosts per day, public `requestCrawl`).
//!
//! The schema lives in `migrations/postgres` and `migrations/sqlite` at the workspace root and
//! is embedded in the binary; [`Store::open`] (or [`Store::migrate`]) applies it.
//!
//! **Hot path.** Ingest changes thousands of accounts a second. It keeps account state in its
//! own bounded cache (filled with [`Store::accounts`]) instead of a query per event, and writes
//! with [`Store::apply_batch`]: account upserts plus host cursors in one transaction, batched as
//! the caller decides. A host's account count is kept by database triggers, so a batch never
//! reads before it writes.
//!
//! Queries are built at run time (`sqlx::query` with binds; no compile-time checked macros, so
//! building needs no database). SQL text is shared where the dialects agree: both accept `$n`
//! placeholders, `ON CONFLICT ... DO UPDATE` with `excluded`, and `RETURNING`.
//!
//! ```
//! use atrelay_store::{AccountUpdate, ConnectOptions, HostCursor, HostLimits, HostStatus, NewHost, Store};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), atrelay_store::StoreError> {
//! let store = Store::open("sqlite::memory:", &ConnectOptions::default()).await?;
//! let host = store
//!     .create_host(&NewHost {
//!         hostname: "pds.example.com".into(),
//!         no_ssl: false,
//!         trusted: false,
//!         status: HostStatus::Active,
//!         limits: HostLimits::with_account_limit(100),
//!     })
//!     .await?;
//! // Ingest: one transaction for a batch of account changes and the host's new cursor.
//! store
//!     .apply_batch(
//!         &[AccountUpdate::new("did:plc:ewvi7nxzyoun6zhxrhs64oiz", host.id)],
//!         &[HostCursor { host_id: host.id, seq: 5_000_000_000 }],
//!     )
//!     .await?;
//! assert_eq!(store.host(host.id).await?.unwrap().account_count, 1);
//! assert!(store.account("did:plc:ewvi7nxzyoun6zhxrhs64oiz").await?.unwrap().is_active());
//! # Ok(())
//! # }
//! ```
//!
//! This crate knows nothing of HTTP, the event log or the wire formats: statuses are the
//! lexicon's strings, CIDs are stored as their string form.
#![deny(missing_docs)]

mod account;
mod batch;
mod domain_ban;
mod error;
mod host;
mod hostname;
mod settings;
mod status;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use account::{Account, AccountFilter, AccountPage, RepoState};
pub use batch::{AccountUpdate, BatchOutcome, HostCursor, HostLogSeq, LogProgress};
pub use domain_ban::DomainBan;
pub use error::{Result, StoreError};
pub use host::{Host, HostLimits, HostPage, NewHost};
pub use hostname::check_dns_name;
pub use settings::{Setting, SettingKey, Settings};
pub use status::{AccountStatus, HostStatus, UnknownStatus};
pub use store::{Backend, ConnectOptions, PoolStats, Store};
