//! Per-account state: the last rev applied, whether counts are exact, visibility, and the
//! ops seen before the account's first snapshot.

use serde::{Deserialize, Serialize};

use crate::error::IndexError;

/// Most ops kept per account while it waits for its first snapshot. Only ops newer than the
/// snapshot's rev matter, and a snapshot is fetched after the account is first seen, so the
/// newest few suffice; older ones are dropped (see `dropped_upto`).
pub(crate) const MAX_PENDING: usize = 64;

/// One op seen before the account was seeded: needed to bring a snapshot taken at an older
/// rev up to date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingDelta {
    /// The commit's rev.
    pub(crate) rev: String,
    /// The collection.
    pub(crate) collection: String,
    /// +1 (create) or -1 (delete).
    pub(crate) delta: i64,
}

/// Stored per DID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DidMeta {
    /// The newest rev reflected in the counts (commit or snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rev: Option<String>,
    /// Counts are exact: seeded by a snapshot or by the repository's first commit.
    #[serde(default)]
    pub(crate) seeded: bool,
    /// The account is inactive (deleted, taken down, suspended, deactivated): not listed.
    #[serde(default)]
    pub(crate) hidden: bool,
    /// Creates and deletes seen while unseeded, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) pending: Vec<PendingDelta>,
    /// The newest rev among pending ops dropped for space (a snapshot older than this cannot
    /// be brought fully up to date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dropped_upto: Option<String>,
}

impl DidMeta {
    /// Decodes a stored value.
    pub(crate) fn decode(did: &str, bytes: &[u8]) -> Result<Self, IndexError> {
        serde_json::from_slice(bytes).map_err(|e| IndexError::Corrupt {
            key: did.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Encodes for storage.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serialising plain strings, bools and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Remembers an op seen while unseeded, dropping the oldest beyond [`MAX_PENDING`].
    pub(crate) fn push_pending(&mut self, rev: &str, collection: &str, delta: i64) {
        if self.pending.len() >= MAX_PENDING {
            let dropped = self.pending.remove(0);
            if self.dropped_upto.as_deref() < Some(dropped.rev.as_str()) {
                self.dropped_upto = Some(dropped.rev);
            }
        }
        self.pending.push(PendingDelta {
            rev: rev.to_owned(),
            collection: collection.to_owned(),
            delta,
        });
    }
}
