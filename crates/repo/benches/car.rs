//! CAR parsing throughput: full repository exports, every block hashed and indexed.

use std::time::Duration;

use atrelay_repo::car::{Car, CarReader};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn fixture(rel: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/indigo/testing/testdata"
    ))
    .join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn car_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("car_parse");
    for name in ["fakermaker.repo.car", "paul_staging.repo.car"] {
        let bytes = fixture(name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("read_indexed/{name}"), |b| {
            b.iter(|| Car::read(&bytes, usize::MAX).unwrap().len())
        });
        group.bench_function(format!("stream/{name}"), |b| {
            b.iter(|| {
                CarReader::new(&bytes, usize::MAX)
                    .unwrap()
                    .map(|block| block.unwrap().data.len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = car_parse
}
criterion_main!(benches);
