//! atrelay's out-of-process load and benchmark report.
//!
//! - [`generate`]: accounts with real k256/p256 keys and repositories, and their signed
//!   sync-1.1 traffic (real MSTs, creates, updates, deletes, multi-op commits), written to
//!   per-host frame files ([`load`] is the format).
//! - [`serve`]: those files served as PDS hosts plus a PLC-style DID directory on loopback,
//!   from their own process, as fast as the relay reads or at a set rate.
//! - [`bench`]: `make bench`: starts the load and the release relay as separate processes,
//!   measures ingest, live delivery, fan-out, replay and memory, and writes one report.
#![deny(missing_docs)]

pub mod bench;
pub mod generate;
pub mod load;
pub mod serve;
