//! Test doubles for atrelay's integration tests and benchmarks.
//!
//! - [`FakeRepo`]: one account's real repository: DAG-CBOR records, a real MST, v3 commits
//!   signed with a real k256 or p256 key, revs that always increase. Every change returns a
//!   [`CommitData`] with exactly what a sync-1.1 `#commit` carries: the CAR slice (commit,
//!   new MST nodes, the extra nodes operation inversion needs, new records), the ops with
//!   `prev`, `since` and `prevData`.
//! - [`FakePds`]: an HTTP server on `127.0.0.1:0` hosting several [`FakeRepo`]s with a
//!   sequenced in-memory event list. It serves `subscribeRepos` over a real WebSocket (replay
//!   from a cursor, then live), `describeServer`, `getRepo`, `listRepos`, `describeRepo`,
//!   `getRepoStatus`, `getLatestCommit`, `/xrpc/_health` and a did:web document, and posts
//!   `requestCrawl` to a relay. Account lifecycle: create, handle change, key rotation,
//!   status changes (`#account`), `#sync`, migration to another fake PDS. Stream lifecycle:
//!   cursors (`FutureCursor`, `OutdatedCursor` after [`FakePds::trim_log`]), a bounded live
//!   buffer (`ConsumerTooSlow`), forced disconnects. It can be told to misbehave
//!   ([`Misbehavior`]): bad signature, wrong `prevData`, rev backwards or in the future,
//!   oversized blocks, garbage frames, a document naming another host, a sequence reset, a
//!   legacy (pre-sync-1.1) commit. It can also serve scripted frames verbatim
//!   ([`FakePds::emit_raw`]), such as those of a [`Scenario`] file.
//! - [`FakeDirectory`]: a PLC directory serving DID documents (404 unknown, 410 tombstoned),
//!   and did:web documents by `Host`; any DID can get a hostile [`DirectoryReply`] instead (an error
//!   status, a slow answer, an endless body), and requests are counted.
//! - [`StreamChecker`]: a strict reference consumer that decodes frames and verifies every
//!   `#commit` and `#sync` (proof, signature, rev order, host) and says why it rejects one.
//! - [`load`]: a load generator driving many accounts through random writes.
//!
//! Several fake PDSes and one directory run side by side in one test:
//!
//! ```
//! use atrelay_testkit::{sample_record, AccountOptions, FakeDirectory, FakePds, Misbehavior};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), atrelay_testkit::TestkitError> {
//! let directory = FakeDirectory::start().await?;
//! let pds = FakePds::start(&directory).await?;
//! let did = pds.create_account(AccountOptions::default())?; // #identity, #account, #commit
//! pds.create_record(&did, "app.bsky.feed.post", sample_record("app.bsky.feed.post", "hi"))?;
//! pds.misbehave(Misbehavior::BadSignature);
//! pds.create_record(&did, "app.bsky.feed.post", sample_record("app.bsky.feed.post", "bad"))?;
//! assert_eq!(pds.head_seq(), 5);
//! // A relay under test would now dial pds.firehose_url() and resolve DIDs at directory.url().
//! # Ok(())
//! # }
//! ```
//!
//! Design: all state sits behind one std `Mutex` per server (nothing is awaited while it is
//! held), so the API is synchronous and events are numbered and broadcast in exactly the
//! order the calls were made; a WebSocket subscriber takes its backlog and its live
//! subscription under that lock, so replay and live never overlap or leave a gap. Nothing
//! here is meant for production: keys are generated on the fly and all state lives in
//! memory. The crate knows nothing of the relay; it depends on `atrelay-repo` (repositories
//! and proofs) and `atrelay-stream` (frames) only.
#![deny(missing_docs)]

mod checker;
mod clock;
mod did_doc;
mod directory;
mod error;
mod event;
pub mod load;
mod misbehave;
mod pds;
mod proof_nodes;
mod record;
mod repo;
mod scenario;

pub use checker::{AccountKey, CheckError, Checked, StreamChecker};
pub use clock::{now_datetime, now_micros, TidClock};
pub use did_doc::{did_document_json, loopback_web_did, new_plc_did, DidDocument};
pub use directory::{DirectoryReply, FakeDirectory};
pub use error::TestkitError;
pub use event::{
    account_message, commit_message, identity_message, proof_op, stream_op, sync_message,
};
pub use misbehave::Misbehavior;
pub use pds::{AccountOptions, FakePds, KeyCurve, PdsOptions, StoredEvent, DEFAULT_LIVE_CAPACITY};
pub use record::{random_record, sample_record, RecordPath, SAMPLE_COLLECTIONS};
pub use repo::{CommitData, CommitOptions, FakeRepo, Write};
pub use scenario::{Scenario, ScenarioAccount, ScenarioMessage};
