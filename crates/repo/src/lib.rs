//! The atproto repository core: everything needed to check that a repository change is
//! what it claims to be, with no IO and no async runtime.
//!
//! - [`cid`]: content identifiers (CIDv1, sha-256, dag-cbor or raw) and hash checks.
//! - [`cbor`]: strict DAG-CBOR decoding and canonical encoding of atproto data.
//! - [`json`]: the atproto JSON form (`$link`, `$bytes`) to and from DAG-CBOR values.
//! - [`car`]: CAR v1 reading over a byte slice, every block's hash checked.
//! - [`mst`]: the Merkle Search Tree: key heights, nodes, building, lookup, walk and diff.
//! - [`commit`]: signed commit objects (v3, and legacy v2).
//! - [`proof`]: sync-1.1 commit proofs (MST operation inversion against `prevData`).
//! - [`crypto`]: k256 and p256 public keys (did:key, Multikey, legacy forms) and signatures.
//! - [`status`]: the lexicon's account and host status values.
//! - [`syntax`]: validators for DIDs, handles, NSIDs, TIDs, record keys and AT-URIs.
//!
//! Every input is treated as untrusted bytes: bad input is a typed error saying what was wrong,
//! never a panic, and no allocation is sized by a length read from the input before it is checked.
#![deny(missing_docs)]

pub mod car;
pub mod cbor;
pub mod cid;
pub mod commit;
pub mod crypto;
pub mod json;
pub mod mst;
pub mod proof;
pub mod status;
pub mod syntax;
