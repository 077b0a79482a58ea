//! [`FakeRepo`]: one account's real repository (records, MST, signed commits) and the exact
//! firehose content each change produces.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use atrelay_repo::car::write_car;
use atrelay_repo::cbor::encode_atproto_value;
use atrelay_repo::cid::{cid_for_dag_cbor, Cid};
use atrelay_repo::commit::{Commit, UnsignedCommit};
use atrelay_repo::crypto::SigningKey;
use atrelay_repo::mst::{MstError, Tree};
use atrelay_repo::proof::{OpAction, RepoOp, FIREHOSE_MAX_OPS};
use atrelay_repo::syntax::Tid;
use ipld_core::ipld::Ipld;
use rand::Rng;

use crate::clock::TidClock;
use crate::error::TestkitError;
use crate::proof_nodes::proof_nodes;
use crate::record::{random_record, RecordPath, SAMPLE_COLLECTIONS};

/// The tree is reloaded (clearing its fresh marks) once more than
/// `max(RELOAD_MIN_DIRTY, sqrt(RELOAD_FACTOR * records))` nodes are marked fresh. Each commit
/// encodes every fresh node to find its own new ones, and a reload decodes the whole tree, so
/// a threshold growing with the square root of the size balances the two costs.
const RELOAD_MIN_DIRTY: usize = 32;
/// See [`RELOAD_MIN_DIRTY`].
const RELOAD_FACTOR: usize = 8;

/// One change in a batch of writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create a record at a path that holds none.
    Create {
        /// Where.
        path: RecordPath,
        /// The record value.
        value: Ipld,
    },
    /// Replace the record at a path.
    Update {
        /// Where.
        path: RecordPath,
        /// The new record value.
        value: Ipld,
    },
    /// Remove the record at a path.
    Delete {
        /// Where.
        path: RecordPath,
    },
}

impl Write {
    /// The path the write touches.
    pub fn path(&self) -> &RecordPath {
        match self {
            Write::Create { path, .. } | Write::Update { path, .. } | Write::Delete { path } => {
                path
            }
        }
    }
}

/// How to produce one commit; the default is a correct commit.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Use this rev instead of the next one from the repository's clock. The clock does not
    /// move, so later commits go back to wall-clock revs (used for "rev goes backwards" and
    /// "rev in the future").
    pub rev: Option<Tid>,
    /// Sign with this key instead of the account's (a bad signature).
    pub signing_key: Option<SigningKey>,
}

/// A commit the repository made, with everything a `#commit` message carries.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitData {
    /// The account DID (`repo` of the message).
    pub did: String,
    /// The signed commit object.
    pub commit: Commit,
    /// The commit block's CID.
    pub cid: Cid,
    /// The commit's rev.
    pub rev: String,
    /// The rev of the commit before it (`None` for the first commit).
    pub since: Option<String>,
    /// The new MST root.
    pub data: Cid,
    /// The MST root before this commit (`None` for the first commit).
    pub prev_data: Option<Cid>,
    /// The record operations, with `prev` for updates and deletes (sync 1.1).
    pub ops: Vec<RepoOp>,
    /// The CAR slice: commit (root), new MST nodes, proof nodes, new records.
    pub blocks: Vec<u8>,
}

/// A repository in memory: records, MST and head commit, with revs that always increase.
#[derive(Debug, Clone)]
pub struct FakeRepo {
    /// The account DID.
    did: String,
    /// The current `#atproto` signing key.
    key: SigningKey,
    /// Every MST node and record block written so far (never pruned).
    store: HashMap<Cid, Vec<u8>>,
    /// The current MST. Nodes changed since it was last loaded are marked fresh; it is
    /// reloaded when there are too many of them (see [`RELOAD_MIN_DIRTY`]).
    tree: Tree,
    /// CIDs of the tree's fresh nodes as of the last commit: a node fresh now and in this
    /// set was not changed by the current commit.
    dirty: HashSet<Cid>,
    /// Path → record CID, mirroring the tree for quick random picks.
    records: BTreeMap<String, Cid>,
    /// The head commit and its CID and block.
    head: Commit,
    /// The head commit's CID.
    head_cid: Cid,
    /// Rev source.
    clock: TidClock,
}

