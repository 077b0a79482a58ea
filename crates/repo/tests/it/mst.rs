//! MST conformance: interop key layers and prefixes, the cross-implementation known trees and
//! edge cases (mirrored from the TypeScript and Go implementations), and real repository CARs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use atrelay_repo::car::Car;
use atrelay_repo::cid::Cid;
use atrelay_repo::commit::Commit;
use atrelay_repo::mst::{common_prefix_len, diff, key_height, MstError, Tree};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata")).join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    let path = fixture(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn cid(s: &str) -> Cid {
    Cid::try_from(s).unwrap()
}

const LEAF: &str = "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454";

fn tree_of(keys: &[&str]) -> Tree {
    Tree::from_entries(keys.iter().map(|k| (k.as_bytes(), cid(LEAF)))).unwrap()
}

#[test]
fn interop_key_heights() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&read("interop/mst/key_heights.json")).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let key = case["key"].as_str().unwrap();
        let height = case["height"].as_u64().unwrap();
        assert_eq!(u64::from(key_height(key.as_bytes())), height, "key {key:?}");
    }
}

#[test]
fn interop_common_prefix() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_slice(&read("interop/mst/common_prefix.json")).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let left = case["left"].as_str().unwrap();
        let right = case["right"].as_str().unwrap();
        let len = case["len"].as_u64().unwrap() as usize;
        assert_eq!(
            common_prefix_len(left.as_bytes(), right.as_bytes()),
            len,
            "{case}"
        );
    }
}

#[test]
fn interop_example_keys_have_their_advertised_layer() {
    let text = String::from_utf8(read("interop/mst/example_keys.txt")).unwrap();
    let mut n = 0;
    for line in text.lines() {
        if line.len() < 3 || line.starts_with('#') {
            continue;
        }
        let height: u32 = line[1..2].parse().unwrap();
        assert_eq!(key_height(line.as_bytes()), height, "key {line}");
        n += 1;
    }
    assert!(n > 50, "only {n} keys");
}

