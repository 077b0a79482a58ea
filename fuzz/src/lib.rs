//! Helpers shared by the fuzz targets: the independent signature oracle.

use atrelay_repo::crypto::Curve;
use k256::elliptic_curve::scalar::IsHigh;

/// Whether `signature` (64-byte compact) is a valid low-S ECDSA signature of `message` under
/// the SEC1-encoded `point`, decided with the `k256`/`p256` crates directly: the oracle the
/// project's own verification is compared with. `None` when the key itself does not parse.
pub fn oracle_verify(curve: Curve, point: &[u8], message: &[u8], signature: &[u8]) -> Option<bool> {
    use k256::ecdsa::signature::Verifier;
    Some(match curve {
        Curve::K256 => {
            let key = k256::ecdsa::VerifyingKey::from_sec1_bytes(point).ok()?;
            match k256::ecdsa::Signature::from_slice(signature) {
                Ok(sig) => !bool::from(sig.s().is_high()) && key.verify(message, &sig).is_ok(),
                Err(_) => false,
            }
        }
        Curve::P256 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).ok()?;
            match p256::ecdsa::Signature::from_slice(signature) {
                Ok(sig) => !bool::from(sig.s().is_high()) && key.verify(message, &sig).is_ok(),
                Err(_) => false,
            }
        }
    })
}