impl FakeRepo {
    /// A new, empty repository with its first (signed) commit. Returns the repository and that
    /// first commit (no ops, no `since`, no `prevData`).
    pub fn new(did: &str, key: SigningKey) -> (Self, CommitData) {
        let tree = Tree::new();
        let mut store = HashMap::new();
        let fresh: Vec<(Cid, Vec<u8>)> = tree.fresh_blocks();
        let data = tree.root_cid();
        let mut clock = TidClock::new(rand::random::<u16>());
        let rev = clock.next_tid().to_text();
        let commit = UnsignedCommit {
            did: did.to_owned(),
            data,
            rev: rev.clone(),
            prev: None,
        }
        .sign(&key);
        let commit_bytes = commit.to_bytes();
        let cid = cid_for_dag_cbor(&commit_bytes);
        let blocks = write_car(
            &[cid],
            std::iter::once((cid, commit_bytes.as_slice()))
                .chain(fresh.iter().map(|(c, b)| (*c, b.as_slice()))),
        );
        for (c, b) in fresh {
            store.insert(c, b);
        }
        let first = CommitData {
            did: did.to_owned(),
            commit: commit.clone(),
            cid,
            rev,
            since: None,
            data,
            prev_data: None,
            ops: Vec::new(),
            blocks,
        };
        // The store holds the empty root, so loading cannot fail; fall back to the built tree.
        let tree = Tree::load(&store, data).unwrap_or(tree);
        let repo = Self {
            did: did.to_owned(),
            key,
            store,
            tree,
            dirty: HashSet::new(),
            records: BTreeMap::new(),
            head: commit,
            head_cid: cid,
            clock,
        };
        (repo, first)
    }

    /// The account DID.
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The current signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Replaces the signing key used for later commits (the DID document must follow).
    pub fn set_signing_key(&mut self, key: SigningKey) {
        self.key = key;
    }

    /// The head commit.
    pub fn head(&self) -> &Commit {
        &self.head
    }

    /// The head commit's CID.
    pub fn head_cid(&self) -> Cid {
        self.head_cid
    }

    /// The head commit's rev.
    pub fn rev(&self) -> &str {
        self.head.rev.as_deref().unwrap_or_default()
    }

    /// The current MST root.
    pub fn data(&self) -> Cid {
        self.head.data
    }

    /// Number of records.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Every record path and CID, in path order.
    pub fn records(&self) -> &BTreeMap<String, Cid> {
        &self.records
    }

