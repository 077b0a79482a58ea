//! The record operations the index consumes: a verified commit's ops reduced to what
//! changes membership (action and collection).

pub use atrelay_repo::proof::OpAction;
use atrelay_stream::RepoOp;

use crate::error::IndexError;

/// One record operation of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// What happened: a create counts +1 in its collection, a delete -1, an update nothing.
    pub kind: OpAction,
    /// The record path, `<collection NSID>/<record key>`.
    pub path: String,
}

impl Op {
    /// Builds an op.
    pub fn new(kind: OpAction, path: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.into(),
        }
    }

    /// Converts a firehose op; `None` for an action outside the lexicon's three (which a
    /// verified commit never carries).
    pub fn from_repo_op(op: &RepoOp) -> Option<Self> {
        Some(Self::new(op.action.known()?, op.path.clone()))
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
