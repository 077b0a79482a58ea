//! Hosted accounts and their identity: creating an account, reading its repository and
//! document, changing its handle, key or status, migrating it to another PDS, and publishing
//! its document.

use atrelay_stream::AccountStatus;

use super::{unknown, Account, AccountOptions, FakePds, KeyCurve};
use crate::clock::now_datetime;
use crate::did_doc::{loopback_web_did, new_plc_did, DidDocument};
use crate::directory::lock;
use crate::error::TestkitError;
use crate::event::{account_message, commit_message, identity_message, sync_message};
use crate::repo::{CommitData, FakeRepo};

impl FakePds {
    /// Creates an account with a new key and an empty repository, publishes its DID document
    /// and emits `#identity`, `#account` (active) and the first `#commit` (no ops, no
    /// `prevData`). Returns the DID.
    ///
    /// # Errors
    ///
    /// [`TestkitError::DidWebTaken`] when a second did:web account is asked for.
    pub fn create_account(&self, options: AccountOptions) -> Result<String, TestkitError> {
        let key = options.curve.generate();
        let mut state = lock(&self.shared.state);
        state.n_created += 1;
        let handle = options
            .handle
            .unwrap_or_else(|| format!("user{}.pds{}.test", state.n_created, self.port()));
        let endpoint = self.url();
        let did = if options.did_web {
            if let Some(did) = &state.web_did {
                return Err(TestkitError::DidWebTaken { did: did.clone() });
            }
            loopback_web_did(self.port())
        } else {
            new_plc_did(&key.public_key(), &handle, &endpoint)
        };
        if state.accounts.contains_key(&did) {
            return Err(TestkitError::AccountExists { did });
        }
        let doc = DidDocument {
            did: did.clone(),
            handle: handle.clone(),
            signing_key: key.public_key(),
            pds_endpoint: endpoint,
        };
        let (repo, first) = FakeRepo::new(&did, key);
        if options.did_web {
            state.web_did = Some(did.clone());
        } else {
            self.shared.directory.publish(&doc);
        }
        state.accounts.insert(
            did.clone(),
            Account {
                repo,
                doc,
                status: None,
            },
        );
        let time = now_datetime();
        self.emit(&mut state, identity_message(&did, Some(&handle), 0, &time));
        self.emit(&mut state, account_message(&did, None, 0, &time));
        self.emit(&mut state, commit_message(&first, 0, &time));
        Ok(did)
    }

    /// Every hosted DID, in order.
    pub fn dids(&self) -> Vec<String> {
        lock(&self.shared.state).accounts.keys().cloned().collect()
    }

    /// Runs `f` on an account's repository (read only).
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn with_repo<R>(
        &self,
        did: &str,
        f: impl FnOnce(&FakeRepo) -> R,
    ) -> Result<R, TestkitError> {
        let state = lock(&self.shared.state);
        let account = state.accounts.get(did).ok_or_else(|| unknown(did))?;
        Ok(f(&account.repo))
    }

