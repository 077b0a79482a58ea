//! The collection index behind `com.atproto.sync.listReposByCollection`: which accounts have
//! at least one record in which collection, exact and live.
//!
//! - [`CollectionIndex`]: an embedded LSM store (fjall) keeping, per (DID, collection), the
//!   exact number of records, fed by the relay's verified commits
//!   ([`CollectionIndex::apply_commit`]): a DID leaves a collection when its last record
//!   there is deleted. Inactive accounts ([`CollectionIndex::set_account_active`]) are not
//!   listed and come back when reactivated. Listing is a prefix scan in DID order; the cursor
//!   is the last DID returned.
//! - [`RepoSnapshot`]: per-collection record counts of a repository at one rev, from a
//!   `getRepo` CAR.
//! - [`Backfill`]: a per-host, rate-limited, resumable crawler (`listRepos`, then `getRepo`
//!   per account) seeding exact counts, with a periodic re-check.
//!
//! No HTTP server lives here: the relay serves the listing and crawl routes
//! (`atrelay::api::collections`, `atrelay::admin::collections`).
//!
//! did:web and did:plc accounts are treated the same: a DID is a string.
#![deny(missing_docs)]

pub mod backfill;
mod error;
mod index;
mod keys;
mod meta;
mod op;
mod snapshot;

pub use backfill::{
    AccountCheck, Backfill, BackfillConfig, CrawlState, HostCheck, HostProgress,
    DEFAULT_MAX_CAR_BYTES, DEFAULT_MAX_CONCURRENT_HOSTS,
};
pub use error::{BackfillError, FetchError, IndexError, SnapshotError};
pub use index::{
    AccountState, CollectionIndex, CommitOutcome, ReposPage, SnapshotOutcome, DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
};
pub use op::{Op, OpAction};
pub use snapshot::RepoSnapshot;
