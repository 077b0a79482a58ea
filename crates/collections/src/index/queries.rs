//! The read side: listing the DIDs of a collection page by page, the collections and their
//! DID counts, and what the index knows about one account. Readers never take the writer lock,
//! except to read the in-memory collection counts.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::CollectionIndex;
use crate::error::IndexError;
use crate::keys::{check_collection, check_did, join, prefix, prefix_end};

/// Largest `limit` of [`CollectionIndex::list_repos`] (the lexicon's maximum).
pub const MAX_LIST_LIMIT: usize = 2000;

/// Default `limit` of `listReposByCollection`.
pub const DEFAULT_LIST_LIMIT: usize = 500;
/// One page of [`CollectionIndex::list_repos`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReposPage {
    /// DIDs in DID order.
    pub dids: Vec<String>,
    /// Where the next page starts (the last DID), `None` on the last page.
    pub cursor: Option<String>,
}

/// The index's view of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// The newest rev reflected in its counts.
    pub rev: Option<String>,
    /// Counts are exact (seeded by a snapshot or by the repository's first commit).
    pub exact: bool,
    /// Inactive accounts are not listed.
    pub active: bool,
    /// Collection → record count.
    pub collections: BTreeMap<String, u64>,
}

impl CollectionIndex {
    /// Lists the visible DIDs with at least one record in `collection`, in DID order,
    /// starting after `cursor` (the last DID of the previous page).
    ///
    /// # Errors
    ///
    /// [`IndexError::InvalidCollection`], [`IndexError::InvalidLimit`] outside
    /// 1..=[`MAX_LIST_LIMIT`], [`IndexError::Storage`].
    pub fn list_repos(
        &self,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ReposPage, IndexError> {
        check_collection(collection)?;
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(IndexError::InvalidLimit {
                max: MAX_LIST_LIMIT,
                got: limit,
            });
        }
        let start = match cursor {
            Some(cursor) => Bound::Excluded(join(collection, cursor)),
            None => Bound::Included(prefix(collection)),
        };
        let end = Bound::Excluded(prefix_end(collection));
        let mut dids = Vec::with_capacity(limit.min(64));
        let mut more = false;
        for entry in self.inner.listing.range::<Vec<u8>, _>((start, end)) {
            let (key, _) = entry?;
            if dids.len() == limit {
                more = true;
                break;
            }
            dids.push(crate::keys::second(&key)?.to_owned());
        }
        let cursor = if more { dids.last().cloned() } else { None };
        Ok(ReposPage { dids, cursor })
    }

    /// Every collection with at least one visible DID, with its number of DIDs, by name.
    pub fn collections(&self) -> Vec<(String, u64)> {
        self.lock().iter().map(|(c, n)| (c.clone(), *n)).collect()
    }

    /// A page of [`CollectionIndex::collections`]: at most `limit` collections after
    /// `cursor`, and the cursor of the next page.
    pub fn collections_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<(String, u64)>, Option<String>) {
        let counts = self.lock();
        let start = match cursor {
            Some(c) => Bound::Excluded(c.to_owned()),
            None => Bound::Unbounded,
        };
        let mut page: Vec<(String, u64)> = counts
            .range((start, Bound::Unbounded))
            .take(limit.saturating_add(1))
            .map(|(c, n)| (c.clone(), *n))
            .collect();
        let next = if page.len() > limit {
            page.truncate(limit);
            page.last().map(|(c, _)| c.clone())
        } else {
            None
        };
        (page, next)
    }

    /// What the index knows about one account, `None` if nothing.
    ///
    /// # Errors
    ///
    /// [`IndexError::InvalidDid`], [`IndexError::Storage`].
    pub fn account(&self, did: &str) -> Result<Option<AccountState>, IndexError> {
        check_did(did)?;
        let meta = self.read_meta(did)?;
        let collections = self.pairs_of(did)?;
        if meta.is_none() && collections.is_empty() {
            return Ok(None);
        }
        let meta = meta.unwrap_or_default();
        Ok(Some(AccountState {
            rev: meta.rev,
            exact: meta.seeded,
            active: !meta.hidden,
            collections,
        }))
    }
}
