//! Every `mst-diff` case of the mst-test-suite (16,384 diffs between the 128 subset trees of
//! a perfect 7-key MST): record ops, created and deleted nodes, lookup paths within the proof
//! nodes, and that the inductive-proof node set alone is enough to invert the diff back to
//! the first tree.
//!
//! One test walks every case, collects failures by kind and prints the first few of each.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use atrelay_repo::car::Car;
use atrelay_repo::cid::Cid;
use atrelay_repo::mst::{diff, Tree};
use atrelay_repo::proof::{invert_ops, OpAction, RepoOp};

/// The suite, unpacked from `testdata/mst-test-suite.tar.zst` on first use.
fn suite_dir() -> PathBuf {
    atrelay_testdata::mst_test_suite()
}

/// One parsed CAR of the suite: its blocks and its complete tree.
struct Loaded {
    blocks: HashMap<Cid, Vec<u8>>,
    tree: Tree,
}

fn load_car(path: &Path) -> Loaded {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let car = Car::read(&bytes, usize::MAX).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tree =
        Tree::load_complete(&car, car.root()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(tree.root_cid(), car.root(), "{}", path.display());
    let blocks = car.blocks().map(|b| (b.cid, b.data.to_vec())).collect();
    Loaded { blocks, tree }
}

fn cid_set(value: &serde_json::Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn cids_to_set(cids: impl IntoIterator<Item = Cid>) -> BTreeSet<String> {
    cids.into_iter().map(|c| c.to_string()).collect()
}

fn opt_cid(value: &serde_json::Value) -> Option<Cid> {
    value.as_str().map(|s| Cid::try_from(s).unwrap())
}

#[derive(Default)]
struct Failures {
    by_kind: HashMap<&'static str, Vec<String>>,
}

impl Failures {
    fn add(&mut self, kind: &'static str, case: &str, detail: String) {
        self.by_kind
            .entry(kind)
            .or_default()
            .push(format!("{case}: {detail}"));
    }
}

fn check_case(
    name: &str,
    case: &serde_json::Value,
    cars: &mut HashMap<String, Loaded>,
    failures: &mut Failures,
) {
    let results = &case["results"];
    for input in ["mst_a", "mst_b"] {
        let rel = case["inputs"][input].as_str().unwrap().to_string();
        cars.entry(rel.clone())
            .or_insert_with(|| load_car(&suite_dir().join(&rel)));
    }
    let a = &cars[case["inputs"]["mst_a"].as_str().unwrap()];
    let b = &cars[case["inputs"]["mst_b"].as_str().unwrap()];

    // Diff.
    let d = match diff(&a.tree, &b.tree) {
        Ok(d) => d,
        Err(e) => return failures.add("diff error", name, e.to_string()),
    };
    let created = cids_to_set(d.created_nodes.iter().copied());
    if created != cid_set(&results["created_nodes"]) {
        failures.add("created_nodes", name, format!("got {created:?}"));
    }
    let deleted = cids_to_set(d.deleted_nodes.iter().copied());
    if deleted != cid_set(&results["deleted_nodes"]) {
        failures.add("deleted_nodes", name, format!("got {deleted:?}"));
    }
    let expected_ops: Vec<(String, Option<Cid>, Option<Cid>)> = results["record_ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["rpath"].as_str().unwrap().to_string(),
                opt_cid(&op["old_value"]),
                opt_cid(&op["new_value"]),
            )
        })
        .collect();
    let got_ops: Vec<(String, Option<Cid>, Option<Cid>)> = d
        .record_ops
        .iter()
        .map(|c| (String::from_utf8(c.key.clone()).unwrap(), c.old, c.new))
        .collect();
    if got_ops != expected_ops {
        failures.add("record_ops", name, format!("got {got_ops:?}"));
    }

    // Proof nodes: the lookup path of every changed key in the new tree is part of the
    // suite's inclusion/exclusion proof (which sometimes adds neighbouring nodes as well).
    let mut proof = BTreeSet::new();
    for (key, _, _) in &expected_ops {
        match b.tree.lookup(key.as_bytes()) {
            Ok((_, path)) => proof.extend(path.into_iter().map(|c| c.to_string())),
            Err(e) => failures.add("proof lookup", name, e.to_string()),
        }
    }
    if !proof.is_subset(&cid_set(&results["proof_nodes"])) {
        failures.add("proof_nodes", name, format!("got {proof:?}"));
    }

    // Inversion on the partial tree made of the inductive-proof nodes only.
    let inductive = cid_set(&results["inductive_proof_nodes"]);
    let partial_blocks: HashMap<Cid, &[u8]> = b
        .blocks
        .iter()
        .filter(|(cid, _)| inductive.contains(&cid.to_string()))
        .map(|(cid, data)| (*cid, data.as_slice()))
        .collect();
    let ops: Vec<RepoOp> = expected_ops
        .iter()
        .map(|(path, old, new)| RepoOp {
            action: match (old, new) {
                (None, _) => OpAction::Create,
                (Some(_), Some(_)) => OpAction::Update,
                (Some(_), None) => OpAction::Delete,
            },
            path: path.clone(),
            cid: *new,
            prev: *old,
        })
        .collect();
    if ops.is_empty() {
        if a.tree.root_cid() != b.tree.root_cid() {
            failures.add("no-op roots", name, "roots differ without ops".into());
        }
        return;
    }
    let mut partial = match Tree::load(&partial_blocks, b.tree.root_cid()) {
        Ok(t) => t,
        Err(e) => return failures.add("partial load", name, e.to_string()),
    };
    if let Err(e) = invert_ops(&mut partial, &ops) {
        return failures.add("inversion", name, e.to_string());
    }
    if partial.root_cid() != a.tree.root_cid() {
        failures.add(
            "inverted root",
            name,
            format!("got {}, want {}", partial.root_cid(), a.tree.root_cid()),
        );
    }
}

#[test]
fn all_mst_diff_cases() {
    let dir = suite_dir().join("tests");
    let mut files = Vec::new();
    let mut pending = vec![dir.clone()];
    while let Some(d) = pending.pop() {
        let entries =
            std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut cars = HashMap::new();
    let mut failures = Failures::default();
    let mut n_cases = 0;
    for path in &files {
        let case: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if case["$type"] != "mst-diff" {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        check_case(&name, &case, &mut cars, &mut failures);
        n_cases += 1;
    }
    eprintln!(
        "mst-test-suite: {n_cases} mst-diff cases over {} CARs",
        cars.len()
    );
    assert_eq!(n_cases, 16_384, "expected every exhaustive case");
    let mut report = String::new();
    let mut kinds: Vec<_> = failures.by_kind.iter().collect();
    kinds.sort_by_key(|(k, _)| **k);
    for (kind, cases) in kinds {
        report.push_str(&format!(
            "\n{kind}: {} failing cases, first ones:\n",
            cases.len()
        ));
        for case in cases.iter().take(5) {
            report.push_str(&format!("  {case}\n"));
        }
    }
    assert!(report.is_empty(), "mst-test-suite failures:{report}");
}
