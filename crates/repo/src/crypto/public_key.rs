//! Public keys: parsing from DID-document forms, printing, and signature verification.

use k256::ecdsa::signature::Verifier as _;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use secp256k1::Message;
use sha2::{Digest, Sha256};

use super::multikey::{
    decode_base58btc, encode_multikey, split_multicodec, K256_PREFIX, LEGACY_K256_TYPE,
    LEGACY_P256_TYPE, P256_PREFIX,
};
use super::scalars::check_scalars;
use super::{Curve, KeyError, SignatureError};

/// Prefix of a `did:key` identifier.
const DID_KEY_PREFIX: &str = "did:key:";

/// A k256 or p256 public key, the `#atproto` signing key of an account.
///
/// Build it with [`PublicKey::from_did_key`], [`PublicKey::from_multikey`] or
/// [`PublicKey::from_legacy`]; check commits with [`PublicKey::verify`]. The key is parsed
/// once, into the form its verifying backend needs, so a cached key verifies without
/// re-parsing.
#[derive(Clone)]
pub struct PublicKey {
    /// The canonical 33-byte compressed SEC1 point: what equality, printing and the reference
    /// verifier use.
    compressed: [u8; 33],
    backend: Backend,
}

/// A key ready for the fast verifier of its curve.
#[derive(Clone)]
enum Backend {
    /// libsecp256k1's parsed point.
    K256(secp256k1::PublicKey),
    /// The 65-byte uncompressed point, the only form ring's P-256 verifier reads.
    P256([u8; 65]),
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.curve() == other.curve() && self.compressed == other.compressed
    }
}

impl Eq for PublicKey {}

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
            Curve::K256 => {
                let key = secp256k1::PublicKey::from_slice(point).map_err(|_| invalid())?;
                Ok(PublicKey {
                    compressed: key.serialize(),
                    backend: Backend::K256(key),
                })
            }
            Curve::P256 => {
                let key =
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| invalid())?;
                let mut compressed = [0u8; 33];
                compressed.copy_from_slice(key.to_encoded_point(true).as_bytes());
                let mut uncompressed = [0u8; 65];
                uncompressed.copy_from_slice(key.to_encoded_point(false).as_bytes());
                Ok(PublicKey {
                    compressed,
                    backend: Backend::P256(uncompressed),
                })
            }
        }
    }

    /// The curve of this key.
    pub fn curve(&self) -> Curve {
        match self.backend {
            Backend::K256(_) => Curve::K256,
            Backend::P256(_) => Curve::P256,
        }
    }

    /// The 33-byte compressed SEC1 encoding of the point.
    pub fn to_compressed_bytes(&self) -> Vec<u8> {
        self.compressed.to_vec()
    }

    /// The 65-byte uncompressed SEC1 encoding of the point (`04 ‖ x ‖ y`), the form old DID
    /// documents carry.
    pub fn to_uncompressed_bytes(&self) -> Vec<u8> {
        match &self.backend {
            Backend::K256(key) => key.serialize_uncompressed().to_vec(),
            Backend::P256(point) => point.to_vec(),
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
    /// The arithmetic is libsecp256k1's for k256 and ring's for p256, the fastest we measured
    /// (`docs/performance.md`); the scalar and low-S rules are checked before either sees the
    /// signature, so the verdict is exactly [`PublicKey::verify_with_reference`]'s.
    ///
    /// # Errors
    /// [`SignatureError::WrongLength`] for anything but 64 bytes (e.g. DER),
    /// [`SignatureError::Malformed`] for out-of-range scalars, [`SignatureError::HighS`] for a
    /// high-S signature on either curve and [`SignatureError::Mismatch`] when it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        let signature: &[u8; 64] = signature
            .try_into()
            .map_err(|_| SignatureError::WrongLength(signature.len()))?;
        check_scalars(self.curve(), signature)?;
        match &self.backend {
            Backend::K256(key) => {
                let digest: [u8; 32] = Sha256::digest(message).into();
                let signature = secp256k1::ecdsa::Signature::from_compact(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                secp256k1::ecdsa::verify(&signature, Message::from_digest(digest), key)
                    .map_err(|_| SignatureError::Mismatch)
            }
            Backend::P256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .map_err(|_| SignatureError::Mismatch),
        }
    }

    /// [`PublicKey::verify`] done by the pure-Rust `k256`/`p256` crates, parsing the key on
    /// each call. Slower; it is the oracle the differential tests and the fuzz targets compare
    /// the fast backends with.
    ///
    /// # Errors
    /// As [`PublicKey::verify`].
    pub fn verify_with_reference(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        if signature.len() != 64 {
            return Err(SignatureError::WrongLength(signature.len()));
        }
        match self.curve() {
            Curve::K256 => {
                let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(&self.compressed)
                    .map_err(|_| SignatureError::Mismatch)?;
                let sig = k256::ecdsa::Signature::from_slice(signature)
                    .map_err(|_| SignatureError::Malformed)?;
                if sig.normalize_s().is_some() {
                    return Err(SignatureError::HighS);
                }
                key.verify(message, &sig)
                    .map_err(|_| SignatureError::Mismatch)
            }
            Curve::P256 => {
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&self.compressed)
                    .map_err(|_| SignatureError::Mismatch)?;
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
