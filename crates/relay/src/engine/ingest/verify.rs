//! Per-event checks: who may speak for the DID, then the type's rules (signature, proof,
//! rev order, account status). Produces the event to pass on and the account update.

// Outcomes carry the message being passed on (the common case), and failures the CIDs
// involved; boxing them would only add an allocation per event.
#![allow(clippy::large_enum_variant, clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use atrelay_identity::{Identity, Resolver};
use atrelay_repo::proof::{self, CommitMessage, ProofError, ProofLimits, VerifiedCommit};
use atrelay_repo::syntax::{validate_did, Tid};
use atrelay_store::{AccountUpdate, RepoState};
use atrelay_stream::Message;

use super::accounts::{AccountCache, AccountState};
use super::counters::DropReason;
use super::events::{reported_status, KIND_ACCOUNT, KIND_COMMIT, KIND_IDENTITY, KIND_SYNC};
use super::host::HostContext;
use super::IngestConfig;

/// What to do with one event.
#[derive(Debug)]
pub enum Outcome {
    /// Pass `message` on (with a new seq) and store `update`.
    Accept {
        /// The account.
        did: String,
        /// The event-log kind byte.
        kind: u8,
        /// The message to re-sequence and pass on.
        message: Message,
        /// The state to keep for the account.
        state: AccountState,
        /// The store write.
        update: AccountUpdate,
        /// The account was not in the store before.
        new_account: bool,
    },
    /// Drop the event.
    Drop {
        /// Why.
        reason: DropReason,
        /// The DID, when known.
        did: Option<String>,
        /// Details for the log.
        detail: String,
    },
    /// Nothing to do (`#info`).
    Ignore,
    /// The event cannot be judged now (the store did not answer): neither pass it on nor
    /// drop it; the connection ends before it and reads it again after a backoff.
    Unavailable {
        /// What failed.
        detail: String,
    },
}

impl Outcome {
    /// Drops the event of `did` for `reason`.
    pub fn dropped(reason: DropReason, did: &str, detail: impl Into<String>) -> Outcome {
        Outcome::Drop {
            reason,
            did: Some(did.to_owned()),
            detail: detail.into(),
        }
    }
}

/// What verification decided about one event.
#[derive(Debug)]
pub struct Verdict {
    /// What to do with the event.
    pub outcome: Outcome,
    /// The commit did not chain onto the account's previous one (it is passed on all the same).
    pub discontinuity: bool,
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Self {
        Verdict {
            outcome,
            discontinuity: false,
        }
    }
}

/// The checks, shared by every host task.
pub struct Verifier {
    /// DID resolution.
    pub resolver: Arc<dyn Resolver>,
    /// Account states.
    pub accounts: Arc<AccountCache>,
    /// The store, for accounts not in the cache.
    pub store: atrelay_store::Store,
    /// Policy.
    pub config: Arc<IngestConfig>,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

impl Verifier {
    /// Checks one decoded message from `host` and decides what to do with it.
    pub async fn process(&self, host: &HostContext, message: Message) -> Verdict {
        let Some(did) = message.did().map(str::to_owned) else {
            return match message {
                Message::Info(info) => {
                    tracing::debug!(host = %host.hostname, name = %info.name, "upstream #info");
                    Verdict::from(Outcome::Ignore)
                }
                _ => Verdict::from(Outcome::Drop {
                    reason: DropReason::UnknownFrame,
                    did: None,
                    detail: format!("type {:?}", message.type_name()),
                }),
            };
        };
        if validate_did(&did).is_err() {
            return Verdict::from(Outcome::dropped(
                DropReason::BadDid,
                &did,
                "invalid DID syntax",
            ));
        }
        if matches!(message, Message::Identity(_)) {
            self.resolver.purge(&did);
        }
        let identity = match self.identity_on_host(host, &did).await {
            Ok(identity) => identity,
            Err(outcome) => return Verdict::from(outcome),
        };
        // A new account's place under the host's account limit is decided when the event is
        // settled, in upstream order: see [`admit_new_account`].
        let state = match self.accounts.get(&self.store, &did, host.id).await {
            Ok(state) => state,
            Err(err) => {
                let detail = format!("account lookup failed: {err}");
                return Verdict::from(Outcome::Unavailable { detail });
            }
        };
        match message {
            Message::Commit(_) | Message::Sync(_) => {
                self.repo_event(host, did, identity, state, message).await
            }
            Message::Identity(_) => {
                let (update, state, new_account) = self.update_for(host, &did, state);
                Verdict::from(Outcome::Accept {
                    did,
                    kind: KIND_IDENTITY,
                    message,
                    state,
                    update,
                    new_account,
                })
            }
            Message::Account(account) => {
                Verdict::from(self.account_event(host, did, state, account))
            }
            _ => Verdict::from(Outcome::Ignore),
        }
    }

