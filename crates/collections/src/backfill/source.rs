//! [`RepoSource`]: where a crawl gets a host's accounts and repositories from.
//!
//! The crawler knows what to ask a host, not how: the relay implements this trait over its one
//! guarded outbound client (`atrelay::engine::repo_source::GuardedRepoSource`), which owns the
//! transport rules (no non-public address outside dev mode, no redirect, bounded bodies, only
//! the XRPC error name of a failed answer kept). Tests implement it in memory.

use std::future::Future;
use std::pin::Pin;

use serde::Deserialize;

use crate::error::FetchError;

/// What a [`RepoSource`] query returns: a boxed future, so the trait stays object-safe
/// (`Arc<dyn RepoSource>`).
pub type SourceFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, FetchError>> + Send + 'a>>;

/// One entry of `com.atproto.sync.listRepos`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListedRepo {
    /// The account.
    pub did: String,
    /// Whether the host says it is active (absent = active, as older PDSes omit it).
    #[serde(default)]
    pub active: Option<bool>,
}

/// One page of `com.atproto.sync.listRepos`, in the lexicon's JSON shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ListReposPage {
    /// The accounts.
    pub repos: Vec<ListedRepo>,
    /// The next page's cursor; none on the last page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The two queries a crawl makes of a host, and whether a host may be asked at all.
///
/// `base_url` is the host's base URL without a trailing slash (`https://pds.example.com`).
/// Errors are [`FetchError`]s: [`FetchError::Refused`] when the outbound policy refuses the
/// target (the crawler does not retry it), [`FetchError::Xrpc`] for a non-2xx answer (a
/// redirect included; `RepoDeactivated`, `RepoTakendown` and `RepoSuspended` hide the account),
/// [`FetchError::TooLarge`] for a body over the source's limit.
pub trait RepoSource: Send + Sync + std::fmt::Debug {
    /// Whether `base_url` may be crawled at all, checked before a crawl starts (for an outbound
    /// policy: scheme, port, an IP-literal host's address; names are checked when resolved).
    ///
    /// # Errors
    /// The reason it is refused; the crawler reports it as [`crate::BackfillError::Refused`].
    fn check_url(&self, base_url: &str) -> Result<(), String>;

    /// One page of the host's accounts: `com.atproto.sync.listRepos` with `limit` and, after
    /// the first page, the previous page's `cursor`.
    fn list_repos<'a>(
        &'a self,
        base_url: &'a str,
        limit: u16,
        cursor: Option<&'a str>,
    ) -> SourceFuture<'a, ListReposPage>;

    /// One account's whole repository as a CAR: `com.atproto.sync.getRepo` for `did`.
    fn get_repo<'a>(&'a self, base_url: &'a str, did: &'a str) -> SourceFuture<'a, Vec<u8>>;
}
