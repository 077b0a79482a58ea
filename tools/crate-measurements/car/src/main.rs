//! iroh-car 0.5.1 vs atrelay_repo::car: parse time on firehose-sized CARs, and strictness.
//!
//! Run: `CARGO_INCREMENTAL=0 cargo run --release -p car-measure` (add `strict` for only the
//! strictness table, `bench` for only the timings).

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Instant;

use atrelay_repo::car::{write_car, Car, CarReader};
use atrelay_repo::cbor::encode_atproto_value;
use atrelay_repo::cid::{cid_for_dag_cbor, verify_block, Cid};
use atrelay_repo::commit::UnsignedCommit;
use atrelay_repo::crypto::SigningKey;
use atrelay_repo::mst::Tree;
use atrelay_repo::syntax::Tid;
use ipld_core::ipld::Ipld;

const LIMIT: usize = 2_000_000 * 16;

// ---------------------------------------------------------------------------------------------
// Fixtures

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn text(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'a' + (self.next() % 26) as u8))
            .collect()
    }
}

fn post(rng: &mut Rng) -> Vec<u8> {
    let mut m = BTreeMap::new();
    m.insert(
        "$type".to_owned(),
        Ipld::String("app.bsky.feed.post".into()),
    );
    let len = 40 + (rng.next() % 200) as usize;
    m.insert("text".to_owned(), Ipld::String(rng.text(len)));
    m.insert(
        "createdAt".to_owned(),
        Ipld::String("2026-12-07T13:00:00.000Z".into()),
    );
    m.insert(
        "langs".to_owned(),
        Ipld::List(vec![Ipld::String("en".into())]),
    );
    encode_atproto_value(&Ipld::Map(m)).unwrap()
}

struct RepoFixture {
    key: SigningKey,
    did: String,
    store: HashMap<Cid, Vec<u8>>,
    records: Vec<(Cid, Vec<u8>)>,
    tree: Tree,
    next_tid: u64,
    rng: Rng,
}

impl RepoFixture {
    fn new(n: usize, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let mut records = Vec::new();
        let mut tree = Tree::new();
        let base = 1_765_000_000_000_000u64;
        for i in 0..n {
            let bytes = post(&mut rng);
            let cid = cid_for_dag_cbor(&bytes);
            let key = format!(
                "app.bsky.feed.post/{}",
                Tid::from_micros(base + i as u64 * 1000, 7).to_text()
            );
            tree.insert(key.as_bytes(), cid).unwrap();
            records.push((cid, bytes));
        }
        let mut store: HashMap<Cid, Vec<u8>> = tree.blocks().into_iter().collect();
        for (c, b) in &records {
            store.insert(*c, b.clone());
        }
        let root = tree.root_cid();
        let tree = Tree::load(&store, root).unwrap();
        Self {
            key: SigningKey::from_bytes(atrelay_repo::crypto::Curve::K256, &[7u8; 32]).unwrap(),
            did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz".into(),
            store,
            records,
            tree,
            next_tid: base + n as u64 * 1000,
            rng,
        }
    }

    fn commit_block(&self, data: Cid) -> (Cid, Vec<u8>) {
        let c = UnsignedCommit {
            did: self.did.clone(),
            data,
            rev: Tid::from_micros(self.next_tid, 7).to_text(),
            prev: None,
        }
        .sign(&self.key);
        let b = c.to_bytes();
        (cid_for_dag_cbor(&b), b)
    }

    /// Full repository export: commit, then every MST node, then every record.
    fn export(&self) -> Vec<u8> {
        let (ccid, cbytes) = self.commit_block(self.tree.root_cid());
        let nodes = self.tree.blocks();
        let mut blocks: Vec<(Cid, &[u8])> = vec![(ccid, &cbytes)];
        blocks.extend(nodes.iter().map(|(c, b)| (*c, b.as_slice())));
        blocks.extend(self.records.iter().map(|(c, b)| (*c, b.as_slice())));
        write_car(&[ccid], blocks)
    }

