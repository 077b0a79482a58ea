//! Private keys, for the test PDS and property tests: generate, load and sign (always low-S).

use k256::ecdsa::signature::Signer as _;
use rand_core::OsRng;

use super::{Curve, KeyError, PublicKey};

/// A k256 or p256 private key that produces atproto signatures.
#[derive(Clone)]
pub enum SigningKey {
    /// A secp256k1 key.
    K256(k256::ecdsa::SigningKey),
    /// A NIST P-256 key.
    P256(p256::ecdsa::SigningKey),
}

impl SigningKey {
    /// Generates a fresh k256 key from the operating system's random source.
    pub fn generate_k256() -> Self {
        SigningKey::K256(k256::ecdsa::SigningKey::random(&mut OsRng))
    }

    /// Generates a fresh p256 key from the operating system's random source.
    pub fn generate_p256() -> Self {
        SigningKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng))
    }

    /// Loads a key from its 32-byte big-endian secret scalar.
    ///
    /// # Errors
    /// [`KeyError::InvalidKey`] when the bytes are not 32 bytes or not a valid scalar.
    pub fn from_bytes(curve: Curve, secret: &[u8]) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidKey {
            curve,
            len: secret.len(),
        };
        // The curve crates zero-pad short slices; a stored key is always exactly 32 bytes.
        if secret.len() != 32 {
            return Err(invalid());
        }
        match curve {
            Curve::K256 => k256::ecdsa::SigningKey::from_slice(secret)
                .map(SigningKey::K256)
                .map_err(|_| invalid()),
            Curve::P256 => p256::ecdsa::SigningKey::from_slice(secret)
                .map(SigningKey::P256)
                .map_err(|_| invalid()),
        }
    }

    /// The curve of this key.
    pub fn curve(&self) -> Curve {
        match self {
            SigningKey::K256(_) => Curve::K256,
            SigningKey::P256(_) => Curve::P256,
        }
    }

    /// The 32-byte secret scalar, for storing a test key.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        match self {
            SigningKey::K256(key) => out.copy_from_slice(&key.to_bytes()),
            SigningKey::P256(key) => out.copy_from_slice(&key.to_bytes()),
        }
        out
    }

    /// Signs SHA-256(`message`) and returns the 64-byte compact signature, normalised to low-S.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        match self {
            SigningKey::K256(key) => {
                let sig: k256::ecdsa::Signature = key.sign(message);
                let sig = sig.normalize_s().unwrap_or(sig);
                out.copy_from_slice(&sig.to_bytes());
            }
            SigningKey::P256(key) => {
                let sig: p256::ecdsa::Signature = key.sign(message);
                let sig = sig.normalize_s().unwrap_or(sig);
                out.copy_from_slice(&sig.to_bytes());
            }
        }
        out
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let (curve, point) = match self {
            SigningKey::K256(key) => (Curve::K256, key.verifying_key().to_encoded_point(true)),
            SigningKey::P256(key) => (Curve::P256, key.verifying_key().to_encoded_point(true)),
        };
        // A point the curve crate derived from a valid secret is always a valid point.
        #[allow(clippy::expect_used)]
        PublicKey::from_sec1(curve, point.as_bytes()).expect("a signing key's own point parses")
    }
}

impl std::fmt::Debug for SigningKey {
    /// Shows only the public half, so secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public_key().to_did_key())
    }
}