    /// Resolves `did` and checks that its PDS is `host`, resolving once more on a mismatch.
    async fn identity_on_host(
        &self,
        host: &HostContext,
        did: &str,
    ) -> Result<Arc<Identity>, Outcome> {
        let identity = self.resolve(did).await?;
        if identity.pds_host.as_deref() == Some(host.hostname.as_str()) {
            return Ok(identity);
        }
        // The account may just have moved here: look again before refusing.
        let identity = self.resolve_again(did).await?;
        if identity.pds_host.as_deref() == Some(host.hostname.as_str()) {
            Ok(identity)
        } else {
            Err(Outcome::dropped(
                DropReason::WrongHost,
                did,
                format!("document names {:?}", identity.pds_host),
            ))
        }
    }

    /// The store write for `state` now served by `host`, creating the account if needed.
    fn update_for(
        &self,
        host: &HostContext,
        did: &str,
        mut state: AccountState,
    ) -> (AccountUpdate, AccountState, bool) {
        let new_account = !state.known;
        let mut update = AccountUpdate::new(did, host.id)
            .with_upstream_status(state.upstream_status)
            .with_desynchronized(state.desynchronized);
        if new_account {
            update.initial_local_status = state.local_status;
        }
        state.host_id = host.id;
        state.known = true;
        if let Some(repo) = &state.repo {
            update = update.with_repo(repo.clone());
        }
        (update, state, new_account)
    }

    async fn repo_event(
        &self,
        host: &HostContext,
        did: String,
        identity: Arc<Identity>,
        mut state: AccountState,
        message: Message,
    ) -> Verdict {
        if !state.is_active() {
            return Verdict::from(Outcome::dropped(
                DropReason::InactiveAccount,
                &did,
                format!("status {:?}", state.combined_status()),
            ));
        }
        let rev = match &message {
            Message::Commit(commit) => commit.rev.as_str(),
            Message::Sync(sync) => sync.rev.as_str(),
            _ => return Verdict::from(Outcome::Ignore),
        };
        let tid = match Tid::parse(rev) {
            Ok(tid) => tid,
            Err(err) => {
                return Verdict::from(Outcome::dropped(DropReason::BadRev, &did, err.to_string()))
            }
        };
        if let Some(stored) = &state.repo {
            if let Ok(stored) = Tid::parse(&stored.rev) {
                if tid <= stored {
                    return Verdict::from(Outcome::dropped(
                        DropReason::RevNotNewer,
                        &did,
                        format!("rev {rev}"),
                    ));
                }
            }
        }
        let skew = self.config.future_rev_tolerance.as_micros() as u64;
        if tid.is_too_far_in_future(now_micros(), skew) {
            return Verdict::from(Outcome::dropped(
                DropReason::FutureRev,
                &did,
                format!("rev {rev}"),
            ));
        }
        let verified = match self.verify(&did, identity, &state, &message).await {
            Ok(verified) => verified,
            Err(outcome) => return Verdict::from(outcome),
        };
        let mut discontinuity = false;
        let kind = match &message {
            Message::Commit(commit) => {
                if let Some(stored) = &state.repo {
                    let chains = match commit.prev_data {
                        Some(prev) => prev.to_string() == stored.data_cid,
                        None => commit.since.as_deref() == Some(stored.rev.as_str()),
                    };
                    if !chains {
                        discontinuity = true;
                    }
                }
                state.desynchronized = discontinuity;
                KIND_COMMIT
            }
            _ => {
                state.desynchronized = false;
                KIND_SYNC
            }
        };
        state.repo = Some(RepoState {
            rev: verified.rev.clone(),
            commit_cid: verified.cid.to_string(),
            data_cid: verified.data.to_string(),
        });
        let (update, state, new_account) = self.update_for(host, &did, state);
        Verdict {
            outcome: Outcome::Accept {
                did,
                kind,
                message,
                state,
                update,
                new_account,
            },
            discontinuity,
        }
    }

