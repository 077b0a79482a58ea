//! Writes the seed corpora of the fuzz targets in `fuzz/` from the vendored public test
//! vectors (`testdata/`, see its README) and from freshly signed commits of a [`FakeRepo`], so
//! the commit target starts from real, valid commits and its mutations reach the proof and
//! signature checks.
//!
//! `cargo run -p atrelay-testkit --example fuzz_seeds -- fuzz/seeds` writes one directory
//! per target (`decode_frame`, `commit`, `car`, `mst`, `dag_cbor`, `signature`,
//! `did_document`, `syntax`, `relay_bodies`); `scripts/fuzz.sh` runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use atrelay_repo::car::Car;
use atrelay_repo::crypto::{PublicKey, SigningKey};
use atrelay_stream::{encode_frame, message_from_json, Message};
use atrelay_testkit::{
    commit_message, sample_record, sync_message, CommitData, DidDocument, FakeRepo, RecordPath,
    Scenario, Write,
};
use data_encoding::{BASE64, BASE64_NOPAD};
use serde_json::{json, Value};

const TIME: &str = "2026-01-01T00:00:00.000Z";

/// The seeds of every target, by target name; a set, so repeats are written once.
type Corpora = BTreeMap<&'static str, BTreeSet<Vec<u8>>>;

/// A vendored test vector; the mst-test-suite's paths are in its unpacked archive.
fn fixture(path: &str) -> PathBuf {
    match path.strip_prefix("mst-test-suite/") {
        Some(inside) => atrelay_testdata::mst_test_suite().join(inside),
        None => atrelay_testdata::path(path),
    }
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(fixture(dir))
        .unwrap_or_else(|e| panic!("test vectors {dir} ({e})"))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.to_string_lossy().ends_with(ext))
        .collect();
    found.sort();
    found
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("readable fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    BASE64_NOPAD
        .decode(text.as_bytes())
        .or_else(|_| BASE64.decode(text.as_bytes()))
        .ok()
}

/// `did:key\n` + frame: the input of the `commit` target.
fn keyed(key: &str, frame: &[u8]) -> Vec<u8> {
    let mut seed = format!("{key}\n").into_bytes();
    seed.extend_from_slice(frame);
    seed
}

/// Adds a CAR to the `car` and `mst` corpora and its blocks to `dag_cbor`.
fn add_car(corpora: &mut Corpora, bytes: &[u8]) {
    corpora.entry("car").or_default().insert(bytes.to_vec());
    corpora.entry("mst").or_default().insert(bytes.to_vec());
    if let Ok(car) = Car::read(bytes, usize::MAX) {
        let cbor = corpora.entry("dag_cbor").or_default();
        for block in car.blocks().take(40) {
            cbor.insert(block.data.to_vec());
        }
    }
}

fn add_frame(corpora: &mut Corpora, key: Option<&str>, frame: Vec<u8>) {
    if let Some(key) = key {
        corpora
            .entry("commit")
            .or_default()
            .insert(keyed(key, &frame));
    }
    corpora.entry("decode_frame").or_default().insert(frame);
}

