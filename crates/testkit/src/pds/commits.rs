//! Records and commits: creating, replacing and deleting records, random commits, `#sync`, and
//! the misbehaviours that bend a commit (bad signature, wrong rev, wrong `prevData`, oversized
//! blocks, legacy form).

use atrelay_repo::car::write_car;
use atrelay_repo::cid::{cid_for_dag_cbor, cid_for_raw, Cid};
use atrelay_repo::syntax::Tid;
use ipld_core::ipld::Ipld;
use rand::Rng;

use super::{unknown, FakePds, KeyCurve, PdsState};
use crate::clock::{now_datetime, now_micros};
use crate::directory::lock;
use crate::error::TestkitError;
use crate::event::{commit_message, sync_message};
use crate::misbehave::Misbehavior;
use crate::record::RecordPath;
use crate::repo::{CommitData, CommitOptions, Write};

impl FakePds {
    /// Creates a record with a fresh TID record key in `collection` and emits its `#commit`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`](crate::FakeRepo::apply).
    pub fn create_record(
        &self,
        did: &str,
        collection: &str,
        value: Ipld,
    ) -> Result<CommitData, TestkitError> {
        let rkey = lock(&self.shared.state).rkeys.next_tid().to_text();
        let path = RecordPath::new(collection, &rkey)?;
        self.apply_writes(did, vec![Write::Create { path, value }])
    }

    /// Creates or replaces the record at `path` and emits the `#commit`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`](crate::FakeRepo::apply).
    pub fn put_record(
        &self,
        did: &str,
        path: RecordPath,
        value: Ipld,
    ) -> Result<CommitData, TestkitError> {
        let exists = self.with_repo(did, |repo| repo.records().contains_key(&path.to_string()))?;
        let write = if exists {
            Write::Update { path, value }
        } else {
            Write::Create { path, value }
        };
        self.apply_writes(did, vec![write])
    }

    /// Deletes the record at `path` and emits the `#commit`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`](crate::FakeRepo::apply).
    pub fn delete_record(&self, did: &str, path: RecordPath) -> Result<CommitData, TestkitError> {
        self.apply_writes(did, vec![Write::Delete { path }])
    }

    /// Applies a batch of writes as one commit and emits its `#commit`, applying any pending
    /// commit misbehaviour. Returns the commit as sent (after misbehaviour).
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`](crate::FakeRepo::apply).
    pub fn apply_writes(&self, did: &str, writes: Vec<Write>) -> Result<CommitData, TestkitError> {
        let mut state = lock(&self.shared.state);
        self.commit_locked(&mut state, did, writes)
    }

    /// Makes `n_writes` random writes (creates, updates and deletes of small records) in one
    /// commit and emits it.
    ///
    /// # Errors
    ///
    /// As [`FakePds::apply_writes`].
    pub fn random_commit(
        &self,
        did: &str,
        rng: &mut impl Rng,
        n_writes: usize,
        record_len: usize,
    ) -> Result<CommitData, TestkitError> {
        let mut state = lock(&self.shared.state);
        let writes = {
            let PdsState {
                accounts, rkeys, ..
            } = &mut *state;
            let repo = &accounts.get(did).ok_or_else(|| unknown(did))?.repo;
            repo.random_writes(rng, rkeys, n_writes, record_len)?
        };
        self.commit_locked(&mut state, did, writes)
    }

    pub(super) fn commit_locked(
        &self,
        state: &mut PdsState,
        did: &str,
        writes: Vec<Write>,
    ) -> Result<CommitData, TestkitError> {
        let pending: Vec<Misbehavior> = {
            let (now, later) = state
                .pending
                .drain(..)
                .partition(Misbehavior::affects_commit);
            state.pending = later;
            now
        };
        let account = state.accounts.get_mut(did).ok_or_else(|| unknown(did))?;
        let mut options = CommitOptions::default();
        for m in &pending {
            match m {
                Misbehavior::BadSignature => {
                    options.signing_key = Some(KeyCurve::of(account.repo.signing_key()).generate());
                }
                Misbehavior::RevBackwards => {
                    let prev = Tid::parse(account.repo.rev()).map(Tid::timestamp_micros);
                    let micros = prev.unwrap_or(0).saturating_sub(1_000_000);
                    options.rev = Some(Tid::from_micros(micros, 0));
                }
                Misbehavior::FutureRev => {
                    options.rev = Some(Tid::from_micros(now_micros() + 3_600_000_000, 0));
                }
                Misbehavior::WrongHost { endpoint } => {
                    let mut doc = account.doc.clone();
                    doc.pds_endpoint = endpoint.clone();
                    account.doc = doc;
                    self.publish_locked(account);
                }
                _ => {}
            }
        }
        let mut commit = match account.repo.apply_with(writes, &options) {
            Ok(commit) => commit,
            Err(e) => {
                // Nothing was sent: keep the switches for the next commit.
                state.pending.extend(pending);
                return Err(e);
            }
        };
        for m in &pending {
            match m {
                Misbehavior::WrongPrevData => {
                    commit.prev_data = Some(cid_for_dag_cbor(&rand::random::<[u8; 16]>()));
                }
                Misbehavior::OversizedBlocks => commit.blocks = oversize(&commit),
                Misbehavior::LegacyCommit => {
                    commit.prev_data = None;
                    for op in &mut commit.ops {
                        op.prev = None;
                    }
                }
                _ => {}
            }
        }
        let time = now_datetime();
        self.emit(state, commit_message(&commit, 0, &time));
        Ok(commit)
    }

    /// Emits a `#sync` for the account's current commit.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn emit_sync(&self, did: &str) -> Result<(), TestkitError> {
        let mut state = lock(&self.shared.state);
        let account = state.accounts.get(did).ok_or_else(|| unknown(did))?;
        let msg = sync_message(
            did,
            account.repo.rev(),
            account.repo.sync_car(),
            0,
            &now_datetime(),
        );
        self.emit(&mut state, msg);
        Ok(())
    }
}

/// The commit's CAR with an extra raw block that pushes it over the 2,000,000-byte limit.
fn oversize(commit: &CommitData) -> Vec<u8> {
    let padding = vec![0x61u8; atrelay_repo::car::FIREHOSE_BLOCKS_LIMIT + 1];
    let padding_cid: Cid = cid_for_raw(&padding);
    let car = match atrelay_repo::car::Car::read(&commit.blocks, usize::MAX) {
        Ok(car) => car,
        Err(_) => return commit.blocks.clone(),
    };
    write_car(
        &[commit.cid],
        car.blocks()
            .map(|b| (b.cid, b.data))
            .chain(std::iter::once((padding_cid, padding.as_slice()))),
    )
}
