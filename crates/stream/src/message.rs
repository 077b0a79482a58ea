//! The typed messages of `com.atproto.sync.subscribeRepos` and the error frame.
//!
//! Field names follow the lexicon (`lexicons/com/atproto/sync/subscribeRepos.json`); Rust names
//! are snake case (`too_big` is `tooBig`, `prev_data` is `prevData`).

use std::collections::BTreeMap;

use atrelay_repo::cid::Cid;
pub use atrelay_repo::status::AccountStatus;
use bytes::Bytes;
use ipld_core::ipld::Ipld;

/// Fields of a body (or repo op) that this crate does not interpret, kept verbatim so that a
/// re-encoded frame has exactly the bytes it came with. Also holds an optional field that
/// arrived as `null` (its typed field is then `None`). Empty for messages built in code.
pub type Extra = BTreeMap<String, Ipld>;

/// Error name: the requested cursor is ahead of the stream.
pub const FUTURE_CURSOR: &str = "FutureCursor";
/// Error name: the consumer fell too far behind and is being dropped.
pub const CONSUMER_TOO_SLOW: &str = "ConsumerTooSlow";
/// `#info` name: the requested cursor is older than the backfill window.
pub const OUTDATED_CURSOR: &str = "OutdatedCursor";

/// One frame of the stream.
// Commits are nearly every frame, so boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `#commit`: a repository update with its CAR slice.
    Commit(Commit),
    /// `#sync`: the repository jumped to a new commit without the diff.
    Sync(Sync),
    /// `#identity`: the account's DID document or handle may have changed.
    Identity(Identity),
    /// `#account`: the account's hosting status changed at the emitting service.
    Account(Account),
    /// `#info`: an informational message (for example `OutdatedCursor`); has no `seq`.
    Info(Info),
    /// An error frame (`op = -1`); the stream closes after it.
    Error(ErrorFrame),
    /// A well-formed frame of an unknown `op` or `t`, kept verbatim.
    Unknown(UnknownFrame),
}

/// `#commit`: an update of repository state.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Stream sequence number.
    pub seq: i64,
    /// Deprecated and unused; producers send `false`.
    pub rebase: bool,
    /// Deprecated (replaced by `#sync` and size limits); producers send `false`.
    pub too_big: bool,
    /// The account (a DID); other messages call this `did`.
    pub repo: String,
    /// CID of the signed commit block.
    pub commit: Cid,
    /// Revision (TID) of this commit; must equal the `rev` inside the commit block.
    pub rev: String,
    /// Revision of the previous commit this diff is relative to; written as `null` when `None`.
    pub since: Option<String>,
    /// CAR v1 slice holding the commit block and the changed MST nodes and records.
    pub blocks: Bytes,
    /// The record operations.
    pub ops: Vec<RepoOp>,
    /// Deprecated; producers send an empty list.
    pub blobs: Vec<Cid>,
    /// MST root of the previous commit (sync 1.1); omitted when `None`.
    pub prev_data: Option<Cid>,
    /// When the event was first broadcast (datetime string).
    pub time: String,
    /// Fields not in the lexicon (or optional ones sent as `null`), kept verbatim.
    pub extra: Extra,
}

/// One record operation of a `#commit`.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoOp {
    /// What happened to the record.
    pub action: OpAction,
    /// `<collection NSID>/<record key>`.
    pub path: String,
    /// The new record CID; `None` (written as `null`) for deletes.
    pub cid: Option<Cid>,
    /// The previous record CID for updates and deletes (sync 1.1); omitted when `None`.
    pub prev: Option<Cid>,
    /// Fields not in the lexicon (or `prev` sent as `null`), kept verbatim.
    pub extra: Extra,
}

/// The `action` of a [`RepoOp`]. The lexicon lists known values, so others are kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpAction {
    /// `create`.
    Create,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
    /// Any other value.
    Other(String),
}