/// The indigo relay scenarios and captured live commits.
fn indigo_frames(corpora: &mut Corpora) {
    for path in files("indigo/cmd/relay/testing/testdata", ".json") {
        let scenario = Scenario::load(&path).expect("scenario loads");
        let keys: BTreeMap<_, _> = scenario
            .accounts
            .iter()
            .map(|a| (a.did.clone(), format!("did:key:{}", a.signing_key)))
            .collect();
        for account in &scenario.accounts {
            let doc = account.document("https://pds.example.com");
            let mut seed = format!("{}\n", account.did).into_bytes();
            seed.extend(serde_json::to_vec(&doc).expect("document serialises"));
            corpora.entry("did_document").or_default().insert(seed);
        }
        for message in &scenario.messages {
            let decoded = atrelay_stream::decode_frame(&message.frame).ok();
            let did = match &decoded {
                Some(Message::Commit(c)) => Some(c.repo.clone()),
                Some(Message::Sync(s)) => Some(s.did.clone()),
                _ => None,
            };
            if let Some(Message::Commit(c)) = &decoded {
                add_car(corpora, &c.blocks);
            }
            let key = did.and_then(|did| keys.get(&did).cloned());
            add_frame(corpora, key.as_deref(), message.frame.to_vec());
        }
    }
    let header = json!({"op": 1, "t": "#commit"});
    for path in files("indigo/atproto/repo/testdata", ".json") {
        if let Ok(message) = message_from_json(&header, &read_json(&path)) {
            if let Message::Commit(c) = &message {
                add_car(corpora, &c.blocks);
            }
            add_frame(corpora, None, encode_frame(&message).to_vec());
        }
    }
    for path in files("indigo/testing/testdata", ".car") {
        add_car(corpora, &std::fs::read(path).expect("readable CAR"));
    }
    // A sample of the MST test suite's trees (128 files; their shapes repeat).
    for path in files("mst-test-suite/cars/exhaustive", ".car")
        .iter()
        .step_by(8)
    {
        add_car(corpora, &std::fs::read(path).expect("readable CAR"));
    }
}

fn record_path(i: usize) -> RecordPath {
    let collection = [
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "app.bsky.graph.follow",
    ][i % 3];
    RecordPath::new(collection, &format!("3jzfcijpj2z{i:02}")).expect("valid path")
}