    /// A firehose `#commit` diff creating `k` posts: commit, new MST nodes, new records.
    fn diff(&mut self, k: usize) -> Vec<u8> {
        let mut tree = self.tree.clone();
        let mut recs = Vec::new();
        for _ in 0..k {
            self.next_tid += 1000;
            let bytes = post(&mut self.rng);
            let cid = cid_for_dag_cbor(&bytes);
            let key = format!(
                "app.bsky.feed.post/{}",
                Tid::from_micros(self.next_tid, 7).to_text()
            );
            tree.insert(key.as_bytes(), cid).unwrap();
            recs.push((cid, bytes));
        }
        let (ccid, cbytes) = self.commit_block(tree.root_cid());
        let fresh = tree.fresh_blocks();
        let mut blocks: Vec<(Cid, &[u8])> = vec![(ccid, &cbytes)];
        blocks.extend(fresh.iter().map(|(c, b)| (*c, b.as_slice())));
        blocks.extend(recs.iter().map(|(c, b)| (*c, b.as_slice())));
        let _ = &self.store;
        write_car(&[ccid], blocks)
    }
}

/// Builds a repository whose export has about `target` blocks.
fn repo_with_blocks(target: usize, seed: u64) -> (RepoFixture, Vec<u8>) {
    let mut n = target / 2;
    loop {
        let r = RepoFixture::new(n, seed);
        let car = r.export();
        let blocks = Car::read(&car, LIMIT).unwrap().len();
        if blocks >= target {
            return (r, car);
        }
        n += ((target - blocks) / 2).max(1);
    }
}

fn indigo(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../../testdata/indigo/testing/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The readers under test. Each returns (blocks, data bytes) so nothing is optimised away.

fn ours_stream(bytes: &[u8]) -> Result<(usize, usize), String> {
    let mut n = 0;
    let mut total = 0;
    for b in CarReader::new(bytes, LIMIT).map_err(|e| e.to_string())? {
        let b = b.map_err(|e| e.to_string())?;
        n += 1;
        total += b.data.len();
    }
    Ok((n, total))
}

fn ours_indexed(bytes: &[u8]) -> Result<(usize, usize), String> {
    let car = Car::read(bytes, LIMIT).map_err(|e| e.to_string())?;
    Ok((car.len(), car.blocks().map(|b| b.data.len()).sum()))
}

async fn iroh(bytes: &[u8], check: bool) -> Result<(usize, usize), String> {
    let mut r = iroh_car::CarReader::new(bytes)
        .await
        .map_err(|e| e.to_string())?;
    let mut n = 0;
    let mut total = 0;
    while let Some((cid, data)) = r.next_block().await.map_err(|e| e.to_string())? {
        if check {
            // The same check our reader does: CIDv1, dag-cbor/raw, sha2-256, digest matches.
            verify_block(&cid, &data).map_err(|e| format!("(added check) {e}"))?;
        }
        n += 1;
        total += data.len();
    }
    Ok((n, total))
}

/// Indexed like `Car::read` (HashMap<Cid, Vec<u8>>): what a caller of iroh-car would build to
/// look blocks up by CID when walking the MST.
async fn iroh_indexed_checked(bytes: &[u8]) -> Result<(usize, usize), String> {
    let mut r = iroh_car::CarReader::new(bytes)
        .await
        .map_err(|e| e.to_string())?;
    let mut map: HashMap<Cid, Vec<u8>> = HashMap::new();
    while let Some((cid, data)) = r.next_block().await.map_err(|e| e.to_string())? {
        verify_block(&cid, &data).map_err(|e| format!("(added check) {e}"))?;
        map.entry(cid).or_insert(data);
    }
    if r.header().roots().is_empty() {
        return Err("no roots".into());
    }
    Ok((map.len(), map.values().map(Vec::len).sum()))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

// ---------------------------------------------------------------------------------------------
// Timing: `SAMPLES` samples of `inner` calls each; median ns per call; best of 3 rounds.

const SAMPLES: usize = 101;

#[derive(Clone, Copy)]
enum Which {
    OursStream,
    OursIndexed,
    IrohRaw,
    IrohChecked,
    IrohIndexedChecked,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::OursStream => "atrelay CarReader (stream, hash-checked)",
            Which::OursIndexed => "atrelay Car::read (indexed, hash-checked)",
            Which::IrohRaw => "iroh-car (no hash check)",
            Which::IrohChecked => "iroh-car + verify_block",
            Which::IrohIndexedChecked => "iroh-car + verify_block + HashMap index",
        }
    }
}

