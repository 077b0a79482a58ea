//! The fast signature backends (libsecp256k1, ring) against the `k256`/`p256` crates: the
//! same verdict, error included, for every interop signature vector, for keys from the W3C
//! did:key vectors and fresh keys, and for each of those signatures mutated the ways an
//! attacker or a buggy PDS would: its high-S twin, zero and out-of-range scalars, flipped
//! bits, a changed message, wrong lengths and another key.

use atrelay_repo::crypto::{Curve, PublicKey, SignatureError, SigningKey};
use k256::elliptic_curve::bigint::Encoding as _;
use k256::elliptic_curve::Curve as _;
use proptest::prelude::*;

use crate::crypto_fixtures::{b64, hex, load_json};

fn order(curve: Curve) -> [u8; 32] {
    match curve {
        Curve::K256 => k256::Secp256k1::ORDER.to_be_bytes(),
        Curve::P256 => p256::NistP256::ORDER.to_be_bytes(),
    }
}

/// `a - b` on 32-byte big-endian numbers, `a >= b`.
fn subtract(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[i] = digit as u8;
    }
    out
}

/// The signature and the variants of it both backends must judge alike.
fn variants(curve: Curve, signature: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![signature.to_vec()];
    if signature.len() != 64 {
        return out;
    }
    let n = order(curve);
    let (r, s) = signature.split_at(32);
    // The high-S twin: (r, n - s) verifies in plain ECDSA and must still be refused.
    out.push([r, &subtract(&n, s)[..]].concat());
    out.push([&[0u8; 32][..], s].concat());
    out.push([r, &[0u8; 32][..]].concat());
    out.push([&n[..], s].concat());
    out.push([r, &n[..]].concat());
    out.push([&[0xff; 32][..], s].concat());
    for bit in [0, 7, 100, 255, 256, 300, 511] {
        let mut flipped = signature.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        out.push(flipped);
    }
    out.push(signature[..63].to_vec());
    out.push([signature, &[0]].concat());
    out.push(Vec::new());
    out
}

/// Asserts both backends give the same result for every variant of `signature`, under `key`
/// and `other` (a different key), over `message` and a changed message; returns the verdict on
/// the unchanged signature.
fn assert_backends_agree(
    key: &PublicKey,
    other: &PublicKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let mut changed = message.to_vec();
    changed.push(0x2a);
    for candidate in variants(key.curve(), signature) {
        for public in [key, other] {
            for text in [message, &changed[..]] {
                assert_eq!(
                    public.verify(text, &candidate),
                    public.verify_with_reference(text, &candidate),
                    "backends disagree: key {public}, signature {candidate:02x?}"
                );
            }
        }
    }
    key.verify(message, signature)
}

#[test]
fn every_interop_signature_vector_gets_the_reference_verdict() {
    let cases = load_json("interop/crypto/signature-fixtures.json");
    let cases = cases.as_array().expect("array of cases");
    assert_eq!(cases.len(), 6, "fixture file changed size");
    let mut valid = 0;
    for case in cases {
        let key = PublicKey::from_did_key(case["publicKeyDid"].as_str().expect("did:key"))
            .expect("fixture key parses");
        let other = match key.curve() {
            Curve::K256 => SigningKey::generate_k256(),
            Curve::P256 => SigningKey::generate_p256(),
        }
        .public_key();
        let message = b64(case["messageBase64"].as_str().expect("message"));
        let signature = b64(case["signatureBase64"].as_str().expect("signature"));
        let verdict = assert_backends_agree(&key, &other, &message, &signature);
        assert_eq!(
            verdict.is_ok(),
            case["validSignature"].as_bool().expect("validSignature"),
            "{}",
            case["comment"]
        );
        valid += usize::from(verdict.is_ok());
    }
    assert_eq!(valid, 2, "the fixtures hold one valid signature per curve");
}

#[test]
fn the_w3c_did_key_vectors_sign_and_verify_alike_on_both_backends() {
    let mut secrets: Vec<(Curve, Vec<u8>)> = Vec::new();
    for case in load_json("interop/crypto/w3c_didkey_K256.json")
        .as_array()
        .expect("array")
    {
        let secret = case["privateKeyBytesHex"].as_str().expect("hex secret");
        secrets.push((Curve::K256, hex(secret)));
    }
    for case in load_json("interop/crypto/w3c_didkey_P256.json")
        .as_array()
        .expect("array")
    {
        let secret = case["privateKeyBytesBase58"]
            .as_str()
            .expect("base58 secret");
        secrets.push((
            Curve::P256,
            bs58::decode(secret).into_vec().expect("base58"),
        ));
    }
    assert_eq!(secrets.len(), 6, "fixture files changed size");
    let others = [
        SigningKey::generate_k256().public_key(),
        SigningKey::generate_p256().public_key(),
    ];
    for (curve, secret) in secrets {
        let signing = SigningKey::from_bytes(curve, &secret).expect("fixture secret");
        let other = others
            .iter()
            .find(|key| key.curve() == curve)
            .expect("a key per curve");
        let message = b"an unsigned commit";
        let signature = signing.sign(message);
        assert_eq!(
            assert_backends_agree(&signing.public_key(), other, message, &signature),
            Ok(())
        );
    }
}

#[test]
fn the_high_s_twin_of_a_valid_signature_is_refused_by_both_backends() {
    for signing in [SigningKey::generate_k256(), SigningKey::generate_p256()] {
        let key = signing.public_key();
        let signature = signing.sign(b"commit bytes");
        let (r, s) = signature.split_at(32);
        let twin = [r, &subtract(&order(key.curve()), s)[..]].concat();
        assert_eq!(key.verify(b"commit bytes", &signature), Ok(()));
        assert_eq!(
            key.verify(b"commit bytes", &twin),
            Err(SignatureError::HighS)
        );
        assert_eq!(
            key.verify_with_reference(b"commit bytes", &twin),
            Err(SignatureError::HighS)
        );
    }
}

#[test]
fn uncompressed_and_compressed_keys_verify_alike() {
    for signing in [SigningKey::generate_k256(), SigningKey::generate_p256()] {
        let compressed = signing.public_key();
        let uncompressed =
            PublicKey::from_sec1(compressed.curve(), &compressed.to_uncompressed_bytes())
                .expect("uncompressed point parses");
        assert_eq!(uncompressed, compressed);
        let signature = signing.sign(b"message");
        assert_eq!(uncompressed.verify(b"message", &signature), Ok(()));
        assert_eq!(compressed.verify(b"message", &signature), Ok(()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fresh_keys_and_messages_get_the_reference_verdict(
        secret in proptest::array::uniform32(1u8..),
        message in proptest::collection::vec(any::<u8>(), 0..400),
        use_p256 in any::<bool>(),
    ) {
        let curve = if use_p256 { Curve::P256 } else { Curve::K256 };
        // Some 32-byte strings are not below the order; those are not keys.
        let Ok(signing) = SigningKey::from_bytes(curve, &secret) else { return Ok(()) };
        let other = match curve {
            Curve::K256 => SigningKey::generate_k256(),
            Curve::P256 => SigningKey::generate_p256(),
        }
        .public_key();
        let signature = signing.sign(&message);
        prop_assert_eq!(
            assert_backends_agree(&signing.public_key(), &other, &message, &signature),
            Ok(())
        );
    }
}
