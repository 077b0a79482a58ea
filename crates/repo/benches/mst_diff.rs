//! MST work on test data: diffs between the mst-test-suite trees, and loading, walking and
//! re-hashing a real repository's tree.

use std::time::Duration;

use atrelay_repo::car::Car;
use atrelay_repo::commit::Commit;
use atrelay_repo::mst::{diff, Tree};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata"))
}

fn mst_diff(c: &mut Criterion) {
    let dir = atrelay_testdata::mst_test_suite().join("cars/exhaustive");
    let trees: Vec<Tree> = (0..128)
        .map(|i| {
            let path = dir.join(format!("exhaustive_{i:03}.car"));
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let car = Car::read(&bytes, usize::MAX).unwrap();
            Tree::load_complete(&car, car.root()).unwrap()
        })
        .collect();
    let mut group = c.benchmark_group("mst_diff");
    group.throughput(Throughput::Elements(128 * 128));
    group.bench_function("mst_test_suite_all_pairs", |b| {
        b.iter(|| {
            let mut n = 0;
            for a in &trees {
                for t in &trees {
                    n += diff(a, t).unwrap().record_ops.len();
                }
            }
            n
        })
    });
    group.finish();

    let bytes =
        std::fs::read(fixtures().join("indigo/testing/testdata/fakermaker.repo.car")).unwrap();
    let car = Car::read(&bytes, usize::MAX).unwrap();
    let commit = Commit::decode(car.get(&car.root()).unwrap()).unwrap();
    let tree = Tree::load_complete(&car, commit.data).unwrap();
    let n = tree.entries().unwrap().len();
    let mut group = c.benchmark_group("mst_repo");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("load_fakermaker", |b| {
        b.iter(|| Tree::load_complete(&car, commit.data).unwrap())
    });
    group.bench_function("walk_fakermaker", |b| b.iter(|| tree.iter().count()));
    group.bench_function("rebuild_root_fakermaker", |b| {
        let entries = tree.entries().unwrap();
        b.iter(|| {
            Tree::from_entries(entries.iter().map(|(k, v)| (k.as_slice(), *v)))
                .unwrap()
                .root_cid()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = mst_diff
}
criterion_main!(benches);