#[test]
fn known_trees() {
    assert_eq!(
        Tree::new().root_cid(),
        cid("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
    );
    assert_eq!(
        tree_of(&["com.example.record/3jqfcqzm3fo2j"]).root_cid(),
        cid("bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu")
    );
    assert_eq!(
        tree_of(&["com.example.record/3jqfcqzm3fx2j"]).root_cid(),
        cid("bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai")
    );
    let simple = [
        "com.example.record/3jqfcqzm3fp2j",
        "com.example.record/3jqfcqzm3fr2j",
        "com.example.record/3jqfcqzm3fs2j",
        "com.example.record/3jqfcqzm3ft2j",
        "com.example.record/3jqfcqzm4fc2j",
    ];
    let expected = cid("bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m");
    assert_eq!(tree_of(&simple).root_cid(), expected);
    // Insertion order does not matter.
    let mut reversed = simple;
    reversed.reverse();
    assert_eq!(tree_of(&reversed).root_cid(), expected);
}

#[test]
fn edge_case_trims_top_on_delete() {
    let mut tree = tree_of(&[
        "com.example.record/3jqfcqzm3fn2j",
        "com.example.record/3jqfcqzm3fo2j",
        "com.example.record/3jqfcqzm3fp2j",
        "com.example.record/3jqfcqzm3fs2j",
        "com.example.record/3jqfcqzm3ft2j",
        "com.example.record/3jqfcqzm3fu2j",
    ]);
    assert_eq!(tree.height(), 1);
    assert_eq!(
        tree.root_cid(),
        cid("bafyreifnqrwbk6ffmyaz5qtujqrzf5qmxf7cbxvgzktl4e3gabuxbtatv4")
    );
    tree.remove(b"com.example.record/3jqfcqzm3fs2j").unwrap();
    assert_eq!(tree.height(), 0);
    assert_eq!(
        tree.root_cid(),
        cid("bafyreie4kjuxbwkhzg2i5dljaswcroeih4dgiqq6pazcmunwt2byd725vi")
    );
}

#[test]
fn edge_case_insertion_splits_two_layers_down() {
    let l1 = cid("bafyreiettyludka6fpgp33stwxfuwhkzlur6chs4d2v4nkmq2j3ogpdjem");
    let l2 = cid("bafyreid2x5eqs4w4qxvc5jiwda4cien3gw2q6cshofxwnvv7iucrmfohpm");
    let mut tree = tree_of(&[
        "com.example.record/3jqfcqzm3fo2j",
        "com.example.record/3jqfcqzm3fp2j",
        "com.example.record/3jqfcqzm3fr2j",
        "com.example.record/3jqfcqzm3fs2j",
        "com.example.record/3jqfcqzm3ft2j",
        "com.example.record/3jqfcqzm3fz2j",
        "com.example.record/3jqfcqzm4fc2j",
        "com.example.record/3jqfcqzm4fd2j",
        "com.example.record/3jqfcqzm4ff2j",
        "com.example.record/3jqfcqzm4fg2j",
        "com.example.record/3jqfcqzm4fh2j",
    ]);
    assert_eq!((tree.height(), tree.root_cid()), (1, l1));
    let f = b"com.example.record/3jqfcqzm3fx2j";
    assert_eq!(tree.insert(f, cid(LEAF)).unwrap(), None);
    assert_eq!((tree.height(), tree.root_cid()), (2, l2));
    assert_eq!(tree.remove(f).unwrap(), Some(cid(LEAF)));
    assert_eq!((tree.height(), tree.root_cid()), (1, l1));
}

#[test]
fn edge_case_new_layers_two_higher() {
    let l0 = cid("bafyreidfcktqnfmykz2ps3dbul35pepleq7kvv526g47xahuz3rqtptmky");
    let l2 = cid("bafyreiavxaxdz7o7rbvr3zg2liox2yww46t7g6hkehx4i4h3lwudly7dhy");
    let l2b = cid("bafyreig4jv3vuajbsybhyvb7gggvpwh2zszwfyttjrj6qwvcsp24h6popu");
    let b = b"com.example.record/3jqfcqzm3fx2j";
    let d = b"com.example.record/3jqfcqzm4fd2j";
    let mut tree = tree_of(&[
        "com.example.record/3jqfcqzm3ft2j",
        "com.example.record/3jqfcqzm3fz2j",
    ]);
    assert_eq!((tree.height(), tree.root_cid()), (0, l0));
    tree.insert(b, cid(LEAF)).unwrap();
    assert_eq!(tree.root_cid(), l2);
    tree.remove(b).unwrap();
    assert_eq!((tree.height(), tree.root_cid()), (0, l0));
    tree.insert(b, cid(LEAF)).unwrap();
    tree.insert(d, cid(LEAF)).unwrap();
    assert_eq!((tree.height(), tree.root_cid()), (2, l2b));
    tree.remove(d).unwrap();
    assert_eq!((tree.height(), tree.root_cid()), (2, l2));
}

#[test]
fn lookup_update_and_invalid_keys() {
    let keys = ["A0/374913", "B1/986427", "C0/451630", "D2/269196"];
    let mut tree = tree_of(&keys);
    let other = cid("bafyreihvay6pazw3dfa47u5d2tn3rd6pa57sr37bo5bqyvjuqc73ib65my");
    for key in keys {
        assert_eq!(tree.get(key.as_bytes()).unwrap(), Some(cid(LEAF)));
    }
    assert_eq!(tree.get(b"E0/670489").unwrap(), None);
    let before = tree.root_cid();
    assert_eq!(tree.insert(b"C0/451630", other).unwrap(), Some(cid(LEAF)));
    assert_ne!(tree.root_cid(), before);
    assert_eq!(tree.insert(b"C0/451630", cid(LEAF)).unwrap(), Some(other));
    assert_eq!(tree.root_cid(), before);
    assert_eq!(tree.get(b""), Err(MstError::InvalidKey { len: 0 }));
    assert_eq!(
        tree.insert(&[b'a'; 1025], other),
        Err(MstError::InvalidKey { len: 1025 })
    );
    let walked: Vec<_> = tree
        .entries()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut sorted: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    sorted.sort();
    assert_eq!(walked, sorted);
}

#[test]
fn blocks_round_trip_through_load() {
    let text = String::from_utf8(read("interop/mst/example_keys.txt")).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.len() > 3 && !l.starts_with('#'))
        .collect();
    let tree = tree_of(&keys);
    let blocks: std::collections::HashMap<Cid, Vec<u8>> = tree.blocks().into_iter().collect();
    let loaded = Tree::load_complete(&blocks, tree.root_cid()).unwrap();
    assert_eq!(loaded.root_cid(), tree.root_cid());
    assert_eq!(loaded.entries().unwrap(), tree.entries().unwrap());
    // Nothing changed since loading, so nothing is fresh.
    assert!(loaded.fresh_blocks().is_empty());
    // A partial load: only the root.
    let root_only: std::collections::HashMap<Cid, Vec<u8>> = blocks
        .iter()
        .filter(|(c, _)| **c == tree.root_cid())
        .map(|(c, b)| (*c, b.clone()))
        .collect();
    let partial = Tree::load(&root_only, tree.root_cid()).unwrap();
    assert!(partial.is_partial());
    assert_eq!(partial.root_cid(), tree.root_cid());
    assert!(matches!(partial.entries(), Err(MstError::MissingBlock(_))));
    assert!(matches!(
        Tree::load_complete(&root_only, tree.root_cid()),
        Err(MstError::MissingBlock(_))
    ));
}

/// Loads a repository CAR, walks its tree, and rebuilds the tree from the walked entries: the
/// rebuilt root must equal the commit's `data`.
fn check_repo_car(rel: &str) -> usize {
    let bytes = read(rel);
    let car = Car::read(&bytes, usize::MAX).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let commit = Commit::decode(car.get(&car.root()).expect("commit block")).unwrap();
    let tree = Tree::load_complete(&car, commit.data).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(tree.root_cid(), commit.data);
    let entries = tree.entries().unwrap();
    assert!(
        entries.windows(2).all(|w| w[0].0 < w[1].0),
        "{rel}: walk out of order"
    );
    let rebuilt = Tree::from_entries(entries.iter().map(|(k, v)| (k.as_slice(), *v))).unwrap();
    assert_eq!(
        rebuilt.root_cid(),
        commit.data,
        "{rel}: rebuilt root differs"
    );
    let changes = diff(&Tree::new(), &tree).unwrap();
    assert_eq!(changes.record_ops.len(), entries.len());
    let map: BTreeMap<_, _> = entries.iter().cloned().collect();
    for (key, value) in map.iter().take(50) {
        assert_eq!(tree.get(key).unwrap(), Some(*value));
    }
    entries.len()
}

#[test]
fn real_repository_cars_load_walk_and_recompute() {
    for rel in [
        "indigo/testing/testdata/greenground.repo.car",
        "indigo/testing/testdata/paul_staging.repo.car",
        "indigo/testing/testdata/fakermaker.repo.car",
        "indigo/testing/testdata/divy.repo",
    ] {
        let n = check_repo_car(rel);
        eprintln!("{rel}: {n} records");
        assert!(n > 0, "{rel}: no records");
    }
}