/// `#sync`: the repository is now at the commit in `blocks`, with no diff.
#[derive(Debug, Clone, PartialEq)]
pub struct Sync {
    /// Stream sequence number.
    pub seq: i64,
    /// The account.
    pub did: String,
    /// CAR holding only the commit block (its CID is the first root).
    pub blocks: Bytes,
    /// Revision of the commit.
    pub rev: String,
    /// When the event was first broadcast.
    pub time: String,
    /// Fields not in the lexicon, kept verbatim.
    pub extra: Extra,
}

/// `#identity`: downstream services should refresh their view of the account's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Stream sequence number.
    pub seq: i64,
    /// The account.
    pub did: String,
    /// When the event was first broadcast.
    pub time: String,
    /// Current handle (possibly `handle.invalid`); omitted when `None`.
    pub handle: Option<String>,
    /// Fields not in the lexicon (or `handle` sent as `null`), kept verbatim.
    pub extra: Extra,
}

/// `#account`: the account's hosting status at the emitting service.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Stream sequence number.
    pub seq: i64,
    /// The account.
    pub did: String,
    /// When the event was first broadcast.
    pub time: String,
    /// Whether the emitting service hosts the account's repository for fetching.
    pub active: bool,
    /// Why the account is not active; omitted when `None`.
    pub status: Option<WireStatus>,
    /// Fields not in the lexicon (or `status` sent as `null`), kept verbatim.
    pub extra: Extra,
}

/// The `status` of an [`Account`] message: one of the lexicon's values, or any other text,
/// kept as received so the frame re-encodes to what was sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WireStatus {
    /// A value this relay knows ([`AccountStatus`], the type the store keeps too).
    Known(AccountStatus),
    /// Any other value.
    Other(String),
}

/// `#info`: an informational message, without `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    /// The kind of information, such as [`OUTDATED_CURSOR`].
    pub name: String,
    /// Human-readable detail; omitted when `None`.
    pub message: Option<String>,
    /// Fields not in the lexicon (or `message` sent as `null`), kept verbatim.
    pub extra: Extra,
}

/// An error frame (`op = -1`): `{error, message?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorFrame {
    /// Bare error name such as [`FUTURE_CURSOR`] or [`CONSUMER_TOO_SLOW`].
    pub error: String,
    /// Human-readable detail; omitted when `None` (indigo always sends one, possibly empty).
    pub message: Option<String>,
    /// Fields not in the spec (or `message` sent as `null`), kept verbatim.
    pub extra: Extra,
}

/// A frame of a type this crate does not know: its header and body exactly as received.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownFrame {
    /// The header's `op`.
    pub op: i64,
    /// The header's `t`, if any.
    pub t: Option<String>,
    /// The header's DAG-CBOR bytes.
    pub header: Bytes,
    /// The body's DAG-CBOR bytes.
    pub body: Bytes,
}

impl Message {
    /// The header `t` of this message (`#commit`, …), or `None` for error frames and unknown
    /// frames without one.
    pub fn type_name(&self) -> Option<&str> {
        match self {
            Message::Commit(_) => Some("#commit"),
            Message::Sync(_) => Some("#sync"),
            Message::Identity(_) => Some("#identity"),
            Message::Account(_) => Some("#account"),
            Message::Info(_) => Some("#info"),
            Message::Error(_) => None,
            Message::Unknown(frame) => frame.t.as_deref(),
        }
    }

