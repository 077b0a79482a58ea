//! Helpers shared by the fuzz targets: the independent signature oracle and the group orders.

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

/// The order of `curve`'s group, big-endian (from the `k256`/`p256` crates).
pub fn group_order(curve: Curve) -> [u8; 32] {
    use k256::elliptic_curve::bigint::Encoding as _;
    use k256::elliptic_curve::Curve as _;
    match curve {
        Curve::K256 => k256::Secp256k1::ORDER.to_be_bytes(),
        Curve::P256 => p256::NistP256::ORDER.to_be_bytes(),
    }
}

/// `a - b` for 32-byte big-endian numbers (wrapping): used to turn `s` into `n - s`, the
/// high-S twin of a signature.
pub fn subtract_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let subtrahend = u16::from(b[i]) + borrow;
        let minuend = u16::from(a[i]);
        if minuend >= subtrahend {
            out[i] = (minuend - subtrahend) as u8;
            borrow = 0;
        } else {
            out[i] = (minuend + 256 - subtrahend) as u8;
            borrow = 1;
        }
    }
    out
}
