//! [`FakePds`]: a loopback PDS hosting several [`FakeRepo`]s, with a sequenced in-memory
//! event list served over `subscribeRepos`, the sync and repo XRPC queries a relay calls, and
//! switches that make it misbehave.

mod firehose;
mod routes;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use atrelay_repo::cid::{cid_for_dag_cbor, cid_for_raw, Cid};
use atrelay_repo::crypto::SigningKey;
use atrelay_repo::syntax::Tid;
use atrelay_stream::{encode_frame, AccountStatus, Message};
use bytes::Bytes;
use ipld_core::ipld::Ipld;
use rand::Rng;
use tokio::sync::{broadcast, watch};

use crate::clock::{now_datetime, now_micros, TidClock};
use crate::did_doc::{loopback_web_did, new_plc_did, DidDocument};
use crate::directory::{lock, FakeDirectory, ServerGuard};
use crate::error::TestkitError;
use crate::event::{account_message, commit_message, identity_message, sync_message};
use crate::misbehave::Misbehavior;
use crate::record::{random_record, RecordPath, SAMPLE_COLLECTIONS};
use crate::repo::{CommitData, CommitOptions, FakeRepo, Write};
use atrelay_repo::car::write_car;

/// Default capacity of the live broadcast; a subscriber further behind gets `ConsumerTooSlow`.
pub const DEFAULT_LIVE_CAPACITY: usize = 1 << 16;

/// Which curve an account's signing key uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyCurve {
    /// secp256k1 (what most PDSes use).
    #[default]
    K256,
    /// NIST P-256.
    P256,
}

impl KeyCurve {
    /// A fresh key on this curve.
    pub fn generate(self) -> SigningKey {
        match self {
            KeyCurve::K256 => SigningKey::generate_k256(),
            KeyCurve::P256 => SigningKey::generate_p256(),
        }
    }

    fn of(key: &SigningKey) -> Self {
        match key.curve() {
            atrelay_repo::crypto::Curve::K256 => KeyCurve::K256,
            atrelay_repo::crypto::Curve::P256 => KeyCurve::P256,
        }
    }
}

/// How to create an account.
#[derive(Debug, Clone, Default)]
pub struct AccountOptions {
    /// The handle; default `user<N>.pds<port>.test`.
    pub handle: Option<String>,
    /// The signing key's curve.
    pub curve: KeyCurve,
    /// Use `did:web:localhost%3A<port>` served by this PDS instead of a did:plc in the
    /// directory (at most one per PDS).
    pub did_web: bool,
}

/// How to start a [`FakePds`].
#[derive(Debug, Clone, Default)]
pub struct PdsOptions {
    /// Call the PDS `localhost:<port>` (hostname, URLs and DID documents) instead of
    /// `127.0.0.1:<port>`, for relays that refuse IP-address hostnames. It still listens on
    /// 127.0.0.1 only.
    pub localhost_name: bool,
    /// How many live events a subscriber may fall behind before it gets `ConsumerTooSlow`
    /// and is disconnected; `None` for [`DEFAULT_LIVE_CAPACITY`].
    pub live_capacity: Option<usize>,
}

/// One event of the PDS's log: its `seq` and the frame bytes subscribers receive.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The stream sequence number.
    pub seq: i64,
    /// The frame (or garbage bytes, for [`Misbehavior::GarbageFrame`]).
    pub frame: Bytes,
}

/// One hosted account.
#[derive(Debug)]
pub(crate) struct Account {
    /// The repository.
    pub(crate) repo: FakeRepo,
    /// The document as this PDS publishes it.
    pub(crate) doc: DidDocument,
    /// `None` when active, else why not.
    pub(crate) status: Option<AccountStatus>,
}

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct PdsState {
    /// DID → account, in DID order (the `listRepos` order).
    pub(crate) accounts: BTreeMap<String, Account>,
    /// The retained events, oldest first.
    pub(crate) log: Vec<StoredEvent>,
    /// The highest `seq` dropped from the front of the log by [`FakePds::trim_log`] (0 when
    /// nothing was dropped): a cursor below it is outdated.
    pub(crate) trimmed_through: i64,
    /// The `seq` the next event gets.
    pub(crate) next_seq: i64,
    /// Misbehaviours waiting for their event.
    pending: Vec<Misbehavior>,
    /// The did:web account whose document `/.well-known/did.json` serves.
    pub(crate) web_did: Option<String>,
    /// Record keys for `create_record`.
    rkeys: TidClock,
    /// Accounts created so far (for default handles).
    n_created: u64,
}

impl PdsState {
    /// The last `seq` handed out (0 before the first event).
    pub(crate) fn head_seq(&self) -> i64 {
        self.next_seq - 1
    }
}

