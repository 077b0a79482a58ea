//! [`StreamChecker`]: a strict reference consumer of one `subscribeRepos` connection. It
//! decodes each frame and verifies it the way a sync-1.1 relay must, saying precisely why it
//! rejects an event, so tests can assert that each misbehaviour is caught for the right reason.

// `ProofError` (from atrelay-repo) is large; these checks run once per event in tests, so
// the size of the error value does not matter.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use atrelay_repo::cid::Cid;
use atrelay_repo::crypto::PublicKey;
use atrelay_repo::proof::{verify_commit, verify_sync, CommitMessage, ProofError, ProofLimits};
use atrelay_repo::syntax::Tid;
use atrelay_stream::{decode_frame, FrameError, Message};

use crate::clock::now_micros;
use crate::event::proof_op;

/// How far in the future a rev may be (the sync spec allows a few minutes of clock drift).
pub const FUTURE_REV_TOLERANCE_MICROS: u64 = 5 * 60 * 1_000_000;

/// What the checker needs from an account's DID document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountKey {
    /// The `#atproto` signing key.
    pub key: PublicKey,
    /// The host the document names as PDS (`host[:port]`), if any.
    pub pds_host: Option<String>,
}

/// An event the checker accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// A verified `#commit`.
    Commit {
        /// Stream seq.
        seq: i64,
        /// The account.
        did: String,
        /// The commit's rev.
        rev: String,
        /// False when `prevData`/`since` do not chain onto the last accepted commit (a
        /// discontinuity: valid, but the consumer missed something).
        continuous: bool,
    },
    /// A verified `#sync`.
    Sync {
        /// Stream seq.
        seq: i64,
        /// The account.
        did: String,
        /// The commit's rev.
        rev: String,
    },
    /// An `#identity`.
    Identity {
        /// Stream seq.
        seq: i64,
        /// The account.
        did: String,
    },
    /// An `#account`.
    Account {
        /// Stream seq.
        seq: i64,
        /// The account.
        did: String,
        /// Its `active` flag.
        active: bool,
    },
    /// An `#info` message.
    Info {
        /// Its name.
        name: String,
    },
    /// An error frame (the stream ends after it).
    Error {
        /// The error name.
        error: String,
    },
    /// A well-formed frame of an unknown type (ignored).
    Unknown,
}

/// Why the checker rejected an event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// The bytes are not a valid frame.
    #[error("bad frame: {0}")]
    Frame(FrameError),
    /// The `seq` is not above the previous one on this connection.
    #[error("seq {seq} is not above the previous {last}")]
    SeqNotIncreasing {
        /// This event's seq.
        seq: i64,
        /// The previous seq.
        last: i64,
    },
    /// The account's DID document could not be found.
    #[error("no identity for {did}")]
    UnknownAccount {
        /// The DID.
        did: String,
    },
    /// The account's document names another PDS than the stream's host.
    #[error("{did}'s document names PDS {doc_host:?}, not {host}")]
    WrongHost {
        /// The DID.
        did: String,
        /// The host the stream comes from.
        host: String,
        /// The host the document names.
        doc_host: Option<String>,
    },
    /// The proof, structure, limits or signature are wrong.
    #[error("{did}: {source}")]
    Proof {
        /// The DID.
        did: String,
        /// What failed.
        source: ProofError,
    },
    /// An op has an action the proof does not know.
    #[error("{did}: op {path} has an unknown action")]
    UnknownAction {
        /// The DID.
        did: String,
        /// The op's path.
        path: String,
    },
    /// The rev is not above the last accepted rev of the account.
    #[error("{did}: rev {rev} is not above the last accepted {last}")]
    RevNotIncreasing {
        /// The DID.
        did: String,
        /// The event's rev.
        rev: String,
        /// The last accepted rev.
        last: String,
    },
    /// The rev is too far in the future.
    #[error("{did}: rev {rev} is in the future")]
    FutureRev {
        /// The DID.
        did: String,
        /// The event's rev.
        rev: String,
    },
}

/// The last accepted state of one account.
#[derive(Debug, Clone)]
struct RepoState {
    rev: String,
    data: Cid,
}

/// Verifies the events of one connection in order. Accounts' keys come from a lookup the
/// caller provides (typically DID documents fetched from a [`crate::FakeDirectory`]).
#[derive(Debug, Clone)]
pub struct StreamChecker {
    /// The host the stream comes from; `None` skips the host check.
    host: Option<String>,
    /// The last seq seen on the connection.
    last_seq: Option<i64>,
    /// Per-account state after the last accepted commit or sync.
    repos: HashMap<String, RepoState>,
    /// Proof limits (the firehose defaults).
    limits: ProofLimits,
    /// Accepted commits that did not chain onto the previous one.
    discontinuities: u64,
}

impl StreamChecker {
    /// A checker for a stream from `host` (`host[:port]`, compared with the documents' PDS
    /// host), or for any host with `None`.
    pub fn new(host: Option<&str>) -> Self {
        Self {
            host: host.map(str::to_owned),
            last_seq: None,
            repos: HashMap::new(),
            limits: ProofLimits::default(),
            discontinuities: 0,
        }
    }

    /// Forgets the connection's last seq (call it after reconnecting if the new connection
    /// should be judged on its own).
    pub fn reset_seq(&mut self) {
        self.last_seq = None;
    }

