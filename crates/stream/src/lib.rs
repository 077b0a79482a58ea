//! The atproto event-stream frame for `com.atproto.sync.subscribeRepos`: typed messages, strict
//! decoding and a canonical, byte-stable encoding. No IO and no async runtime.
//!
//! A frame (one binary WebSocket message) is two DAG-CBOR values back to back: a header
//! `{op, t}` and a body. `op = 1` carries a message whose type `t` is one of `#commit`, `#sync`,
//! `#identity`, `#account` or `#info`; `op = -1` is an error frame `{error, message?}` after
//! which the stream closes. [`decode_frame`] turns bytes into a [`Message`]; [`encode_frame`]
//! turns a [`Message`] back into bytes.
//!
//! Principal types: [`Message`] (one variant per frame kind), [`Commit`] with its [`RepoOp`]s,
//! [`Sync`], [`Identity`], [`Account`] with [`WireStatus`], [`Info`], [`ErrorFrame`],
//! [`UnknownFrame`] (a frame of a type this crate does not know, kept verbatim), and
//! [`FrameError`] for every way a frame can be refused.
//!
//! Design decisions:
//! - **Byte stability.** Decoding is strict (canonical DAG-CBOR only, see
//!   [`atrelay_repo::cbor`]), and a message keeps everything needed to write the same bytes
//!   again: field values, which optional fields were absent and which were `null`, and every
//!   field this crate does not know (in `extra`). So `encode_frame(&decode_frame(b)?) == b` for
//!   every frame `decode_frame` accepts; the relay only changes `seq` ([`Message::set_seq`]),
//!   and for a frame it passes on unchanged [`frame_with_seq`] splices the new `seq` into the
//!   received bytes, giving the same bytes without re-encoding the body.
//!   Field names, presence and nullability follow the lexicon and what the reference
//!   implementations emit: `since` and `repoOp.cid` are always written (`null` when empty);
//!   `prevData`, `repoOp.prev`, `handle`, `status` and `message` are left out when absent.
//! - **Blocks pass through.** `blocks` is [`bytes::Bytes`]; [`decode_frame_bytes`] slices it out
//!   of the received frame without copying, and encoding writes it out unchanged.
//! - **Limits first.** A frame over [`MAX_FRAME_SIZE`] is refused before any decoding; the
//!   decoder never allocates by a length it has not checked against the input.
//! - **Unknown is not an error.** A frame with an unknown `op` or `t` (including the retired
//!   `#handle`, `#migrate` and `#tombstone`) decodes to [`Message::Unknown`], provided it is
//!   well-formed DAG-CBOR.
//!
//! The crate knows nothing of WebSockets, cursors, storage or verification of the commit inside
//! `blocks`.
#![deny(missing_docs)]
// Frames are untrusted input: no panicking shortcuts outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod body;
mod encode;
mod error;
mod frame;
mod json;
mod message;
mod reseq;

pub use error::FrameError;
pub use frame::{decode_frame, decode_frame_bytes, encode_frame, MAX_FRAME_SIZE};
pub use json::{message_from_json, message_to_json};
pub use message::{
    Account, AccountStatus, Commit, ErrorFrame, Extra, Identity, Info, Message, OpAction, RepoOp,
    Sync, UnknownFrame, WireStatus, CONSUMER_TOO_SLOW, FUTURE_CURSOR, OUTDATED_CURSOR,
};
pub use reseq::frame_with_seq;
