//! Public keys: parsing from DID-document forms, printing, and signature verification.

use k256::ecdsa::signature::Verifier as _;

use super::multikey::{
    decode_base58btc, encode_multikey, split_multicodec, K256_PREFIX, LEGACY_K256_TYPE,
    LEGACY_P256_TYPE, P256_PREFIX,
};
use super::{Curve, KeyError, SignatureError};

/// Prefix of a `did:key` identifier.
const DID_KEY_PREFIX: &str = "did:key:";

/// A k256 or p256 public key, the `#atproto` signing key of an account.
///
/// Build it with [`PublicKey::from_did_key`], [`PublicKey::from_multikey`] or
/// [`PublicKey::from_legacy`]; check commits with [`PublicKey::verify`].
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// A secp256k1 key.
    K256(k256::ecdsa::VerifyingKey),
    /// A NIST P-256 key.
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Parses a `did:key:z…` identifier (a Multikey behind the `did:key:` prefix).
    ///
    /// # Errors
    /// [`KeyError::NotDidKey`] without the prefix, otherwise as [`PublicKey::from_multikey`].
    pub fn from_did_key(did_key: &str) -> Result<Self, KeyError> {
        let multibase = did_key
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or(KeyError::NotDidKey)?;
        Self::from_multikey(multibase)
    }

    /// Parses a Multikey string: `z` + base58btc(multicodec prefix ‖ SEC1 point).
    ///
    /// The prefix is `e7 01` for k256 and `80 24` for p256. Compressed and uncompressed points
    /// are both accepted.
    ///
    /// # Errors
    /// [`KeyError`] saying whether the multibase, the multicodec or the point was wrong.
    pub fn from_multikey(multibase: &str) -> Result<Self, KeyError> {
        let bytes = decode_base58btc(multibase)?;
        let (curve, point) = split_multicodec(&bytes)?;
        Self::from_sec1(curve, point)
    }

    /// Parses a legacy DID-document key: `method_type` is `EcdsaSecp256k1VerificationKey2019`
    /// or `EcdsaSecp256r1VerificationKey2019`, `multibase` is `z` + base58btc of the SEC1
    /// point (uncompressed in old documents, compressed in the interop fixtures) with no
    /// multicodec prefix.
    ///
    /// A point that does carry the matching multicodec prefix is accepted too, since some
    /// documents mix the two conventions.
    ///
    /// # Errors
    /// [`KeyError::UnsupportedType`] for any other type, otherwise a decoding error.
    pub fn from_legacy(method_type: &str, multibase: &str) -> Result<Self, KeyError> {
        let curve = match method_type {
            LEGACY_K256_TYPE => Curve::K256,
            LEGACY_P256_TYPE => Curve::P256,
            other => return Err(KeyError::UnsupportedType(other.to_owned())),
        };
        let bytes = decode_base58btc(multibase)?;
        let prefix = match curve {
            Curve::K256 => K256_PREFIX,
            Curve::P256 => P256_PREFIX,
        };
        let point = match bytes.strip_prefix(&prefix[..]) {
            // 33 or 65 bytes remain only when the prefix really was a multicodec prefix.
            Some(rest) if rest.len() == 33 || rest.len() == 65 => rest,
            _ => bytes.as_slice(),
        };
        Self::from_sec1(curve, point)
    }

    /// Builds a key from SEC1 point bytes (33-byte compressed or 65-byte uncompressed).
    ///
    /// Only those two forms are read: the curve crates also take the identity point and the
    /// 33-byte "compact" form (tag `05`), which would give one key a second did:key spelling.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] when the bytes are not a point on `curve` in one of the two forms.
    pub fn from_sec1(curve: Curve, point: &[u8]) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidKey {
            curve,
            len: point.len(),
        };
        if !matches!(
            (point.len(), point.first()),
            (33, Some(0x02 | 0x03)) | (65, Some(0x04))
        ) {
            return Err(invalid());
        }
        match curve {
            Curve::K256 => k256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::K256)
                .map_err(|_| invalid()),
            Curve::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::P256)
                .map_err(|_| invalid()),
        }
    }

    /// The curve of this key.
    pub fn curve(&self) -> Curve {
        match self {
            PublicKey::K256(_) => Curve::K256,
            PublicKey::P256(_) => Curve::P256,
        }
    }

    /// The 33-byte compressed SEC1 encoding of the point.
    pub fn to_compressed_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::K256(key) => key.to_encoded_point(true).as_bytes().to_vec(),
            PublicKey::P256(key) => key.to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// The Multikey form: `z` + base58btc(multicodec ‖ compressed point).
    pub fn to_multikey(&self) -> String {
        encode_multikey(self.curve(), &self.to_compressed_bytes())
    }

    /// The `did:key:` form of [`PublicKey::to_multikey`].
    pub fn to_did_key(&self) -> String {
        let mut out = String::from(DID_KEY_PREFIX);
        out.push_str(&self.to_multikey());
        out
    }

    /// Verifies a 64-byte compact low-S signature over `message`, which is hashed with
    /// SHA-256 here (pass the unsigned commit bytes, not their hash).
    ///
    /// # Errors
    /// [`SignatureError::WrongLength`] for anything but 64 bytes (e.g. DER),
    /// [`SignatureError::Malformed`] for out-of-range scalars, [`SignatureError::HighS`] for a
    /// high-S signature on either curve and [`SignatureError::Mismatch`] when it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        if signature.len() != 64 {
            return Err(SignatureError::WrongLength(signature.len()));
        }
        match self {
            PublicKey::K256(key) => {
                let sig = k256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                if sig.normalize_s().is_some() {
                    return Err(SignatureError::HighS);
                }
                key.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            PublicKey::P256(key) => {
                let sig = p256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                // The p256 crate accepts high-S signatures; atproto does not.
                if sig.normalize_s().is_some() {
                    return Err(SignatureError::HighS);
                }
                key.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
        }
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_did_key())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_did_key())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;

    /// Parses a `did:key:` string.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_did_key(s)
    }
}
