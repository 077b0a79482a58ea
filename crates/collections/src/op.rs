//! The record operations the index consumes: a verified commit's ops reduced to what
//! changes membership (action and collection).

use atrelay_stream::{OpAction, RepoOp};

use crate::error::IndexError;

/// What a record operation did, as far as the index cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A record was created at a path that held none: +1 in its collection.
    Create,
    /// A record was replaced: no change in counts.
    Update,
    /// A record was removed: -1 in its collection.
    Delete,
}

/// One record operation of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// What happened.
    pub kind: OpKind,
    /// The record path, `<collection NSID>/<record key>`.
    pub path: String,
}

impl Op {
    /// Builds an op.
    pub fn new(kind: OpKind, path: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.into(),
        }
    }

    /// Converts a firehose op; `None` for an action outside the lexicon's three (which a
    /// verified commit never carries).
    pub fn from_repo_op(op: &RepoOp) -> Option<Self> {
        let kind = match op.action {
            OpAction::Create => OpKind::Create,
            OpAction::Update => OpKind::Update,
            OpAction::Delete => OpKind::Delete,
            OpAction::Other(_) => return None,
        };
        Some(Self::new(kind, op.path.clone()))
    }

    /// Converts every op of a commit, skipping unknown actions.
    pub fn from_repo_ops(ops: &[RepoOp]) -> Vec<Self> {
        ops.iter().filter_map(Self::from_repo_op).collect()
    }

    /// The collection part of the path, checked to be an NSID.
    ///
    /// # Errors
    ///
    /// [`IndexError::InvalidPath`] without a `/`, [`IndexError::InvalidCollection`].
    pub fn collection(&self) -> Result<&str, IndexError> {
        let (collection, rkey) = self
            .path
            .split_once('/')
            .ok_or_else(|| IndexError::InvalidPath(self.path.clone()))?;
        if rkey.is_empty() {
            return Err(IndexError::InvalidPath(self.path.clone()));
        }
        crate::keys::check_collection(collection)?;
        Ok(collection)
    }
}
