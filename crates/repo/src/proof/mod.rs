//! Sync-1.1 commit proofs: checking that a firehose `#commit` is internally consistent by
//! MST operation inversion, and checking `#sync` messages.
//!
//! # What a `#commit` proof checks
//!
//! 1. Limits first: `blocks` at most [`ProofLimits::max_blocks_bytes`], at most
//!    [`ProofLimits::max_ops`] operations, each operation well formed (fields match its
//!    action, valid repository path, no path twice).
//! 2. `blocks` is a CAR whose every block hashes to its CID, whose first root is the message's
//!    `commit` CID, and which holds that commit block.
//! 3. The commit is a v3 commit whose `did` and `rev` are the message's `repo` and `rev`.
//! 4. The partial MST at the commit's `data` is loaded from the CAR. Every operation's claim
//!    holds in it: creates and updates have the claimed record CID, deletes are absent
//!    (and, unless disabled, every created or updated record's block is in the CAR).
//! 5. If `prevData` is given, every operation is inverted on the partial tree (a create is
//!    removed, an update set back to `prev`, a delete re-inserted with `prev`) and the
//!    resulting root must be exactly `prevData`. Ops are undone last-first; if that needs a
//!    node the diff lacks, other orders are tried ([`invert_ops_any_order`]), since the
//!    result does not depend on the order but the nodes it touches do.
//!
//! The signature is checked separately ([`verify_commit`] does both), because the key comes
//! from the account's DID document, which the caller resolves.
//!
//! # Telling failures apart
//!
//! [`ProofError::MissingBlock`] means the diff lacks a node the proof needs (an incomplete
//! proof); [`ProofError::ClaimMismatch`] means an operation claims something the new tree
//! does not say (an extra or wrong claim); [`ProofError::PrevDataMismatch`] means the claims
//! hold but do not explain the whole change (a wrong or incomplete op list, or a wrong
//! `prevData`); [`ProofError::CommitCidMismatch`] means the CAR is rooted somewhere else.
//!
//! A `prevData` that differs from the data CID the relay last stored is *not* checked here:
//! that is a discontinuity in the account's history, not an invalid message.
//!
//! The parts: `message` (the message, its operations, limits and the verified result),
//! `verify` (the checks), `invert` (operation inversion), `blocks` (the blocks a producer must
//! send) and `error` ([`ProofError`]).

// Errors carry the CIDs involved (about 100 bytes each) so callers can report them; failures
// are the rare path, so their size does not matter.
#![allow(clippy::result_large_err)]

mod blocks;
mod error;
mod invert;
mod message;
mod verify;

pub use blocks::proof_blocks;
pub use error::ProofError;
pub use invert::{invert_ops, invert_ops_any_order};
pub use message::{CommitMessage, OpAction, ProofLimits, RepoOp, VerifiedCommit, FIREHOSE_MAX_OPS};
pub use verify::{verify_commit, verify_commit_proof, verify_sync, verify_sync_proof};
