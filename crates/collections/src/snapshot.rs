//! [`RepoSnapshot`]: a repository's exact record count per collection at one rev, read from
//! a `com.atproto.sync.getRepo` CAR by walking its MST.

use std::collections::BTreeMap;

use atrelay_repo::car::Car;
use atrelay_repo::commit::Commit;
use atrelay_repo::crypto::PublicKey;
use atrelay_repo::mst::Tree;
use atrelay_repo::syntax::validate_nsid;

use crate::error::SnapshotError;

/// Record counts per collection of one repository at one rev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSnapshot {
    /// The commit's rev.
    pub rev: String,
    /// Collection → number of records.
    pub counts: BTreeMap<String, u64>,
    /// MST keys skipped because their collection part is not an NSID.
    pub skipped: u64,
}

impl RepoSnapshot {
    /// Builds a snapshot from counts directly (tests, other sources).
    pub fn new(rev: impl Into<String>, counts: BTreeMap<String, u64>) -> Self {
        Self {
            rev: rev.into(),
            counts,
            skipped: 0,
        }
    }

    /// Reads a full repository CAR of `did`: checks every block's hash, decodes the root
    /// commit, walks the whole MST and counts keys per collection. The signature is not
    /// checked (see [`RepoSnapshot::from_signed_car`]).
    ///
    /// # Errors
    ///
    /// Any [`SnapshotError`]: malformed CAR, commit or MST, a missing block, another DID.
    pub fn from_car(did: &str, car_bytes: &[u8]) -> Result<Self, SnapshotError> {
        Self::read(did, car_bytes, None)
    }

    /// [`RepoSnapshot::from_car`], and the root commit must be signed by `key` (the account's
    /// current signing key), so a host cannot seed counts for a repository it does not hold.
    ///
    /// # Errors
    ///
    /// As [`RepoSnapshot::from_car`], and [`SnapshotError::Commit`] for a bad signature.
    pub fn from_signed_car(
        did: &str,
        car_bytes: &[u8],
        key: &PublicKey,
    ) -> Result<Self, SnapshotError> {
        Self::read(did, car_bytes, Some(key))
    }

    fn read(did: &str, car_bytes: &[u8], key: Option<&PublicKey>) -> Result<Self, SnapshotError> {
        let car = Car::read(car_bytes, car_bytes.len())?;
        let block = car.get(&car.root()).ok_or(SnapshotError::MissingCommit)?;
        let commit = Commit::decode(block)?;
        if commit.did != did {
            return Err(SnapshotError::WrongDid {
                expected: did.to_owned(),
                found: commit.did,
            });
        }
        if let Some(key) = key {
            commit.verify_signature(key)?;
        }
        let rev = commit.rev.ok_or(SnapshotError::NoRev)?;
        let tree = Tree::load_complete(&car, commit.data)?;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut skipped = 0;
        let mut last: Option<(Vec<u8>, String)> = None;
        for entry in tree.iter() {
            let (key, _) = entry?;
            let collection_bytes = key.split(|b| *b == b'/').next().unwrap_or_default();
            // Keys come sorted, so a collection's keys are adjacent: reuse the last name.
            if let Some((bytes, name)) = &last {
                if bytes.as_slice() == collection_bytes {
                    *counts.entry(name.clone()).or_insert(0) += 1;
                    continue;
                }
            }
            let valid = if key.contains(&b'/') {
                std::str::from_utf8(collection_bytes)
                    .ok()
                    .filter(|c| validate_nsid(c).is_ok())
            } else {
                None
            };
            match valid {
                Some(name) => {
                    *counts.entry(name.to_owned()).or_insert(0) += 1;
                    last = Some((collection_bytes.to_vec(), name.to_owned()));
                }
                None => skipped += 1,
            }
        }
        Ok(Self {
            rev,
            counts,
            skipped,
        })
    }
}
