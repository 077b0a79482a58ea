//! Signature verification throughput on both curves, with a commit-sized message: the fast
//! backends `PublicKey::verify` uses (libsecp256k1, ring) beside the reference `k256`/`p256`
//! crates (`verify_with_reference`, which also parses the key on each call, as the relay did
//! before keys were parsed once).

use atrelay_repo::crypto::{PublicKey, SigningKey};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// Roughly the size of an unsigned commit object in DAG-CBOR.
const MESSAGE_LEN: usize = 150;

fn bench_verify(c: &mut Criterion) {
    let message: Vec<u8> = (0..MESSAGE_LEN).map(|i| (i * 31 % 251) as u8).collect();
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    for (name, signing) in [
        ("k256", SigningKey::generate_k256()),
        ("p256", SigningKey::generate_p256()),
    ] {
        let public: PublicKey = signing.public_key();
        let signature = signing.sign(&message);
        group.bench_function(format!("{name}/fast"), |b| {
            b.iter(|| public.verify(black_box(&message), black_box(&signature)))
        });
        group.bench_function(format!("{name}/reference"), |b| {
            b.iter(|| public.verify_with_reference(black_box(&message), black_box(&signature)))
        });
    }
    group.finish();

    // The firehose's key mix (issue 16's measurement: 91 % k256, 9 % p256), one verify per
    // element: the relay's signature ceiling per core.
    let mix: Vec<(PublicKey, [u8; 64])> = (0..100)
        .map(|i| {
            let signing = if i < 91 {
                SigningKey::generate_k256()
            } else {
                SigningKey::generate_p256()
            };
            (signing.public_key(), signing.sign(&message))
        })
        .collect();
    let mut group = c.benchmark_group("verify_key_mix");
    group.throughput(Throughput::Elements(mix.len() as u64));
    group.bench_function("fast", |b| {
        b.iter(|| {
            for (key, signature) in &mix {
                black_box(key.verify(black_box(&message), signature)).unwrap();
            }
        })
    });
    group.bench_function("reference", |b| {
        b.iter(|| {
            for (key, signature) in &mix {
                black_box(key.verify_with_reference(black_box(&message), signature)).unwrap();
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("parse_did_key");
    for (name, signing) in [
        ("k256", SigningKey::generate_k256()),
        ("p256", SigningKey::generate_p256()),
    ] {
        let did_key = signing.public_key().to_did_key();
        group.bench_function(name, |b| {
            b.iter(|| PublicKey::from_did_key(black_box(&did_key)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
