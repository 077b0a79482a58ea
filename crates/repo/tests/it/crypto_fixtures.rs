//! Conformance of `atrelay_repo::crypto` against the atproto interop crypto fixtures, plus
//! sign/verify round trips.

use std::path::PathBuf;

use atrelay_repo::crypto::{Curve, KeyError, PublicKey, SignatureError, SigningKey};
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::Value;

fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata")).join(rel)
}

pub(crate) fn load_json(rel: &str) -> Value {
    let path = fixture_path(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("bad JSON in {}: {err}", path.display()))
}

pub(crate) fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text.trim_end_matches('='))
        .expect("fixture base64 decodes")
}

pub(crate) fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("fixture hex decodes"))
        .collect()
}

fn str_field<'a>(case: &'a Value, name: &str) -> &'a str {
    case[name]
        .as_str()
        .unwrap_or_else(|| panic!("fixture field {name} missing"))
}

#[test]
fn signature_fixtures() {
    let cases = load_json("interop/crypto/signature-fixtures.json");
    let cases = cases.as_array().expect("array of cases");
    assert_eq!(cases.len(), 6, "fixture file changed size");
    for case in cases {
        let comment = str_field(case, "comment");
        let message = b64(str_field(case, "messageBase64"));
        let signature = b64(str_field(case, "signatureBase64"));
        let valid = case["validSignature"].as_bool().expect("validSignature");
        let tags: Vec<&str> = case["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t.as_str().expect("tag string"))
            .collect();

        let did_key = str_field(case, "publicKeyDid");
        let key = PublicKey::from_did_key(did_key).expect(comment);
        let expected_curve = match str_field(case, "algorithm") {
            "ES256K" => Curve::K256,
            "ES256" => Curve::P256,
            other => panic!("unknown algorithm {other}"),
        };
        assert_eq!(key.curve(), expected_curve, "{comment}");
        assert_eq!(key.curve().jwt_alg(), str_field(case, "algorithm"));
        assert_eq!(key.to_did_key(), did_key, "did:key round trip: {comment}");

        // The legacy form (no multicodec prefix) must give the same key.
        let legacy = PublicKey::from_legacy(
            str_field(case, "didDocSuite"),
            str_field(case, "publicKeyMultibase"),
        )
        .expect(comment);
        assert_eq!(legacy, key, "legacy form: {comment}");

        let result = key.verify(&message, &signature);
        if valid {
            assert_eq!(result, Ok(()), "{comment}");
        } else if tags.contains(&"high-s") {
            assert_eq!(result, Err(SignatureError::HighS), "{comment}");
        } else if tags.contains(&"der-encoded") {
            assert_eq!(
                result,
                Err(SignatureError::WrongLength(signature.len())),
                "{comment}"
            );
        } else {
            panic!("negative case without a known tag: {comment}");
        }
    }
}

#[test]
fn w3c_did_key_k256() {
    let cases = load_json("interop/crypto/w3c_didkey_K256.json");
    let cases = cases.as_array().expect("array");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let secret = hex(str_field(case, "privateKeyBytesHex"));
        let did_key = str_field(case, "publicDidKey");
        let signing = SigningKey::from_bytes(Curve::K256, &secret).expect("valid secret");
        assert_eq!(signing.public_key().to_did_key(), did_key);
        assert_eq!(signing.to_bytes().to_vec(), secret);
        let parsed = PublicKey::from_did_key(did_key).expect("parses");
        assert_eq!(parsed, signing.public_key());
        assert_eq!(parsed.curve(), Curve::K256);
    }
}

#[test]
fn w3c_did_key_p256() {
    let cases = load_json("interop/crypto/w3c_didkey_P256.json");
    let cases = cases.as_array().expect("array");
    assert_eq!(cases.len(), 1);
    for case in cases {
        let secret = bs58::decode(str_field(case, "privateKeyBytesBase58"))
            .into_vec()
            .expect("base58");
        let did_key = str_field(case, "publicDidKey");
        let signing = SigningKey::from_bytes(Curve::P256, &secret).expect("valid secret");
        assert_eq!(signing.public_key().to_did_key(), did_key);
        let parsed = PublicKey::from_did_key(did_key).expect("parses");
        assert_eq!(parsed, signing.public_key());
        assert_eq!(parsed.curve(), Curve::P256);
    }
}

