//! Errors of key parsing and signature verification.

use super::Curve;

/// Why a public or private key could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The string does not start with `did:key:`.
    #[error("not a did:key (expected the prefix \"did:key:\")")]
    NotDidKey,
    /// The multibase string does not use base58btc (prefix `z`).
    #[error("multibase key must be base58btc with prefix 'z'")]
    NotBase58btc,
    /// The multibase string is longer than any key encoding could be.
    #[error("multibase key is too long ({0} chars)")]
    TooLong(usize),
    /// The base58 text does not decode.
    #[error("invalid base58 in key: {0}")]
    Base58(String),
    /// The decoded bytes start with a multicodec other than k256 or p256 public keys.
    #[error("unsupported multicodec prefix {0:02x?} (expected e7 01 for k256 or 80 24 for p256)")]
    UnknownMulticodec(Vec<u8>),
    /// A legacy verification method type other than the two ECDSA 2019 suites.
    #[error("unsupported verification method type {0:?}")]
    UnsupportedType(String),
    /// The bytes are not a valid point (or scalar) on the curve.
    #[error("invalid {curve} key bytes ({len} bytes)")]
    InvalidKey {
        /// The curve the bytes were read for.
        curve: Curve,
        /// How many bytes there were.
        len: usize,
    },
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature is not exactly 64 bytes (DER-encoded signatures end up here).
    #[error("signature must be 64 bytes (compact r||s), got {0}")]
    WrongLength(usize),
    /// `r` or `s` is zero or not below the group order.
    #[error("signature scalars are out of range")]
    Malformed,
    /// `s` is in the upper half of the group order, which atproto forbids.
    #[error("signature is not low-S")]
    HighS,
    /// The signature is well formed but does not match the key and message.
    #[error("signature does not match the key and message")]
    Mismatch,
}
