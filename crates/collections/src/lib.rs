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
//!   per account) seeding exact counts, with a periodic re-check. It asks hosts through a
//!   [`RepoSource`], which the relay implements over its guarded outbound client.
//!
//! No HTTP lives here, neither server nor client: the relay serves the listing and crawl
//! routes (`atrelay::http::api::collections`, `atrelay::http::admin::collections`) and makes
//! the crawl's requests (`atrelay::engine::repo_source`).
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
    AccountCheck, Backfill, BackfillConfig, CrawlState, HostCheck, HostProgress, ListReposPage,
    ListedRepo, RepoSource, SourceFuture, DEFAULT_MAX_CONCURRENT_HOSTS,
};
pub use error::{BackfillError, FetchError, IndexError, SnapshotError};
pub use index::{
    AccountState, CollectionIndex, CommitOutcome, ReposPage, SnapshotOutcome, DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
};
pub use op::{Op, OpAction};
pub use snapshot::RepoSnapshot;
