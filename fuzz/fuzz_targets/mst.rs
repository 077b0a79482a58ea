//! Fuzzes MST node parsing and tree loading from a CAR. The tree's root is the CAR's root, or
//! the `data` of a commit when the root block is a commit. Beyond "never panics": a tree that
//! loads completely re-encodes to its own root CID, a tree built from scratch from its entries
//! has the same root (so a mis-layered or non-canonical tree is never accepted), every entry is
//! found by lookup, and removing then re-inserting an entry gives back the same root.
#![no_main]

use atrelay_repo::car::{Car, FIREHOSE_BLOCKS_LIMIT};
use atrelay_repo::commit::Commit;
use atrelay_repo::mst::Tree;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(car) = Car::read(data, FIREHOSE_BLOCKS_LIMIT) else {
        return;
    };
    let mut root = car.root();
    if let Some(commit) = car.get(&root).and_then(|block| Commit::decode(block).ok()) {
        root = commit.data;
    }
    // A partial load: whatever nodes are present must be consistent to the extent read.
    if let Ok(partial) = Tree::load(&car, root) {
        assert_eq!(partial.root_cid(), root, "a loaded tree changed its root");
        for block in car.blocks().take(8) {
            let _ = partial.lookup(block.data.get(..block.data.len().min(40)).unwrap_or(&[]));
        }
    }
    let Ok(tree) = Tree::load_complete(&car, root) else {
        return;
    };
    assert_eq!(tree.root_cid(), root, "a complete tree changed its root");
    let entries = tree.entries().expect("a complete tree lists its entries");
    for (key, value) in entries.iter().take(64) {
        assert_eq!(tree.get(key).expect("complete tree lookup"), Some(*value));
    }
    if entries.len() <= 2_000 {
        let rebuilt = Tree::from_entries(entries.iter().map(|(k, v)| (k.as_slice(), *v)))
            .expect("entries of a valid tree build a tree");
        assert_eq!(rebuilt.root_cid(), root, "a rebuilt tree has another root");
    }
    if let Some((key, value)) = entries.first() {
        let mut edited = tree.clone();
        assert_eq!(edited.remove(key).expect("remove"), Some(*value));
        assert_eq!(edited.insert(key, *value).expect("insert"), None);
        assert_eq!(
            edited.root_cid(),
            root,
            "remove then insert changed the root"
        );
    }
});