    /// The stream sequence number, for the message types that carry one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Message::Commit(m) => Some(m.seq),
            Message::Sync(m) => Some(m.seq),
            Message::Identity(m) => Some(m.seq),
            Message::Account(m) => Some(m.seq),
            Message::Info(_) | Message::Error(_) | Message::Unknown(_) => None,
        }
    }

    /// Replaces the sequence number, as a relay does when it re-emits an upstream event.
    /// Returns `false` (and changes nothing) for types without one: `#info`, errors, unknown.
    pub fn set_seq(&mut self, seq: i64) -> bool {
        let slot = match self {
            Message::Commit(m) => &mut m.seq,
            Message::Sync(m) => &mut m.seq,
            Message::Identity(m) => &mut m.seq,
            Message::Account(m) => &mut m.seq,
            Message::Info(_) | Message::Error(_) | Message::Unknown(_) => return false,
        };
        *slot = seq;
        true
    }

    /// The account the message is about (`repo` of a commit, `did` of the others).
    pub fn did(&self) -> Option<&str> {
        match self {
            Message::Commit(m) => Some(&m.repo),
            Message::Sync(m) => Some(&m.did),
            Message::Identity(m) => Some(&m.did),
            Message::Account(m) => Some(&m.did),
            Message::Info(_) | Message::Error(_) | Message::Unknown(_) => None,
        }
    }

    /// The `time` field, for the message types that carry one.
    pub fn time(&self) -> Option<&str> {
        match self {
            Message::Commit(m) => Some(&m.time),
            Message::Sync(m) => Some(&m.time),
            Message::Identity(m) => Some(&m.time),
            Message::Account(m) => Some(&m.time),
            Message::Info(_) | Message::Error(_) | Message::Unknown(_) => None,
        }
    }
}

impl OpAction {
    /// The wire text of the action.
    pub fn as_str(&self) -> &str {
        match self {
            OpAction::Create => "create",
            OpAction::Update => "update",
            OpAction::Delete => "delete",
            OpAction::Other(other) => other,
        }
    }
}

impl OpAction {
    /// The action as the proof checks it, or `None` for a value outside the lexicon's three.
    pub fn known(&self) -> Option<atrelay_repo::proof::OpAction> {
        use atrelay_repo::proof::OpAction as Known;
        match self {
            OpAction::Create => Some(Known::Create),
            OpAction::Update => Some(Known::Update),
            OpAction::Delete => Some(Known::Delete),
            OpAction::Other(_) => None,
        }
    }
}

impl From<atrelay_repo::proof::OpAction> for OpAction {
    fn from(action: atrelay_repo::proof::OpAction) -> Self {
        use atrelay_repo::proof::OpAction as Known;
        match action {
            Known::Create => OpAction::Create,
            Known::Update => OpAction::Update,
            Known::Delete => OpAction::Delete,
        }
    }
}

impl From<&str> for OpAction {
    fn from(text: &str) -> Self {
        match text {
            "create" => OpAction::Create,
            "update" => OpAction::Update,
            "delete" => OpAction::Delete,
            other => OpAction::Other(other.to_owned()),
        }
    }
}

impl WireStatus {
    /// The wire text of the status.
    pub fn as_str(&self) -> &str {
        match self {
            WireStatus::Known(status) => status.as_str(),
            WireStatus::Other(other) => other,
        }
    }

    /// The status when it is one of the lexicon's values.
    pub fn known(&self) -> Option<AccountStatus> {
        match self {
            WireStatus::Known(status) => Some(*status),
            WireStatus::Other(_) => None,
        }
    }
}

impl From<AccountStatus> for WireStatus {
    fn from(status: AccountStatus) -> Self {
        WireStatus::Known(status)
    }
}

impl From<&str> for WireStatus {
    fn from(text: &str) -> Self {
        text.parse()
            .map_or_else(|_| WireStatus::Other(text.to_owned()), WireStatus::Known)
    }
}

impl Info {
    /// The `#info` a server sends before replaying from the oldest event when the requested
    /// cursor is older than its window.
    pub fn outdated_cursor(message: Option<String>) -> Self {
        Info {
            name: OUTDATED_CURSOR.to_owned(),
            message,
            extra: Extra::new(),
        }
    }
}

impl ErrorFrame {
    /// An error frame with the given name and message.
    pub fn new(error: &str, message: Option<String>) -> Self {
        ErrorFrame {
            error: error.to_owned(),
            message,
            extra: Extra::new(),
        }
    }

    /// `FutureCursor`: the requested cursor is ahead of the stream.
    pub fn future_cursor(message: Option<String>) -> Self {
        ErrorFrame::new(FUTURE_CURSOR, message)
    }

    /// `ConsumerTooSlow`: the consumer's backlog grew too large.
    pub fn consumer_too_slow(message: Option<String>) -> Self {
        ErrorFrame::new(CONSUMER_TOO_SLOW, message)
    }
}