    /// The account's DID document as this PDS last published it.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn document(&self, did: &str) -> Result<DidDocument, TestkitError> {
        let state = lock(&self.shared.state);
        Ok(state
            .accounts
            .get(did)
            .ok_or_else(|| unknown(did))?
            .doc
            .clone())
    }

    /// Emits an `#identity` for the account (with its current handle).
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn emit_identity(&self, did: &str) -> Result<(), TestkitError> {
        let mut state = lock(&self.shared.state);
        let handle = state
            .accounts
            .get(did)
            .ok_or_else(|| unknown(did))?
            .doc
            .handle
            .clone();
        self.emit(
            &mut state,
            identity_message(did, Some(&handle), 0, &now_datetime()),
        );
        Ok(())
    }

    /// Changes the account's handle in its document and emits `#identity`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn set_handle(&self, did: &str, handle: &str) -> Result<(), TestkitError> {
        let mut state = lock(&self.shared.state);
        let account = state.accounts.get_mut(did).ok_or_else(|| unknown(did))?;
        account.doc.handle = handle.to_owned();
        self.publish_locked(account);
        self.emit(
            &mut state,
            identity_message(did, Some(handle), 0, &now_datetime()),
        );
        Ok(())
    }

    /// Rotates the account's signing key: publishes the new key, emits `#identity`, then a
    /// `#commit` with no ops signed by the new key (as a PDS does). Returns that commit.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn rotate_key(&self, did: &str, curve: KeyCurve) -> Result<CommitData, TestkitError> {
        self.rotate(did, curve, true)
    }

    /// [`FakePds::rotate_key`] without the `#identity` event, as when a consumer missed it: a
    /// relay holding the old key must resolve the DID again to accept the commit.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn rotate_key_quietly(
        &self,
        did: &str,
        curve: KeyCurve,
    ) -> Result<CommitData, TestkitError> {
        self.rotate(did, curve, false)
    }

    fn rotate(
        &self,
        did: &str,
        curve: KeyCurve,
        announce: bool,
    ) -> Result<CommitData, TestkitError> {
        let mut state = lock(&self.shared.state);
        let account = state.accounts.get_mut(did).ok_or_else(|| unknown(did))?;
        let key = curve.generate();
        account.doc.signing_key = key.public_key();
        account.repo.set_signing_key(key);
        self.publish_locked(account);
        if announce {
            let handle = account.doc.handle.clone();
            let time = now_datetime();
            self.emit(&mut state, identity_message(did, Some(&handle), 0, &time));
        }
        self.commit_locked(&mut state, did, Vec::new())
    }

    /// Sets the account's hosting status (`None` = active) and emits `#account`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn set_status(&self, did: &str, status: Option<AccountStatus>) -> Result<(), TestkitError> {
        let mut state = lock(&self.shared.state);
        let account = state.accounts.get_mut(did).ok_or_else(|| unknown(did))?;
        account.status = status;
        if status == Some(AccountStatus::Deleted) {
            if did.starts_with("did:plc:") {
                self.shared.directory.tombstone(did);
            }
        } else {
            // Undoes a tombstone when a deleted account comes back.
            self.publish_locked(account);
        }
        self.emit(&mut state, account_message(did, status, 0, &now_datetime()));
        Ok(())
    }

    /// Moves a did:plc account to `to`, as an account migration does: `to` takes over the
    /// repository (same records and rev history) with a new signing key, the directory document
    /// is switched to `to` with that key, `to` emits `#identity`, `#account` (active) and a
    /// `#sync` for a new commit signed with the new key, and this PDS marks the account
    /// deactivated and emits `#account` (`active: false, status: deactivated`).
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`], [`TestkitError::CannotMigrate`] for a did:web
    /// account, [`TestkitError::AccountExists`] when `to` already hosts the DID.
    pub fn migrate_account(
        &self,
        did: &str,
        to: &FakePds,
        curve: KeyCurve,
    ) -> Result<(), TestkitError> {
        if !did.starts_with("did:plc:") {
            return Err(TestkitError::CannotMigrate {
                did: did.to_owned(),
            });
        }
        let (mut repo, mut doc) = {
            let state = lock(&self.shared.state);
            let account = state.accounts.get(did).ok_or_else(|| unknown(did))?;
            (account.repo.clone(), account.doc.clone())
        };
        let key = curve.generate();
        doc.signing_key = key.public_key();
        doc.pds_endpoint = to.url();
        repo.set_signing_key(key);
        let commit = repo.empty_commit()?;
        {
            let mut state = lock(&to.shared.state);
            if state.accounts.contains_key(did) {
                return Err(TestkitError::AccountExists {
                    did: did.to_owned(),
                });
            }
            let handle = doc.handle.clone();
            let sync_car = repo.sync_car();
            to.shared.directory.publish(&doc);
            state.accounts.insert(
                did.to_owned(),
                Account {
                    repo,
                    doc,
                    status: None,
                },
            );
            let time = now_datetime();
            to.emit(&mut state, identity_message(did, Some(&handle), 0, &time));
            to.emit(&mut state, account_message(did, None, 0, &time));
            to.emit(
                &mut state,
                sync_message(did, &commit.rev, sync_car, 0, &time),
            );
        }
        let mut state = lock(&self.shared.state);
        if let Some(account) = state.accounts.get_mut(did) {
            account.status = Some(AccountStatus::Deactivated);
        }
        let message = account_message(did, Some(AccountStatus::Deactivated), 0, &now_datetime());
        self.emit(&mut state, message);
        Ok(())
    }

    /// Publishes the account's document again as this PDS sees it (undoing
    /// [`Misbehavior::WrongHost`](crate::Misbehavior::WrongHost) or a manual change in the
    /// directory).
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`].
    pub fn publish_document(&self, did: &str) -> Result<(), TestkitError> {
        let mut state = lock(&self.shared.state);
        let account = state.accounts.get_mut(did).ok_or_else(|| unknown(did))?;
        account.doc.pds_endpoint = self.url();
        self.publish_locked(account);
        Ok(())
    }

    /// Publishes the account's document where resolvers look for it.
    pub(super) fn publish_locked(&self, account: &Account) {
        if account.doc.did.starts_with("did:plc:") {
            self.shared.directory.publish(&account.doc);
        }
    }
}