#[test]
fn legacy_uncompressed_key_matches_compressed() {
    for signing in [SigningKey::generate_k256(), SigningKey::generate_p256()] {
        let public = signing.public_key();
        let uncompressed = public.to_uncompressed_bytes();
        assert_eq!(uncompressed.len(), 65);
        let multibase = format!("z{}", bs58::encode(&uncompressed).into_string());
        let suite = match public.curve() {
            Curve::K256 => "EcdsaSecp256k1VerificationKey2019",
            Curve::P256 => "EcdsaSecp256r1VerificationKey2019",
        };
        assert_eq!(
            PublicKey::from_legacy(suite, &multibase),
            Ok(public.clone())
        );
        assert_eq!(public.to_compressed_bytes().len(), 33);
    }
}

#[test]
fn bad_keys_are_typed_errors() {
    assert_eq!(
        PublicKey::from_did_key("zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"),
        Err(KeyError::NotDidKey)
    );
    assert_eq!(
        PublicKey::from_multikey("mQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"),
        Err(KeyError::NotBase58btc)
    );
    assert!(matches!(
        PublicKey::from_multikey("z0OIl"),
        Err(KeyError::Base58(_))
    ));
    assert_eq!(
        PublicKey::from_multikey(&"z".repeat(200)),
        Err(KeyError::TooLong(200))
    );
    // An ed25519 multikey (prefix ed 01) is not accepted.
    let ed = format!("z{}", bs58::encode([0xed, 0x01, 1, 2, 3]).into_string());
    assert_eq!(
        PublicKey::from_multikey(&ed),
        Err(KeyError::UnknownMulticodec(vec![0xed, 0x01]))
    );
    // Right prefix, point not on the curve.
    let mut bogus = vec![0xe7, 0x01, 0x02];
    bogus.extend_from_slice(&[0xff; 32]);
    let bogus = format!("z{}", bs58::encode(&bogus).into_string());
    assert_eq!(
        PublicKey::from_multikey(&bogus),
        Err(KeyError::InvalidKey {
            curve: Curve::K256,
            len: 33
        })
    );
    assert_eq!(
        PublicKey::from_legacy("Ed25519VerificationKey2020", "z6Mk"),
        Err(KeyError::UnsupportedType(
            "Ed25519VerificationKey2020".into()
        ))
    );
    assert!(matches!(
        SigningKey::from_bytes(Curve::P256, &[0u8; 32]),
        Err(KeyError::InvalidKey { .. })
    ));
    assert!(matches!(
        SigningKey::from_bytes(Curve::K256, &[1u8; 31]),
        Err(KeyError::InvalidKey { .. })
    ));
}

#[test]
fn malformed_signatures_are_typed_errors() {
    let key = SigningKey::generate_k256().public_key();
    assert_eq!(key.verify(b"m", &[]), Err(SignatureError::WrongLength(0)));
    assert_eq!(key.verify(b"m", &[0u8; 64]), Err(SignatureError::Malformed));
    let p = SigningKey::generate_p256().public_key();
    assert_eq!(
        p.verify(b"m", &[0xffu8; 64]),
        Err(SignatureError::Malformed)
    );
}