    /// The DID's identity, from the cache when it holds it.
    async fn resolve(&self, did: &str) -> Result<Arc<Identity>, Outcome> {
        self.resolver
            .resolve(did)
            .await
            .map_err(|err| Outcome::dropped(DropReason::ResolveFailed, did, err.to_string()))
    }

    /// The DID's identity fetched afresh, the cached one dropped first.
    async fn resolve_again(&self, did: &str) -> Result<Arc<Identity>, Outcome> {
        self.resolver.purge(did);
        self.resolve(did).await
    }

    /// The proof, then the signature; on a bad signature (or no key) the DID is resolved once
    /// more, as the key may have just rotated, and only the signature is checked again: the
    /// proof does not depend on the key.
    async fn verify(
        &self,
        did: &str,
        identity: Arc<Identity>,
        state: &AccountState,
        message: &Message,
    ) -> Result<VerifiedCommit, Outcome> {
        let proven = self
            .prove(state, message)
            .map_err(|failure| failure_outcome(did, failure))?;
        match check_signature(&proven, &identity) {
            Ok(()) => return Ok(proven),
            Err(Failure::NoKey) | Err(Failure::Proof(ProofError::Signature(_))) => {}
            Err(failure) => return Err(failure_outcome(did, failure)),
        }
        let identity = self.resolve_again(did).await?;
        check_signature(&proven, &identity).map_err(|failure| failure_outcome(did, failure))?;
        Ok(proven)
    }

    /// Everything about a `#commit` or `#sync` but its signature (timed for the metrics).
    fn prove(&self, state: &AccountState, message: &Message) -> Result<VerifiedCommit, Failure> {
        let started = Instant::now();
        let proven = self.prove_untimed(state, message);
        crate::metrics::instruments()
            .proof_seconds
            .observe(started.elapsed().as_secs_f64());
        proven
    }