/// Runs `inner` calls; async ones all inside one executor entry so the per-call cost is only
/// what an `.await` inside an existing task would pay.
fn run(which: Which, bytes: &[u8], inner: usize) -> usize {
    let mut acc = 0;
    match which {
        Which::OursStream => {
            for _ in 0..inner {
                acc += ours_stream(black_box(bytes)).unwrap().1;
            }
        }
        Which::OursIndexed => {
            for _ in 0..inner {
                acc += ours_indexed(black_box(bytes)).unwrap().1;
            }
        }
        Which::IrohRaw | Which::IrohChecked | Which::IrohIndexedChecked => block_on(async {
            for _ in 0..inner {
                acc += match which {
                    Which::IrohRaw => iroh(black_box(bytes), false).await,
                    Which::IrohChecked => iroh(black_box(bytes), true).await,
                    _ => iroh_indexed_checked(black_box(bytes)).await,
                }
                .unwrap()
                .1;
            }
        }),
    }
    acc
}

fn median_ns(which: Which, bytes: &[u8]) -> f64 {
    // Calibrate: aim for ~200 µs per sample.
    let t = Instant::now();
    let mut inner = 1;
    loop {
        black_box(run(which, bytes, inner));
        if t.elapsed().as_micros() > 200 || inner > 1 << 20 {
            break;
        }
        inner *= 2;
    }
    let per = t.elapsed().as_nanos() as f64 / (2 * inner - 1) as f64;
    let inner = ((200_000.0 / per).ceil() as usize).max(1);
    let mut best = f64::MAX;
    for _round in 0..3 {
        let mut samples: Vec<f64> = (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                black_box(run(which, bytes, inner));
                t.elapsed().as_nanos() as f64 / inner as f64
            })
            .collect();
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        best = best.min(samples[SAMPLES / 2]);
    }
    best
}

