//! The signature ceiling: how many commit signatures per second this machine can verify with
//! the relay's backends and with the reference (`k256`/`p256`) ones, for the load's key mix,
//! parsing the key for every verify as a relay without a key cache would.

use std::time::{Duration, Instant};

use atrelay_repo::crypto::{PublicKey, SigningKey};
use rand::{Rng, SeedableRng};

/// Verifies per second on every core, with each backend.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// The relay's backends (libsecp256k1, ring).
    pub fast: f64,
    /// The reference backends (`k256`, `p256`).
    pub reference: f64,
    /// Threads that verified at once.
    pub threads: usize,
}

/// One signed message.
struct Sample {
    key: Vec<u8>,
    curve_is_p256: bool,
    message: [u8; 32],
    signature: [u8; 64],
}

/// Measures both backends for `duration` each, with `p256_share` of the keys p256.
pub fn ceiling(p256_share: f64, duration: Duration) -> Ceiling {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let samples: Vec<Sample> = (0..256)
        .map(|_| {
            let curve_is_p256 = rng.gen_bool(p256_share);
            let key = if curve_is_p256 {
                SigningKey::generate_p256()
            } else {
                SigningKey::generate_k256()
            };
            let message: [u8; 32] = rng.gen();
            Sample {
                key: key.public_key().to_compressed_bytes(),
                curve_is_p256,
                signature: key.sign(&message),
                message,
            }
        })
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fast = rate(&samples, threads, duration, |key, message, signature| {
        key.verify(message, signature).is_ok()
    });
    let reference = rate(&samples, threads, duration, |key, message, signature| {
        key.verify_with_reference(message, signature).is_ok()
    });
    Ceiling {
        fast,
        reference,
        threads,
    }
}

/// Verifies per second over `threads` threads, each parsing the key then verifying.
fn rate(
    samples: &[Sample],
    threads: usize,
    duration: Duration,
    verify: impl Fn(&PublicKey, &[u8], &[u8]) -> bool + Sync,
) -> f64 {
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let verify = &verify;
                scope.spawn(move || {
                    let started = Instant::now();
                    let mut done = 0u64;
                    let mut i = t;
                    while started.elapsed() < duration {
                        for _ in 0..32 {
                            let sample = &samples[i % samples.len()];
                            let curve = if sample.curve_is_p256 {
                                atrelay_repo::crypto::Curve::P256
                            } else {
                                atrelay_repo::crypto::Curve::K256
                            };
                            let key = PublicKey::from_sec1(curve, &sample.key)
                                .expect("a generated key parses");
                            assert!(
                                verify(&key, &sample.message, &sample.signature),
                                "a genuine signature failed to verify"
                            );
                            i += 1;
                            done += 1;
                        }
                    }
                    (done, started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                let (done, elapsed) = h.join().expect("verifier thread");
                (done as f64 / elapsed.as_secs_f64()) as u64
            })
            .collect()
    });
    counts.iter().sum::<u64>() as f64
}
