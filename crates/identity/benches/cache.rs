//! Cost of a cache hit and of parsing a typical DID document.

use std::sync::Arc;

use atrelay_identity::{CacheConfig, CachingResolver, Identity, Resolver, StaticResolver};
use atrelay_repo::crypto::SigningKey;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

fn document() -> String {
    let key = SigningKey::generate_k256().public_key();
    serde_json::json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": DID,
        "alsoKnownAs": ["at://alice.example.com"],
        "verificationMethod": [{
            "id": format!("{DID}#atproto"), "type": "Multikey", "controller": DID,
            "publicKeyMultibase": key.to_multikey()
        }],
        "service": [{
            "id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
            "serviceEndpoint": "https://pds.example.com"
        }]
    })
    .to_string()
}

fn bench_cache(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let doc = document();
    let identity = Identity::from_document(DID, doc.as_bytes()).expect("valid document");

    let mut group = c.benchmark_group("identity");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_document", |b| {
        b.iter(|| Identity::from_document(black_box(DID), black_box(doc.as_bytes())))
    });

    let table = StaticResolver::new();
    table.insert(identity);
    let resolver = Arc::new(CachingResolver::new(table, CacheConfig::default()));
    runtime.block_on(resolver.resolve(DID)).expect("resolves");
    group.bench_function("cache_hit", |b| {
        b.iter(|| runtime.block_on(resolver.resolve(black_box(DID))))
    });
    group.finish();
}

criterion_group!(benches, bench_cache);
criterion_main!(benches);