/// Base58btc, for the legacy `publicKeyMultibase` form (raw key bytes, no multicodec prefix).
fn bs58(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut digits: Vec<u8> = Vec::new();
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for digit in &mut digits {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    std::iter::repeat_n(b'1', zeros)
        .chain(digits.iter().rev().map(|d| ALPHABET[usize::from(*d)]))
        .map(char::from)
        .collect()
}

/// Freshly signed commits (creates, updates, deletes, a batch, a `#sync`) of one account per
/// curve, with the account key: the deep seeds of the `commit` target.
fn fake_commits(corpora: &mut Corpora) {
    for (n, key) in [SigningKey::generate_k256(), SigningKey::generate_p256()]
        .into_iter()
        .enumerate()
    {
        let public = key.public_key();
        let did_key = public.to_did_key();
        let did = format!("did:plc:fuzzseed{n}aaaaaaaaaaaaaaa");
        let (mut repo, first) = FakeRepo::new(&did, key);
        let mut commits: Vec<CommitData> = vec![first];
        for i in 0..24 {
            let value = sample_record(record_path(i).collection(), &format!("post {i}"));
            commits.push(repo.create(record_path(i), value).expect("create"));
        }
        for i in 0..4 {
            let value = sample_record(record_path(i).collection(), "edited");
            commits.push(repo.update(record_path(i), value).expect("update"));
        }
        for i in 4..8 {
            commits.push(repo.delete(record_path(i)).expect("delete"));
        }
        let batch = (24..30)
            .map(|i| Write::Create {
                path: record_path(i),
                value: sample_record(record_path(i).collection(), "batch"),
            })
            .collect();
        commits.push(repo.apply(batch).expect("batch"));
        for (seq, commit) in commits.iter().enumerate() {
            let frame = encode_frame(&commit_message(commit, seq as i64 + 1, TIME));
            add_frame(corpora, Some(&did_key), frame.to_vec());
            add_car(corpora, &commit.blocks);
            let mut sig = vec![n as u8];
            sig.extend(public.to_compressed_bytes());
            sig.extend(&commit.commit.sig);
            sig.extend(commit.commit.unsigned_bytes());
            corpora.entry("signature").or_default().insert(sig);
        }
        let sync = sync_message(&did, repo.rev(), repo.sync_car(), 100, TIME);
        add_frame(corpora, Some(&did_key), encode_frame(&sync).to_vec());
        add_car(corpora, &repo.export_car().expect("export"));

        let doc = DidDocument {
            did: did.clone(),
            handle: format!("fuzz{n}.example.com"),
            signing_key: public.clone(),
            pds_endpoint: "https://pds.example.com:8443".into(),
        };
        let legacy_type = [
            "EcdsaSecp256k1VerificationKey2019",
            "EcdsaSecp256r1VerificationKey2019",
        ][n];
        let web = "did:web:pds.example.com%3A8443";
        let variants = [
            (did.clone(), doc.to_json()),
            // Relative ids, a legacy key form and a did:web with a port.
            (
                web.to_owned(),
                json!({
                    "id": web,
                    "alsoKnownAs": ["at://Fuzz.Example.COM", "https://not.a.handle"],
                    "verificationMethod": [
                        {"id": "#other", "type": "Multikey", "publicKeyMultibase": "z"},
                        {"id": "#atproto", "type": legacy_type, "controller": web,
                         "publicKeyMultibase": format!("z{}", bs58(&public.to_compressed_bytes()))},
                    ],
                    "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                 "serviceEndpoint": "http://[::1]:2583"}],
                }),
            ),
        ];
        for (id, document) in variants {
            let mut seed = format!("{id}\n").into_bytes();
            seed.extend(serde_json::to_vec(&document).expect("document serialises"));
            corpora.entry("did_document").or_default().insert(seed);
        }
    }
}

/// The interop vectors: signatures, data model, syntax.
fn interop(corpora: &mut Corpora) {
    let sigs = read_json(&fixture("interop/crypto/signature-fixtures.json"));
    for case in sigs.as_array().into_iter().flatten() {
        let key = case["publicKeyDid"]
            .as_str()
            .and_then(|k| PublicKey::from_did_key(k).ok());
        let sig = case["signatureBase64"].as_str().and_then(base64);
        let msg = case["messageBase64"].as_str().and_then(base64);
        if let (Some(key), Some(sig), Some(msg)) = (key, sig, msg) {
            if sig.len() == 64 {
                let mut seed = vec![u8::from(case["algorithm"] == "ES256")];
                seed.extend(key.to_compressed_bytes());
                seed.extend(sig);
                seed.extend(msg);
                corpora.entry("signature").or_default().insert(seed);
            }
        }
    }
    for name in [
        "data-model-fixtures.json",
        "data-model-valid.json",
        "data-model-invalid.json",
    ] {
        let cases = read_json(&fixture(&format!("interop/data-model/{name}")));
        for case in cases.as_array().into_iter().flatten() {
            if let Some(cbor) = case["cbor_base64"].as_str().and_then(base64) {
                corpora.entry("dag_cbor").or_default().insert(cbor);
            }
        }
    }
    let syntax = corpora.entry("syntax").or_default();
    for path in files("interop/syntax", ".txt") {
        let text = std::fs::read_to_string(path).expect("readable syntax vectors");
        for line in text.lines() {
            if !line.is_empty() && !line.starts_with('#') {
                syntax.insert(line.as_bytes().to_vec());
            }
        }
    }
}

/// Request bodies of the relay's JSON routes (written here, no third-party data).
fn relay_bodies(corpora: &mut Corpora) {
    let bodies = corpora.entry("relay_bodies").or_default();
    for body in [
        r#"{"hostname":"pds.example.com"}"#,
        r#"{"hostname":"https://PDS.Example.com/"}"#,
        r#"{"hostname":"wss://pds.example.com"}"#,
        r#"{"hostname":"http://localhost:2583"}"#,
        r#"{"hostname":"127.0.0.1:8080"}"#,
        r#"{"hostname":"xn--bcher-kva.example."}"#,
        r#"{"host":"pds.example.com","repo_limit":100}"#,
        r#"{"host":"pds.example.com","repo_limit":null,"per_second":5}"#,
        r#"{"did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz"}"#,
        r#"{"did":"did:web:example.com"}"#,
        r#"{"Domain":"example.com"}"#,
    ] {
        bodies.insert(body.as_bytes().to_vec());
    }
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: fuzz_seeds <corpus directory>"),
    );
    let mut corpora = Corpora::new();
    indigo_frames(&mut corpora);
    fake_commits(&mut corpora);
    interop(&mut corpora);
    relay_bodies(&mut corpora);
    for (target, seeds) in &corpora {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory can be created");
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:04}")), seed).expect("seed can be written");
        }
        println!("{target}: {} seeds", seeds.len());
    }
}
