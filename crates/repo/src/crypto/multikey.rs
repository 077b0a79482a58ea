//! Multibase and multicodec framing of public keys.
//!
//! Layout of a Multikey string: `z` ‖ base58btc(multicodec varint ‖ SEC1 point), where the
//! varint is `e7 01` for k256 and `80 24` for p256 and the point is normally compressed.

use super::{Curve, KeyError};

/// The `type` of a current-style verification method in a DID document.
pub const MULTIKEY_TYPE: &str = "Multikey";
/// The legacy verification method `type` for k256 keys (no multicodec prefix).
pub const LEGACY_K256_TYPE: &str = "EcdsaSecp256k1VerificationKey2019";
/// The legacy verification method `type` for p256 keys (no multicodec prefix).
pub const LEGACY_P256_TYPE: &str = "EcdsaSecp256r1VerificationKey2019";

/// Multicodec varint of a secp256k1 public key (code 0xe7).
pub(crate) const K256_PREFIX: [u8; 2] = [0xe7, 0x01];
/// Multicodec varint of a P-256 public key (code 0x1200).
pub(crate) const P256_PREFIX: [u8; 2] = [0x80, 0x24];

/// Longest multibase key text accepted: an uncompressed point with prefix is 67 bytes, about
/// 92 base58 characters; anything far beyond that is rejected before decoding.
const MAX_MULTIBASE_LEN: usize = 128;

/// Decodes `z<base58btc>` into bytes, with a length cap checked first.
pub(crate) fn decode_base58btc(multibase: &str) -> Result<Vec<u8>, KeyError> {
    if multibase.len() > MAX_MULTIBASE_LEN {
        return Err(KeyError::TooLong(multibase.len()));
    }
    let body = multibase.strip_prefix('z').ok_or(KeyError::NotBase58btc)?;
    bs58::decode(body)
        .into_vec()
        .map_err(|err| KeyError::Base58(err.to_string()))
}

/// Splits multicodec-prefixed key bytes into the curve and the SEC1 point bytes.
pub(crate) fn split_multicodec(bytes: &[u8]) -> Result<(Curve, &[u8]), KeyError> {
    if let Some(point) = bytes.strip_prefix(&K256_PREFIX[..]) {
        Ok((Curve::K256, point))
    } else if let Some(point) = bytes.strip_prefix(&P256_PREFIX[..]) {
        Ok((Curve::P256, point))
    } else {
        Err(KeyError::UnknownMulticodec(
            bytes.iter().take(2).copied().collect(),
        ))
    }
}

/// Encodes a compressed point with its curve's multicodec prefix as `z<base58btc>`.
pub(crate) fn encode_multikey(curve: Curve, compressed_point: &[u8]) -> String {
    let prefix = match curve {
        Curve::K256 => K256_PREFIX,
        Curve::P256 => P256_PREFIX,
    };
    let mut bytes = Vec::with_capacity(prefix.len() + compressed_point.len());
    bytes.extend_from_slice(&prefix);
    bytes.extend_from_slice(compressed_point);
    let mut out = String::with_capacity(1 + bytes.len() * 2);
    out.push('z');
    out.push_str(&bs58::encode(bytes).into_string());
    out
}