fn check_round_trip(signing: &SigningKey, message: &[u8], flip_bit: usize) {
    let public = signing.public_key();
    let signature = signing.sign(message);
    assert_eq!(public.verify(message, &signature), Ok(()));
    // Through the did:key text form and back.
    let reparsed = PublicKey::from_did_key(&public.to_did_key()).expect("own did:key parses");
    assert_eq!(reparsed.verify(message, &signature), Ok(()));

    // Flipping any bit of the signature makes it fail.
    let mut bad_sig = signature;
    bad_sig[flip_bit % 64] ^= 1 << (flip_bit % 8);
    assert!(public.verify(message, &bad_sig).is_err());

    // Flipping a bit of the message makes it fail with a mismatch.
    let mut bad_msg = message.to_vec();
    if bad_msg.is_empty() {
        bad_msg.push(0);
    } else {
        let idx = flip_bit % bad_msg.len();
        bad_msg[idx] ^= 1 << (flip_bit % 8);
    }
    assert_eq!(
        public.verify(&bad_msg, &signature),
        Err(SignatureError::Mismatch)
    );

    // A key of the other curve, or another key, does not verify it.
    let other = match signing.curve() {
        Curve::K256 => SigningKey::generate_p256(),
        Curve::P256 => SigningKey::generate_k256(),
    };
    assert!(other.public_key().verify(message, &signature).is_err());
}

#[test]
fn sign_verify_round_trip_both_curves() {
    for signing in [SigningKey::generate_k256(), SigningKey::generate_p256()] {
        check_round_trip(&signing, b"hello world", 77);
        check_round_trip(&signing, b"", 3);
    }
}

#[test]
fn high_s_form_of_own_signature_is_rejected_on_both_curves() {
    // Negating s (s -> n - s) gives the other valid ECDSA signature for the same message;
    // atproto accepts only the low-S one.
    for signing in [SigningKey::generate_k256(), SigningKey::generate_p256()] {
        let message = b"malleability";
        let low = signing.sign(message);
        let high: Vec<u8> = match signing.curve() {
            Curve::K256 => {
                let sig = k256::ecdsa::Signature::from_slice(&low).unwrap();
                let (r, s) = sig.split_scalars();
                k256::ecdsa::Signature::from_scalars(r, -*s)
                    .unwrap()
                    .to_bytes()
                    .to_vec()
            }
            Curve::P256 => {
                let sig = p256::ecdsa::Signature::from_slice(&low).unwrap();
                let (r, s) = sig.split_scalars();
                p256::ecdsa::Signature::from_scalars(r, -*s)
                    .unwrap()
                    .to_bytes()
                    .to_vec()
            }
        };
        assert_eq!(
            signing.public_key().verify(message, &high),
            Err(SignatureError::HighS),
            "{}",
            signing.curve()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn prop_sign_verify(message in proptest::collection::vec(any::<u8>(), 0..512),
                        flip in 0usize..512,
                        use_p256 in any::<bool>()) {
        let signing = if use_p256 { SigningKey::generate_p256() } else { SigningKey::generate_k256() };
        check_round_trip(&signing, &message, flip);
    }
}

/// Found by the `signature` fuzz target: the curve crates accept the SEC1 "compact" form (tag
/// `05`) of a P-256 point, which gave one key a second did:key spelling. Only the compressed
/// (`02`/`03`) and uncompressed (`04`) forms are keys.
#[test]
fn compact_sec1_points_are_refused() {
    for key in [SigningKey::generate_p256(), SigningKey::generate_k256()] {
        let public = key.public_key();
        let mut point = public.to_compressed_bytes();
        assert!(PublicKey::from_sec1(public.curve(), &point).is_ok());
        point[0] = 0x05;
        assert!(matches!(
            PublicKey::from_sec1(public.curve(), &point),
            Err(KeyError::InvalidKey { len: 33, .. })
        ));
        let prefix: &[u8] = match public.curve() {
            Curve::K256 => &[0xe7, 0x01],
            Curve::P256 => &[0x80, 0x24],
        };
        let multikey = format!(
            "z{}",
            bs58::encode([prefix, point.as_slice()].concat()).into_string()
        );
        assert!(PublicKey::from_multikey(&multikey).is_err());
        assert!(PublicKey::from_did_key(&format!("did:key:{multikey}")).is_err());
    }
}