    /// The collections that hold at least one record, sorted.
    pub fn collections(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .records
            .keys()
            .filter_map(|path| path.split_once('/').map(|(c, _)| c))
            .collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// The record at `path`, decoded, if present.
    pub fn get_record(&self, path: &RecordPath) -> Option<Ipld> {
        let cid = self.records.get(&path.to_string())?;
        let bytes = self.store.get(cid)?;
        atrelay_repo::cbor::decode_atproto_value(bytes).ok()
    }

    /// The raw block `cid` (an MST node or record), if this repository ever wrote it.
    pub fn block(&self, cid: &Cid) -> Option<&[u8]> {
        self.store.get(cid).map(Vec::as_slice)
    }

    /// Creates one record. See [`FakeRepo::apply`].
    ///
    /// # Errors
    ///
    /// As [`FakeRepo::apply`].
    pub fn create(&mut self, path: RecordPath, value: Ipld) -> Result<CommitData, TestkitError> {
        self.apply(vec![Write::Create { path, value }])
    }

    /// Updates one record. See [`FakeRepo::apply`].
    ///
    /// # Errors
    ///
    /// As [`FakeRepo::apply`].
    pub fn update(&mut self, path: RecordPath, value: Ipld) -> Result<CommitData, TestkitError> {
        self.apply(vec![Write::Update { path, value }])
    }

    /// Deletes one record. See [`FakeRepo::apply`].
    ///
    /// # Errors
    ///
    /// As [`FakeRepo::apply`].
    pub fn delete(&mut self, path: RecordPath) -> Result<CommitData, TestkitError> {
        self.apply(vec![Write::Delete { path }])
    }

    /// Applies a batch of writes as one correct, signed commit.
    ///
    /// # Errors
    ///
    /// [`TestkitError::BadBatchSize`] for more than 200 writes, [`TestkitError::DuplicatePath`],
    /// [`TestkitError::RecordExists`] / [`TestkitError::RecordMissing`] when a write does not
    /// fit the current records, [`TestkitError::Encode`] for a value that is not atproto data.
    /// On error the repository is unchanged.
    pub fn apply(&mut self, writes: Vec<Write>) -> Result<CommitData, TestkitError> {
        self.apply_with(writes, &CommitOptions::default())
    }

    /// Makes a commit with no record changes (as a PDS does after a key rotation).
    ///
    /// # Errors
    ///
    /// As [`FakeRepo::apply`] (an empty batch only fails on a testkit bug).
    pub fn empty_commit(&mut self) -> Result<CommitData, TestkitError> {
        self.apply_with(Vec::new(), &CommitOptions::default())
    }

    /// Like [`FakeRepo::apply`], with [`CommitOptions`] to produce broken commits.
    ///
    /// # Errors
    ///
    /// As [`FakeRepo::apply`].
    pub fn apply_with(
        &mut self,
        writes: Vec<Write>,
        options: &CommitOptions,
    ) -> Result<CommitData, TestkitError> {
        if writes.len() > FIREHOSE_MAX_OPS {
            return Err(TestkitError::BadBatchSize {
                count: writes.len(),
                max: FIREHOSE_MAX_OPS,
            });
        }
        // Check and encode everything before touching the tree.
        let mut seen = HashSet::new();
        let mut planned = Vec::with_capacity(writes.len());
        for write in &writes {
            let path = write.path().to_string();
            if !seen.insert(path.clone()) {
                return Err(TestkitError::DuplicatePath { path });
            }
            let existing = self.records.get(&path).copied();
            let (action, value) = match write {
                Write::Create { value, .. } => {
                    if existing.is_some() {
                        return Err(TestkitError::RecordExists { path });
                    }
                    (OpAction::Create, Some(value))
                }
                Write::Update { value, .. } => {
                    if existing.is_none() {
                        return Err(TestkitError::RecordMissing { path });
                    }
                    (OpAction::Update, Some(value))
                }
                Write::Delete { .. } => {
                    if existing.is_none() {
                        return Err(TestkitError::RecordMissing { path });
                    }
                    (OpAction::Delete, None)
                }
            };
            let record = value
                .map(|value| {
                    encode_atproto_value(value).map(|bytes| (cid_for_dag_cbor(&bytes), bytes))
                })
                .transpose()?;
            planned.push((action, path, existing, record));
        }

        let prev_data = self.tree.root_cid();
        let mut ops = Vec::with_capacity(planned.len());
        let mut new_records = Vec::new();
        for (action, path, prev, record) in planned {
            let cid = record.as_ref().map(|(cid, _)| *cid);
            let edited = match cid {
                Some(cid) => self.tree.insert(path.as_bytes(), cid),
                None => self.tree.remove(path.as_bytes()),
            };
            if let Err(e) = edited {
                // The tree is poisoned; go back to the last commit's tree.
                self.reload(prev_data)?;
                return Err(e.into());
            }
            if let Some(record) = record {
                new_records.push(record);
            }
            ops.push(RepoOp {
                action,
                path,
                cid,
                prev: if action == OpAction::Create {
                    None
                } else {
                    prev
                },
            });
        }
        let data = self.tree.root_cid();
        // Fresh nodes not fresh at the last commit are this commit's new nodes.
        let fresh = self.tree.fresh_blocks();
        let dirty: HashSet<Cid> = fresh.iter().map(|(c, _)| *c).collect();
        let mut new_nodes = Vec::new();
        for (c, b) in fresh {
            if !self.dirty.contains(&c) {
                new_nodes.push(c);
                self.store.entry(c).or_insert(b);
            }
        }
        self.dirty = dirty;
        for (c, b) in &new_records {
            self.store.entry(*c).or_insert_with(|| b.clone());
        }
        let extra = proof_nodes(&self.store, &self.tree, &ops, &new_nodes)?;

        let rev = match options.rev {
            Some(rev) => rev,
            None => self.clock.next_tid(),
        }
        .to_text();
        let key = options.signing_key.as_ref().unwrap_or(&self.key);
        let commit = UnsignedCommit {
            did: self.did.clone(),
            data,
            rev: rev.clone(),
            prev: None,
        }
        .sign(key);
        let commit_bytes = commit.to_bytes();
        let cid = cid_for_dag_cbor(&commit_bytes);

        let mut car_blocks: Vec<(Cid, &[u8])> =
            Vec::with_capacity(1 + new_nodes.len() + extra.len() + new_records.len());
        car_blocks.push((cid, commit_bytes.as_slice()));
        let mut included = HashSet::new();
        for node in new_nodes.iter().chain(&extra) {
            if let (true, Some(bytes)) = (included.insert(*node), self.store.get(node)) {
                car_blocks.push((*node, bytes.as_slice()));
            }
        }
        for (c, b) in &new_records {
            if included.insert(*c) {
                car_blocks.push((*c, b.as_slice()));
            }
        }
        let blocks = write_car(&[cid], car_blocks);

        if self.dirty.len()
            > (RELOAD_FACTOR * self.records.len())
                .isqrt()
                .max(RELOAD_MIN_DIRTY)
        {
            self.reload(data)?;
        }
        for op in &ops {
            match op.cid {
                Some(c) => self.records.insert(op.path.clone(), c),
                None => self.records.remove(&op.path),
            };
        }
        let since = self.head.rev.clone();
        self.head = commit.clone();
        self.head_cid = cid;
        Ok(CommitData {
            did: self.did.clone(),
            commit,
            cid,
            rev,
            since,
            data,
            prev_data: Some(prev_data),
            ops,
            blocks,
        })
    }

    /// Replaces the tree by the one rooted at `root` loaded from the store, with no fresh marks.
    fn reload(&mut self, root: Cid) -> Result<(), TestkitError> {
        self.tree = Tree::load(&self.store, root)?;
        self.dirty.clear();
        Ok(())
    }

    /// A CAR holding only the head commit block: the `blocks` of a `#sync` message.
    pub fn sync_car(&self) -> Vec<u8> {
        let bytes = self.head.to_bytes();
        write_car(&[self.head_cid], [(self.head_cid, bytes.as_slice())])
    }

    /// The whole repository as a CAR (commit, every MST node, every record), as `getRepo`
    /// serves it.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Mst`] if the tree cannot be walked (a testkit bug).
    pub fn export_car(&self) -> Result<Vec<u8>, TestkitError> {
        let commit_bytes = self.head.to_bytes();
        let nodes = self.tree.blocks();
        let mut blocks: Vec<(Cid, &[u8])> =
            Vec::with_capacity(1 + nodes.len() + self.records.len());
        blocks.push((self.head_cid, commit_bytes.as_slice()));
        blocks.extend(nodes.iter().map(|(c, b)| (*c, b.as_slice())));
        let mut seen = HashSet::new();
        for cid in self.records.values() {
            if seen.insert(*cid) {
                let bytes = self
                    .store
                    .get(cid)
                    .ok_or(TestkitError::Mst(MstError::MissingBlock(*cid)))?;
                blocks.push((*cid, bytes.as_slice()));
            }
        }
        Ok(write_car(&[self.head_cid], blocks))
    }
}
impl FakeRepo {
    /// `count` random writes on this repository, as the testkit's load makes them: each
    /// touches an existing record (not yet touched by this batch) 40 % of the time when there
    /// is one, half of those deleting it and half replacing it; otherwise it creates a record in
    /// a random sample collection, its key the next TID of `rkeys`. Records carry `record_len`
    /// random letters. The writes are returned, not applied.
    ///
    /// # Errors
    /// [`TestkitError`] if a generated path is invalid (none is expected).
    pub fn random_writes(
        &self,
        rng: &mut impl Rng,
        rkeys: &mut TidClock,
        count: usize,
        record_len: usize,
    ) -> Result<Vec<Write>, TestkitError> {
        let mut touched = HashSet::new();
        let mut writes = Vec::with_capacity(count);
        for _ in 0..count {
            let n_records = self.record_count();
            let roll = rng.gen_range(0..10);
            let existing = (n_records > 0 && roll < 4)
                .then(|| self.records().keys().nth(rng.gen_range(0..n_records)))
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
                    let collection = SAMPLE_COLLECTIONS[rng.gen_range(0..SAMPLE_COLLECTIONS.len())];
                    let path = RecordPath::new(collection, &rkeys.next_tid().to_text())?;
                    let value = random_record(rng, collection, record_len);
                    Write::Create { path, value }
                }
            };
            touched.insert(write.path().to_string());
            writes.push(write);
        }
        Ok(writes)
    }
}
