//! Differential fuzzing of the fast signature backends (libsecp256k1 for k256, ring for
//! p256) against the reference `k256`/`p256` crates, starting from valid signatures.
//!
//! Input: one byte choosing the curve (low bit) and whether to take the high-S twin of the
//! signature (bit 1), a 32-byte secret, a 16-bit message length, the message, then mutation
//! pairs `(position, xor)` applied to the 64 signature bytes (position < 64), to the message
//! (64 ≤ position < 128, wrapping) or the key's compressed point (position ≥ 128). The signature
//! is made with the secret, then mutated; both backends must give the same `Result`, and the
//! unmutated low-S signature must verify.
#![no_main]

use atrelay_repo::crypto::{Curve, PublicKey, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 1 + 32 + 2 {
        return;
    }
    let curve = if data[0] & 1 == 0 {
        Curve::K256
    } else {
        Curve::P256
    };
    let high_s = data[0] & 2 != 0;
    let Ok(signing) = SigningKey::from_bytes(curve, &data[1..33]) else {
        return;
    };
    let len = usize::from(u16::from_le_bytes([data[33], data[34]])).min(data.len() - 35);
    let (message, mutations) = data[35..].split_at(len);
    let mut message = message.to_vec();
    let mut signature = signing.sign(&message).to_vec();
    let key = signing.public_key();
    assert_eq!(
        key.verify(&message, &signature),
        Ok(()),
        "a fresh signature fails"
    );
    assert_eq!(key.verify_with_reference(&message, &signature), Ok(()));
    if high_s {
        let order = atrelay_fuzz::group_order(curve);
        let s = atrelay_fuzz::subtract_be(&order, &signature[32..]);
        signature[32..].copy_from_slice(&s);
    }
    let mut point = key.to_compressed_bytes();
    for pair in mutations.chunks_exact(2) {
        let (position, xor) = (usize::from(pair[0]), pair[1]);
        if position < 64 {
            signature[position] ^= xor;
        } else if position < 128 {
            if !message.is_empty() {
                let at = (position - 64) % message.len();
                message[at] ^= xor;
            }
        } else {
            point[(position - 128) % 33] ^= xor;
        }
    }
    let Ok(key) = PublicKey::from_sec1(curve, &point) else {
        return;
    };
    assert_eq!(
        key.verify(&message, &signature),
        key.verify_with_reference(&message, &signature),
        "the fast backend and the reference backend disagree"
    );
});
