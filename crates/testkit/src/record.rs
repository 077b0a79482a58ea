//! Record paths and sample record values.

use std::collections::BTreeMap;
use std::fmt;

use atrelay_repo::syntax::{validate_nsid, validate_record_key};
use ipld_core::ipld::Ipld;
use rand::Rng;

use crate::clock::now_datetime;
use crate::error::TestkitError;

/// Collections the random writers use (with the share of records each gets).
pub const SAMPLE_COLLECTIONS: [&str; 4] = [
    "app.bsky.feed.post",
    "app.bsky.feed.like",
    "app.bsky.graph.follow",
    "app.bsky.feed.repost",
];

/// A repository path: `<collection NSID>/<record key>`, both parts checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordPath {
    collection: String,
    rkey: String,
}

impl RecordPath {
    /// Builds a path from its two parts.
    ///
    /// # Errors
    ///
    /// [`TestkitError::InvalidPath`] when the collection is not an NSID or the key is not a
    /// record key.
    pub fn new(collection: &str, rkey: &str) -> Result<Self, TestkitError> {
        let invalid = |reason: String| TestkitError::InvalidPath {
            path: format!("{collection}/{rkey}"),
            reason,
        };
        validate_nsid(collection).map_err(|e| invalid(e.to_string()))?;
        validate_record_key(rkey).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            collection: collection.to_owned(),
            rkey: rkey.to_owned(),
        })
    }

    /// Parses `collection/rkey`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::InvalidPath`] when there is no `/` or a part is invalid.
    pub fn parse(path: &str) -> Result<Self, TestkitError> {
        let (collection, rkey) = path
            .split_once('/')
            .ok_or_else(|| TestkitError::InvalidPath {
                path: path.to_owned(),
                reason: "no '/' between collection and record key".to_owned(),
            })?;
        Self::new(collection, rkey)
    }

    /// The collection NSID.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The record key.
    pub fn rkey(&self) -> &str {
        &self.rkey
    }
}

impl fmt::Display for RecordPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.collection, self.rkey)
    }
}

/// A small record of type `collection`: `{$type, text, createdAt}`.
pub fn sample_record(collection: &str, text: &str) -> Ipld {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String(collection.to_owned()));
    map.insert("text".to_owned(), Ipld::String(text.to_owned()));
    map.insert("createdAt".to_owned(), Ipld::String(now_datetime()));
    Ipld::Map(map)
}

/// A record whose `text` is `len` random lowercase letters (used to make records of a given
/// size).
pub fn random_record(rng: &mut impl Rng, collection: &str, len: usize) -> Ipld {
    let text: String = (0..len)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect();
    sample_record(collection, &text)
}
