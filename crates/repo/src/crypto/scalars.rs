//! The checks every signature passes before a curve backend sees it: `r` and `s` in
//! `[1, n-1]` and `s` no larger than `(n-1)/2` ("low-S"). Done here, on the big-endian bytes,
//! so both backends refuse exactly what the `k256`/`p256` crates refuse, with the same error:
//! libsecp256k1 parses a zero scalar and ring takes high-S signatures.

use super::{Curve, SignatureError};

/// The order `n` of the secp256k1 group, big-endian.
const K256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];
/// `(n-1)/2` for secp256k1: the largest low-S value.
const K256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];
/// The order `n` of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// `(n-1)/2` for P-256: the largest low-S value.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// Checks the scalars of a compact `r ‖ s` signature on `curve`.
///
/// # Errors
/// [`SignatureError::Malformed`] when `r` or `s` is zero or not below the group order,
/// [`SignatureError::HighS`] when `s` is above half the order.
pub(super) fn check_scalars(curve: Curve, signature: &[u8; 64]) -> Result<(), SignatureError> {
    let (order, half_order) = match curve {
        Curve::K256 => (&K256_ORDER, &K256_HALF_ORDER),
        Curve::P256 => (&P256_ORDER, &P256_HALF_ORDER),
    };
    let (r, s) = signature.split_at(32);
    let in_range = |scalar: &[u8]| scalar.iter().any(|b| *b != 0) && scalar < &order[..];
    if !in_range(r) || !in_range(s) {
        return Err(SignatureError::Malformed);
    }
    if s > &half_order[..] {
        return Err(SignatureError::HighS);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use k256::elliptic_curve::bigint::Encoding as _;
    use k256::elliptic_curve::Curve as _;

    use super::*;

    #[test]
    fn orders_match_the_curve_crates() {
        assert_eq!(K256_ORDER, k256::Secp256k1::ORDER.to_be_bytes());
        assert_eq!(P256_ORDER, p256::NistP256::ORDER.to_be_bytes());
    }

    #[test]
    fn half_orders_are_the_largest_low_s_values() {
        for (curve, half) in [
            (Curve::K256, K256_HALF_ORDER),
            (Curve::P256, P256_HALF_ORDER),
        ] {
            let mut signature = [0u8; 64];
            signature[31] = 1;
            signature[32..].copy_from_slice(&half);
            assert_eq!(check_scalars(curve, &signature), Ok(()));
            assert!(!reference_is_high(curve, &signature));
            // half + 1: the first high-S value.
            let mut carry = true;
            for byte in signature[32..].iter_mut().rev() {
                if carry {
                    let (sum, overflow) = byte.overflowing_add(1);
                    *byte = sum;
                    carry = overflow;
                }
            }
            assert_eq!(check_scalars(curve, &signature), Err(SignatureError::HighS));
            assert!(reference_is_high(curve, &signature));
        }
    }

    /// Whether the curve crate calls `s` high.
    fn reference_is_high(curve: Curve, signature: &[u8; 64]) -> bool {
        match curve {
            Curve::K256 => k256::ecdsa::Signature::from_slice(signature)
                .unwrap()
                .normalize_s()
                .is_some(),
            Curve::P256 => p256::ecdsa::Signature::from_slice(signature)
                .unwrap()
                .normalize_s()
                .is_some(),
        }
    }

    #[test]
    fn zero_and_order_sized_scalars_are_malformed() {
        for (curve, order) in [(Curve::K256, K256_ORDER), (Curve::P256, P256_ORDER)] {
            let mut signature = [0u8; 64];
            signature[63] = 1;
            assert_eq!(
                check_scalars(curve, &signature),
                Err(SignatureError::Malformed)
            );
            signature[..32].copy_from_slice(&order);
            assert_eq!(
                check_scalars(curve, &signature),
                Err(SignatureError::Malformed)
            );
            signature[31] = 1;
            signature[..31].fill(0);
            signature[32..].fill(0);
            assert_eq!(
                check_scalars(curve, &signature),
                Err(SignatureError::Malformed)
            );
        }
    }
}