    /// The last accepted rev of `did`.
    pub fn last_rev(&self, did: &str) -> Option<&str> {
        self.repos.get(did).map(|r| r.rev.as_str())
    }

    /// How many accepted commits did not chain onto the previous accepted state.
    pub fn discontinuities(&self) -> u64 {
        self.discontinuities
    }

    /// Decodes and checks one frame; `lookup` gives the key and PDS host of a DID.
    ///
    /// # Errors
    ///
    /// A [`CheckError`] naming the first rule the event breaks. A rejected event does not
    /// change the account's state, but its seq still counts for ordering.
    pub fn check(
        &mut self,
        frame: &[u8],
        mut lookup: impl FnMut(&str) -> Option<AccountKey>,
    ) -> Result<Checked, CheckError> {
        let message = decode_frame(frame).map_err(CheckError::Frame)?;
        if let Some(seq) = message.seq() {
            if let Some(last) = self.last_seq {
                if seq <= last {
                    return Err(CheckError::SeqNotIncreasing { seq, last });
                }
            }
            self.last_seq = Some(seq);
        }
        match message {
            Message::Commit(msg) => {
                let ident = self.identity(&msg.repo, &mut lookup)?;
                let mut ops = Vec::with_capacity(msg.ops.len());
                for op in &msg.ops {
                    ops.push(proof_op(op).ok_or_else(|| CheckError::UnknownAction {
                        did: msg.repo.clone(),
                        path: op.path.clone(),
                    })?);
                }
                let proof_msg = CommitMessage {
                    repo: &msg.repo,
                    rev: &msg.rev,
                    commit: msg.commit,
                    blocks: &msg.blocks,
                    ops: &ops,
                    prev_data: msg.prev_data,
                };
                let verified =
                    verify_commit(&proof_msg, &ident.key, &self.limits).map_err(|source| {
                        CheckError::Proof {
                            did: msg.repo.clone(),
                            source,
                        }
                    })?;
                self.check_rev(&msg.repo, &msg.rev)?;
                let continuous = match self.repos.get(&msg.repo) {
                    None => true,
                    Some(prev) => {
                        msg.prev_data == Some(prev.data) && msg.since.as_deref() == Some(&prev.rev)
                    }
                };
                if !continuous {
                    self.discontinuities += 1;
                }
                self.repos.insert(
                    msg.repo.clone(),
                    RepoState {
                        rev: msg.rev.clone(),
                        data: verified.data,
                    },
                );
                Ok(Checked::Commit {
                    seq: msg.seq,
                    did: msg.repo,
                    rev: msg.rev,
                    continuous,
                })
            }
            Message::Sync(msg) => {
                let ident = self.identity(&msg.did, &mut lookup)?;
                let verified =
                    verify_sync(&msg.did, &msg.rev, &msg.blocks, &ident.key, &self.limits)
                        .map_err(|source| CheckError::Proof {
                            did: msg.did.clone(),
                            source,
                        })?;
                self.check_rev(&msg.did, &msg.rev)?;
                self.repos.insert(
                    msg.did.clone(),
                    RepoState {
                        rev: msg.rev.clone(),
                        data: verified.data,
                    },
                );
                Ok(Checked::Sync {
                    seq: msg.seq,
                    did: msg.did,
                    rev: msg.rev,
                })
            }
            Message::Identity(msg) => Ok(Checked::Identity {
                seq: msg.seq,
                did: msg.did,
            }),
            Message::Account(msg) => {
                // A deleted account's DID may be tombstoned: only a known document that names
                // another host makes an #account unacceptable.
                if lookup(&msg.did).is_some() {
                    self.identity(&msg.did, &mut lookup)?;
                }
                Ok(Checked::Account {
                    seq: msg.seq,
                    did: msg.did,
                    active: msg.active,
                })
            }
            Message::Info(msg) => Ok(Checked::Info { name: msg.name }),
            Message::Error(msg) => Ok(Checked::Error { error: msg.error }),
            Message::Unknown(_) => Ok(Checked::Unknown),
        }
    }

    /// Looks the account up and checks that its document names this stream's host.
    fn identity(
        &self,
        did: &str,
        lookup: &mut impl FnMut(&str) -> Option<AccountKey>,
    ) -> Result<AccountKey, CheckError> {
        let ident = lookup(did).ok_or_else(|| CheckError::UnknownAccount {
            did: did.to_owned(),
        })?;
        if let Some(host) = &self.host {
            if ident.pds_host.as_deref() != Some(host.as_str()) {
                return Err(CheckError::WrongHost {
                    did: did.to_owned(),
                    host: host.clone(),
                    doc_host: ident.pds_host,
                });
            }
        }
        Ok(ident)
    }

    /// The rev must be above the last accepted one and not in the future.
    fn check_rev(&self, did: &str, rev: &str) -> Result<(), CheckError> {
        if let Some(prev) = self.repos.get(did) {
            if rev <= prev.rev.as_str() {
                return Err(CheckError::RevNotIncreasing {
                    did: did.to_owned(),
                    rev: rev.to_owned(),
                    last: prev.rev.clone(),
                });
            }
        }
        let future = Tid::parse(rev)
            .map(|tid| tid.is_too_far_in_future(now_micros(), FUTURE_REV_TOLERANCE_MICROS))
            .unwrap_or(false);
        if future {
            return Err(CheckError::FutureRev {
                did: did.to_owned(),
                rev: rev.to_owned(),
            });
        }
        Ok(())
    }
}