/// State shared by the handle and the server tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Accounts, log and switches.
    pub(crate) state: Mutex<PdsState>,
    /// Live events, sent under the state lock so replay and live never overlap.
    pub(crate) live: broadcast::Sender<StoredEvent>,
    /// Bumped to make every subscriber disconnect.
    pub(crate) kick: watch::Sender<u64>,
    /// `127.0.0.1:<port>`.
    pub(crate) hostname: String,
    /// The PLC directory where did:plc documents are published.
    directory: FakeDirectory,
}

/// A fake PDS. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct FakePds {
    /// State shared with the server.
    shared: Arc<Shared>,
    /// Keeps the server running.
    guard: Arc<PdsGuard>,
}

/// Stops the server and disconnects subscribers when the last handle goes.
#[derive(Debug)]
struct PdsGuard {
    /// The HTTP server.
    server: ServerGuard,
    /// To kick subscribers, whose tasks outlive the HTTP server's graceful shutdown.
    shared: Arc<Shared>,
}

impl Drop for PdsGuard {
    fn drop(&mut self) {
        self.shared.kick.send_modify(|n| *n += 1);
    }
}

impl FakePds {
    /// Starts a PDS on `127.0.0.1` on a free port; its did:plc accounts are published in
    /// `directory`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] when the socket cannot be bound.
    pub async fn start(directory: &FakeDirectory) -> Result<Self, TestkitError> {
        Self::start_with(directory, PdsOptions::default()).await
    }

