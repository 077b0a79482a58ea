//! k256 and p256 keys and signatures as atproto uses them.
//!
//! Scope: parse a public key from any form found in DID documents and PLC operations
//! (`did:key`, Multikey, and the legacy `EcdsaSecp256k1VerificationKey2019` /
//! `EcdsaSecp256r1VerificationKey2019` forms), print the canonical forms back, and verify
//! signatures. Signing exists for test servers and property tests.
//!
//! Not in scope: resolving DIDs (that is `atrelay-identity`) or building commit bytes.
//!
//! Rules enforced on every signature, on both curves (atproto cryptography spec):
//! - the signature is the 64-byte compact `r ‖ s` form; DER is rejected;
//! - `r` and `s` must be in `[1, n-1]` and `s` in the lower half of the group order ("low-S");
//!   both are checked on the raw bytes (`scalars`) before any curve arithmetic, since
//!   libsecp256k1 parses zero scalars and ring accepts high-S signatures;
//! - the message is hashed with SHA-256 inside [`PublicKey::verify`]: pass the unhashed bytes.
//!
//! Backends: [`PublicKey::verify`] runs libsecp256k1 (the `secp256k1` crate, its C library
//! vendored and built by `cc`) for k256 and ring for p256, 2–4× faster than the pure-Rust
//! `k256`/`p256` crates; those stay as the oracle ([`PublicKey::verify_with_reference`]) that
//! the differential test and the `signature` fuzz target compare with.
//!
//! Tricky bits: the fixture field `publicKeyMultibase` in the interop tests and the legacy DID
//! document forms carry no multicodec prefix and may hold a compressed (33-byte) or
//! uncompressed (65-byte) point; Multikey and `did:key` always carry the prefix.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod error;
mod multikey;
mod public_key;
mod scalars;
mod signing_key;

pub use error::{KeyError, SignatureError};
pub use multikey::{LEGACY_K256_TYPE, LEGACY_P256_TYPE, MULTIKEY_TYPE};
pub use public_key::PublicKey;
pub use signing_key::SigningKey;

/// The two elliptic curves atproto accepts for signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// secp256k1 ("K-256", JWT alg `ES256K`), multicodec `0xe7`.
    K256,
    /// NIST P-256 (secp256r1, JWT alg `ES256`), multicodec `0x1200`.
    P256,
}

impl Curve {
    /// The JWT algorithm name of the curve (`ES256K` or `ES256`), as the interop fixtures use.
    pub fn jwt_alg(self) -> &'static str {
        match self {
            Curve::K256 => "ES256K",
            Curve::P256 => "ES256",
        }
    }
}

impl std::fmt::Display for Curve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Curve::K256 => "k256",
            Curve::P256 => "p256",
        })
    }
}