fn bench() {
    let (mut repo1k, _) = repo_with_blocks(100, 1);
    let mut big = RepoFixture::new(1000, 2);
    let mut small = RepoFixture::new(40, 4);
    let mut cars: Vec<(String, Vec<u8>)> = Vec::new();
    cars.push((
        "indigo repo_slice.car (real commit slice)".into(),
        indigo("repo_slice.car"),
    ));
    cars.push(("diff: 1 create, repo of 40 posts".into(), small.diff(1)));
    cars.push(("diff: 1 create, repo of 1000 posts".into(), big.diff(1)));
    cars.push(("diff: 3 creates, repo of 1000 posts".into(), big.diff(3)));
    cars.push(("diff: 6 creates, repo of 1000 posts".into(), big.diff(6)));
    let _ = repo1k.diff(1);
    cars.push(("repo export ~100 blocks".into(), repo1k.export()));
    let (_, car2k) = repo_with_blocks(2000, 3);
    cars.push(("repo export ~2000 blocks".into(), car2k));
    cars.push((
        "indigo fakermaker.repo.car (real)".into(),
        indigo("fakermaker.repo.car"),
    ));

    let all = [
        Which::OursStream,
        Which::IrohRaw,
        Which::IrohChecked,
        Which::OursIndexed,
        Which::IrohIndexedChecked,
    ];
    println!("| CAR | blocks | bytes | reader | median ns/CAR (best of 3) | MB/s |");
    println!("|---|---:|---:|---|---:|---:|");
    for (name, bytes) in &cars {
        let (blocks, _) = ours_stream(bytes).unwrap();
        // Sanity: every reader sees the same blocks.
        assert_eq!(
            block_on(iroh(bytes, true)).unwrap(),
            ours_stream(bytes).unwrap()
        );
        for w in all {
            let ns = median_ns(w, bytes);
            let mbs = bytes.len() as f64 / ns * 1e3; // bytes/ns * 1e9 / 1e6
            println!(
                "| {name} | {blocks} | {} | {} | {:.0} | {:.0} |",
                bytes.len(),
                w.name(),
                ns,
                mbs
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Strictness

fn varint(n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = n;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn header_bytes(roots: &[Cid], version: u64) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct H<'a> {
        roots: &'a [Cid],
        version: u64,
    }
    let h = serde_ipld_dagcbor::to_vec(&H { roots, version }).unwrap();
    let mut out = varint(h.len() as u64);
    out.extend(h);
    out
}

fn section(cid: &Cid, data: &[u8]) -> Vec<u8> {
    let c = cid.to_bytes();
    let mut out = varint((c.len() + data.len()) as u64);
    out.extend(c);
    out.extend_from_slice(data);
    out
}

fn strict() {
    let mut r = RepoFixture::new(50, 9);
    let good = r.diff(2);
    let a: &[u8] = b"\xa1\x61a\x01";
    let ca = cid_for_dag_cbor(a);

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("valid commit diff (control)", good.clone()));

    // 1. A block whose bytes do not hash to its CID (last data byte flipped).
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    cases.push(("block bytes do not match CID", bad));

    // 2. Truncations.
    let hdr_len = {
        let (l, used) = (good[0] as usize, 1);
        l + used
    };
    cases.push((
        "truncated: last byte of last block cut",
        good[..good.len() - 1].to_vec(),
    ));
    cases.push(("truncated: inside the header", good[..hdr_len - 5].to_vec()));
    {
        // A CAR whose last section's length varint is 2 bytes, cut after its first byte.
        let big = vec![0x41u8; 300]; // > 127 bytes so the section length takes 2 varint bytes
        let mut bytes = header_bytes(&[ca], 1);
        bytes.extend(section(&ca, a));
        let cut = bytes.len() + 1;
        bytes.extend(section(&atrelay_repo::cid::cid_for_raw(&big), &big));
        cases.push((
            "truncated: inside a section-length varint",
            bytes[..cut].to_vec(),
        ));
        let cid_cut = cut + 1 + 10;
        cases.push((
            "truncated: inside a section's CID",
            bytes[..cid_cut].to_vec(),
        ));
    }

    // 3. Varint problems in a section length.
    {
        let mut bytes = header_bytes(&[ca], 1);
        bytes.extend([0xff; 9]);
        bytes.push(0x01); // 10-byte varint = 2^64-1
        bytes.extend(vec![0u8; 64]);
        cases.push(("section length varint 10 bytes (u64::MAX)", bytes));
        let mut bytes = header_bytes(&[ca], 1);
        bytes.extend([0x80; 12]); // never terminates
        bytes.extend(vec![0u8; 64]);
        cases.push(("section length varint never ends (12×0x80)", bytes));
        let mut bytes = header_bytes(&[ca], 1);
        let s = section(&ca, a);
        // Non-minimal encoding of the same length: 0x80|len, 0x00.
        bytes.push(s[0] | 0x80);
        bytes.push(0x00);
        bytes.extend(&s[1..]);
        cases.push(("section length varint not minimal", bytes));
        let mut bytes = header_bytes(&[ca], 1);
        bytes.extend(varint(1 << 40));
        bytes.extend(&section(&ca, a)[1..]);
        cases.push(("section length 2^40 (> input)", bytes));
        let mut bytes = header_bytes(&[ca], 1);
        bytes.extend(varint(3 << 20));
        bytes.extend(&section(&ca, a)[1..]);
        cases.push(("section length 3 MiB (> input, < 4 MiB)", bytes));
        let mut bytes = varint(u64::MAX);
        bytes.extend(&header_bytes(&[ca], 1)[1..]);
        cases.push(("header length varint u64::MAX", bytes));
    }

    // 4. Header version / roots.
    {
        let mut bytes = header_bytes(&[ca], 2);
        bytes.extend(section(&ca, a));
        cases.push(("header version 2", bytes));
        let mut bytes = header_bytes(&[], 1);
        bytes.extend(section(&ca, a));
        cases.push(("header with no roots", bytes));
        // Header with an extra key.
        #[derive(serde::Serialize)]
        struct H3<'a> {
            extra: u64,
            roots: &'a [Cid],
            version: u64,
        }
        let h = serde_ipld_dagcbor::to_vec(&H3 {
            extra: 1,
            roots: &[ca],
            version: 1,
        })
        .unwrap();
        let mut bytes = varint(h.len() as u64);
        bytes.extend(h);
        bytes.extend(section(&ca, a));
        cases.push(("header with an unknown extra key", bytes));
    }

    // 5. CID forms atproto does not allow (bytes do match their hash).
    {
        let raw_cid = atrelay_repo::cid::cid_for_raw(a);
        let v0 = Cid::new_v0(*raw_cid.hash()).unwrap();
        let mut bytes = header_bytes(&[ca], 1);
        bytes.extend(section(&v0, a));
        cases.push(("CIDv0 block (hash matches)", bytes));
        let ident = Cid::new_v1(
            0x71,
            ipld_core::cid::multihash::Multihash::<64>::wrap(0x00, a).unwrap(),
        );
        let mut bytes = header_bytes(&[ca], 1);
        bytes.extend(section(&ident, a));
        cases.push(("identity-hash CID (no sha256)", bytes));
        let mut bytes = header_bytes(&[ca], 1);
        bytes.push(0x00); // zero-length section
        cases.push(("zero-length section", bytes));
        let mut bytes = good.clone();
        bytes.extend([0x05, 0x01, 0x71]);
        cases.push(("trailing garbage after last block", bytes));
    }

    println!("| case | atrelay_repo::car (CarReader / Car::read) | iroh-car 0.5.1 | iroh-car + verify_block |");
    println!("|---|---|---|---|");
    let show = |r: Result<(usize, usize), String>| match r {
        Ok((n, _)) => format!("ACCEPTED ({n} blocks)"),
        Err(e) => format!("rejected: {}", e.chars().take(70).collect::<String>()),
    };
    for (name, bytes) in &cases {
        let ours = ours_stream(bytes);
        let ours_i = ours_indexed(bytes);
        let o = match (&ours, &ours_i) {
            (Ok(_), Ok(_)) | (Err(_), Err(_)) => show(ours),
            _ => format!("stream {} / indexed {}", show(ours.clone()), show(ours_i)),
        };
        let i = show(block_on(iroh(bytes, false)));
        let ic = show(block_on(iroh(bytes, true)));
        println!("| {name} | {o} | {i} | {ic} |");
    }
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    if arg != "bench" {
        strict();
        println!();
    }
    if arg != "strict" {
        bench();
    }
}

#[cfg(test)]
mod t {
    #[test]
    fn shape() {
        for n in [40usize, 1000] {
            let mut r = super::RepoFixture::new(n, 4);
            println!("n={n} height={} store={}", r.tree.height(), r.store.len());
            let car = r.diff(1);
            let c = atrelay_repo::car::Car::read(&car, usize::MAX).unwrap();
            for b in c.blocks() {
                println!("  {} {}", b.cid, b.data.len());
            }
        }
    }
}