    fn prove_untimed(
        &self,
        state: &AccountState,
        message: &Message,
    ) -> Result<VerifiedCommit, Failure> {
        let limits = ProofLimits::default();
        match message {
            Message::Sync(sync) => {
                proof::verify_sync_proof(&sync.did, &sync.rev, &sync.blocks, &limits)
                    .map_err(Failure::Proof)
            }
            Message::Commit(commit) => {
                if commit.prev_data.is_none() && state.repo.is_some() && !self.config.lenient {
                    return Err(Failure::MissingPrevData);
                }
                let mut ops = Vec::with_capacity(commit.ops.len());
                let mut legacy_ops = false;
                for (index, op) in commit.ops.iter().enumerate() {
                    let Some(action) = op.action.known() else {
                        return Err(Failure::Proof(ProofError::BadOp {
                            index,
                            path: op.path.clone(),
                            reason: "unknown action",
                        }));
                    };
                    // Lenient: an update or delete from a host older than sync 1.1 has no
                    // `prev`. Its claim is still checked in the new tree; `prev` is only read
                    // to invert the op, which is skipped for such a commit, so the commit CID
                    // stands in for it.
                    let legacy = op.prev.is_none()
                        && matches!(action, proof::OpAction::Update | proof::OpAction::Delete)
                        && self.config.lenient;
                    legacy_ops |= legacy;
                    ops.push(proof::RepoOp {
                        action,
                        path: op.path.clone(),
                        cid: op.cid,
                        prev: if legacy { Some(commit.commit) } else { op.prev },
                    });
                }
                let msg = CommitMessage {
                    repo: &commit.repo,
                    rev: &commit.rev,
                    commit: commit.commit,
                    blocks: &commit.blocks,
                    ops: &ops,
                    prev_data: if legacy_ops { None } else { commit.prev_data },
                };
                match proof::verify_commit_proof(&msg, &limits) {
                    Err(ProofError::PrevDataMismatch { .. }) | Err(ProofError::MissingBlock(_))
                        if self.config.lenient =>
                    {
                        // Lenient: legacy hosts whose diffs do not invert; the claims (and,
                        // after this, the signature) still have to hold.
                        let legacy = CommitMessage {
                            prev_data: None,
                            ..msg
                        };
                        proof::verify_commit_proof(&legacy, &limits)
                    }
                    other => other,
                }
                .map_err(Failure::Proof)
            }
            _ => Err(Failure::NotRepoEvent),
        }
    }

    fn account_event(
        &self,
        host: &HostContext,
        did: String,
        state: AccountState,
        account: atrelay_stream::Account,
    ) -> Outcome {
        let mut next = state;
        next.upstream_status = reported_status(account.active, account.status.as_ref());
        // Passed on as the relay sees the account (local status included), like indigo: a
        // consumer that never saw the account before learns its state from it.
        let after = (next.is_active(), next.combined_status());
        let (update, next, new_account) = self.update_for(host, &did, next);
        let mut out = account;
        out.active = after.0;
        out.status = after.1.map(atrelay_stream::WireStatus::from);
        Outcome::Accept {
            did,
            kind: KIND_ACCOUNT,
            message: Message::Account(out),
            state: next,
            update,
            new_account,
        }
    }
}

/// Why a repository event failed verification.
enum Failure {
    /// The DID document has no usable signing key.
    NoKey,
    /// Strict mode: a commit of a known repository without `prevData`.
    MissingPrevData,
    /// Not a `#commit` or `#sync`.
    NotRepoEvent,
    /// The proof or signature failed.
    Proof(ProofError),
}

/// Checks the signature of a proven commit with the identity's key (timed for the metrics).
fn check_signature(proven: &VerifiedCommit, identity: &Identity) -> Result<(), Failure> {
    let key = identity.signing_key.as_ref().ok_or(Failure::NoKey)?;
    let started = Instant::now();
    let signed = proven.commit.verify_signature(key);
    crate::metrics::instruments()
        .signature_seconds
        .observe(started.elapsed().as_secs_f64());
    signed.map_err(|error| Failure::Proof(ProofError::Signature(error)))
}

fn failure_outcome(did: &str, failure: Failure) -> Outcome {
    match failure {
        Failure::NoKey => Outcome::dropped(DropReason::NoSigningKey, did, "no #atproto key"),
        Failure::MissingPrevData => {
            Outcome::dropped(DropReason::MissingPrevData, did, "no prevData")
        }
        Failure::NotRepoEvent => {
            Outcome::dropped(DropReason::UnknownFrame, did, "not a repository event")
        }
        Failure::Proof(err) => {
            let reason = match &err {
                ProofError::BlocksTooLarge { .. } | ProofError::TooManyOps { .. } => {
                    DropReason::OverLimits
                }
                ProofError::Signature(_) => DropReason::BadSignature,
                _ => DropReason::InvalidProof,
            };
            Outcome::dropped(reason, did, err.to_string())
        }
    }
}
