//! How fast the testkit makes commits: one random write on repositories of several sizes,
//! and a 10-write batch (signing, MST edit, proof blocks, CAR).

use atrelay_repo::crypto::SigningKey;
use atrelay_testkit::{random_record, FakeRepo, RecordPath, Write};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn repo_with(n_records: usize, rng: &mut StdRng) -> FakeRepo {
    let (mut repo, _) = FakeRepo::new(
        "did:plc:abcdefghijklmnopqrstuvwx",
        SigningKey::generate_k256(),
    );
    let mut created = 0;
    while created < n_records {
        let batch: Vec<Write> = (0..200.min(n_records - created))
            .map(|i| {
                let path =
                    RecordPath::new("app.bsky.feed.post", &format!("r{}", created + i)).unwrap();
                Write::Create {
                    path,
                    value: random_record(rng, "app.bsky.feed.post", 40),
                }
            })
            .collect();
        created += batch.len();
        repo.apply(batch).unwrap();
    }
    repo
}

fn commits(c: &mut Criterion) {
    let mut group = c.benchmark_group("fake_repo_commit");
    let mut rng = StdRng::seed_from_u64(1);
    for n_records in [100usize, 1_000, 10_000] {
        let mut repo = repo_with(n_records, &mut rng);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("one_update", n_records),
            &n_records,
            |b, n| {
                b.iter(|| {
                    let path = RecordPath::new(
                        "app.bsky.feed.post",
                        &format!("r{}", rng.gen_range(0..*n)),
                    )
                    .unwrap();
                    let value = random_record(&mut rng, "app.bsky.feed.post", 40);
                    repo.apply(vec![Write::Update { path, value }]).unwrap()
                })
            },
        );
        let mut next = n_records;
        group.throughput(Throughput::Elements(10));
        group.bench_with_input(
            BenchmarkId::new("ten_creates", n_records),
            &n_records,
            |b, _| {
                b.iter(|| {
                    let writes = (0..10)
                        .map(|_| {
                            next += 1;
                            Write::Create {
                                path: RecordPath::new("app.bsky.feed.like", &format!("x{next}"))
                                    .unwrap(),
                                value: random_record(&mut rng, "app.bsky.feed.like", 40),
                            }
                        })
                        .collect();
                    repo.apply(writes).unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, commits);
criterion_main!(benches);
