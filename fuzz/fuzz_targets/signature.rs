//! Differential fuzzing of signature verification and key parsing against the `k256`/`p256`
//! crates used directly. Input: one byte choosing the curve (low bit), a 33-byte compressed
//! SEC1 point, a 64-byte compact signature, then the message.
//!
//! Checks: our key parser accepts exactly the points the curve crate accepts and re-encodes
//! them to the same compressed bytes and a did:key that parses back to the same key; our
//! verification (libsecp256k1 / ring) agrees with "low S and the curve crate verifies" and
//! gives exactly the error of the reference backend (`verify_with_reference`). Random
//! signatures almost never verify: `signature_mutations` starts from valid ones.
#![no_main]

use atrelay_fuzz::oracle_verify;
use atrelay_repo::crypto::{Curve, PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 1 + 33 + 64 {
        return;
    }
    let curve = if data[0] & 1 == 0 {
        Curve::K256
    } else {
        Curve::P256
    };
    let (point, rest) = data[1..].split_at(33);
    let (signature, message) = rest.split_at(64);
    let ours = PublicKey::from_sec1(curve, point);
    // Keys are compressed points (02/03); the curve crates also take the compact form (05),
    // which atproto does not.
    let oracle = oracle_verify(curve, point, message, signature).filter(|_| point[0] != 0x05);
    match (ours, oracle) {
        (Err(_), None) => {}
        (Ok(key), Some(expected)) => {
            assert_eq!(key.curve(), curve);
            assert_eq!(key.to_compressed_bytes(), point, "compressed form changed");
            let did_key = key.to_did_key();
            let back = PublicKey::from_did_key(&did_key).expect("our did:key parses");
            assert_eq!(back, key, "did:key round trip changed the key");
            assert_eq!(
                PublicKey::from_multikey(&key.to_multikey()).expect("our multikey parses"),
                key
            );
            assert_eq!(
                key.verify(message, signature).is_ok(),
                expected,
                "verification disagrees with the curve crate"
            );
            assert_eq!(
                key.verify(message, signature),
                key.verify_with_reference(message, signature),
                "the fast backend and the reference backend disagree"
            );
        }
        (Ok(_), None) => panic!("we accept a point the curve crate refuses"),
        (Err(e), Some(_)) => panic!("we refuse a point the curve crate accepts: {e}"),
    }
    // did:key strings built from arbitrary text never panic, and what parses re-encodes.
    if let Ok(text) = std::str::from_utf8(message) {
        if let Ok(key) = PublicKey::from_did_key(text) {
            assert_eq!(PublicKey::from_did_key(&key.to_did_key()).ok(), Some(key));
        }
        let _ = PublicKey::from_multikey(text);
    }
});