    /// Like [`FakePds::start`], with options.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] when the socket cannot be bound.
    pub async fn start_with(
        directory: &FakeDirectory,
        options: PdsOptions,
    ) -> Result<Self, TestkitError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let hostname = if options.localhost_name {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        };
        let (live, _) = broadcast::channel(
            options
                .live_capacity
                .unwrap_or(DEFAULT_LIVE_CAPACITY)
                .max(1),
        );
        let (kick, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(PdsState {
                accounts: BTreeMap::new(),
                log: Vec::new(),
                next_seq: 1,
                trimmed_through: 0,
                pending: Vec::new(),
                web_did: None,
                rkeys: TidClock::new(rand::random::<u16>()),
                n_created: 0,
            }),
            live,
            kick,
            hostname,
            directory: directory.clone(),
        });
        let server = ServerGuard::serve_on(listener, routes::router(shared.clone()))?;
        Ok(Self {
            guard: Arc::new(PdsGuard {
                server,
                shared: shared.clone(),
            }),
            shared,
        })
    }

    /// The host name a relay knows this PDS by: `127.0.0.1:<port>` (or `localhost:<port>`).
    pub fn hostname(&self) -> &str {
        &self.shared.hostname
    }

    /// The base URL, `http://<hostname>` (the `serviceEndpoint` of its accounts).
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.hostname)
    }

    /// The firehose URL, `ws://<hostname>/xrpc/com.atproto.sync.subscribeRepos`.
    pub fn firehose_url(&self) -> String {
        format!(
            "ws://{}/xrpc/com.atproto.sync.subscribeRepos",
            self.shared.hostname
        )
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.guard.server.addr.port()
    }

    /// The directory this PDS publishes did:plc documents in.
    pub fn directory(&self) -> &FakeDirectory {
        &self.shared.directory
    }

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

    /// Creates a record with a fresh TID record key in `collection` and emits its `#commit`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`].
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
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`].
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
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`].
    pub fn delete_record(&self, did: &str, path: RecordPath) -> Result<CommitData, TestkitError> {
        self.apply_writes(did, vec![Write::Delete { path }])
    }

    /// Applies a batch of writes as one commit and emits its `#commit`, applying any pending
    /// commit misbehaviour. Returns the commit as sent (after misbehaviour).
    ///
    /// # Errors
    ///
    /// [`TestkitError::UnknownAccount`], or as [`FakeRepo::apply`].
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
        let mut writes: Vec<Write> = Vec::with_capacity(n_writes);
        {
            let PdsState {
                accounts, rkeys, ..
            } = &mut *state;
            let repo = &accounts.get(did).ok_or_else(|| unknown(did))?.repo;
            let mut touched = std::collections::HashSet::new();
            for _ in 0..n_writes {
                let n_records = repo.record_count();
                let roll = rng.gen_range(0..10);
                let existing = (n_records > 0 && roll < 4)
                    .then(|| repo.records().keys().nth(rng.gen_range(0..n_records)))
                    .flatten()
                    .filter(|path| !touched.contains(*path))
                    .and_then(|path| RecordPath::parse(path).ok());
                let write = match existing {
                    Some(path) if roll < 2 => Write::Delete { path },
                    Some(path) => {
                        let value = random_record(rng, path.collection(), record_len);
                        Write::Update { path, value }
                    }
                    None => {
                        let collection =
                            SAMPLE_COLLECTIONS[rng.gen_range(0..SAMPLE_COLLECTIONS.len())];
                        let path = RecordPath::new(collection, &rkeys.next_tid().to_text())?;
                        let value = random_record(rng, collection, record_len);
                        Write::Create { path, value }
                    }
                };
                touched.insert(write.path().to_string());
                writes.push(write);
            }
        }
        self.commit_locked(&mut state, did, writes)
    }

    fn commit_locked(
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

    /// Appends `frame` to the log verbatim under `seq` and sends it to live subscribers, as a
    /// scripted upstream: the bytes are not checked, and `seq` may repeat or go back (later
    /// generated events still number after the highest `seq` so far). A subscriber's cursor
    /// selects the logged frames whose `seq` is above it, in log order.
    pub fn emit_raw(&self, seq: i64, frame: Bytes) {
        let mut state = lock(&self.shared.state);
        state.next_seq = state.next_seq.max(seq.saturating_add(1));
        let event = StoredEvent { seq, frame };
        state.log.push(event.clone());
        // No receivers is fine: nobody is subscribed live.
        let _ = self.shared.live.send(event);
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
        let mut state = lock(&self.shared.state);
        let account = state.accounts.get_mut(did).ok_or_else(|| unknown(did))?;
        let key = curve.generate();
        account.doc.signing_key = key.public_key();
        account.repo.set_signing_key(key);
        self.publish_locked(account);
        let handle = account.doc.handle.clone();
        let time = now_datetime();
        self.emit(&mut state, identity_message(did, Some(&handle), 0, &time));
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
        account.status = status.clone();
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
    /// [`Misbehavior::WrongHost`] or a manual change in the directory).
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

    /// Queues a misbehaviour (see [`Misbehavior`] for when each applies).
    pub fn misbehave(&self, misbehavior: Misbehavior) {
        let mut state = lock(&self.shared.state);
        if misbehavior == Misbehavior::SequenceReset {
            state.log.clear();
            state.next_seq = 1;
            state.trimmed_through = 0;
        } else {
            state.pending.push(misbehavior);
        }
    }

    /// Drops all but the newest `keep` events from the log, like a PDS whose backfill window
    /// has passed. A subscriber whose cursor is older than what is left gets `#info
    /// OutdatedCursor`, then everything retained.
    pub fn trim_log(&self, keep: usize) {
        let mut state = lock(&self.shared.state);
        let drop = state.log.len().saturating_sub(keep);
        if let Some(last) = state.log.drain(..drop).last() {
            state.trimmed_through = last.seq;
        }
    }

    /// The retained events, oldest first.
    pub fn events(&self) -> Vec<StoredEvent> {
        lock(&self.shared.state).log.clone()
    }

    /// The last `seq` handed out (0 before the first event or right after a reset).
    pub fn head_seq(&self) -> i64 {
        lock(&self.shared.state).head_seq()
    }

    /// Disconnects every current `subscribeRepos` subscriber (they may reconnect).
    pub fn disconnect_subscribers(&self) {
        self.shared.kick.send_modify(|n| *n += 1);
    }

    /// Number of live `subscribeRepos` subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.shared.live.receiver_count()
    }

    /// Asks a relay to crawl this PDS: `POST <relay_url>/xrpc/com.atproto.sync.requestCrawl`
    /// with `{"hostname": "<hostname>"}`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Http`] when the request fails, [`TestkitError::HttpStatus`] for a
    /// non-2xx answer.
    pub async fn request_crawl(&self, relay_url: &str) -> Result<(), TestkitError> {
        let url = format!(
            "{}/xrpc/com.atproto.sync.requestCrawl",
            relay_url.trim_end_matches('/')
        );
        let response = reqwest::Client::new()
            .post(&url)
            .json(&serde_json::json!({ "hostname": self.hostname() }))
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let mut body = response.text().await.unwrap_or_default();
        body.truncate(500);
        Err(TestkitError::HttpStatus {
            url,
            status: status.as_u16(),
            body,
        })
    }

    /// Publishes the account's document where resolvers look for it.
    fn publish_locked(&self, account: &Account) {
        if account.doc.did.starts_with("did:plc:") {
            self.shared.directory.publish(&account.doc);
        }
    }

    /// Gives `message` the next `seq`, appends it to the log and sends it to subscribers.
    fn emit(&self, state: &mut PdsState, mut message: Message) {
        let seq = state.next_seq;
        state.next_seq += 1;
        message.set_seq(seq);
        let garbage = state
            .pending
            .iter()
            .position(|m| *m == Misbehavior::GarbageFrame)
            .map(|idx| state.pending.remove(idx))
            .is_some();
        let frame = if garbage {
            garbage_frame()
        } else {
            encode_frame(&message)
        };
        let event = StoredEvent { seq, frame };
        state.log.push(event.clone());
        // No receivers is fine: nobody is subscribed live.
        let _ = self.shared.live.send(event);
    }
}

fn unknown(did: &str) -> TestkitError {
    TestkitError::UnknownAccount {
        did: did.to_owned(),
    }
}

/// Bytes that are not a frame: a CBOR "break" code (never valid at the top level), then
/// random bytes.
fn garbage_frame() -> Bytes {
    let mut bytes = vec![0xff];
    bytes.extend_from_slice(&rand::random::<[u8; 31]>());
    Bytes::from(bytes)
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
