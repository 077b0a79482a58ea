//! Cursor pagination over 10,000 DIDs (did:plc and did:web mixed) returns each exactly once.

use std::collections::BTreeSet;

use atrelay_collections::{Op, OpAction};
use atrelay_testkit::TidClock;

use crate::common::{list_all, temp_index, CAPTAIN};

#[test]
fn ten_thousand_dids_each_exactly_once() {
    let (_dir, index) = temp_index();
    let mut clock = TidClock::new(3);
    let mut expected = BTreeSet::new();
    for i in 0..10_000u32 {
        let did = if i % 10 == 0 {
            format!("did:web:host{i}.example.com")
        } else {
            format!("did:plc:{i:024}")
        };
        let ops = [
            Op::new(OpAction::Create, format!("{CAPTAIN}/{i}")),
            Op::new(OpAction::Create, format!("app.bsky.feed.post/{i}")),
        ];
        let rev = clock.next_tid().to_text();
        index.apply_commit(&did, &rev, None, &ops).expect("apply");
        expected.insert(did);
    }
    // Hide a few: they must be skipped, not break the cursor.
    for i in [1u32, 500, 9_999] {
        let did = format!("did:plc:{i:024}");
        index.set_account_active(&did, false).expect("hide");
        expected.remove(&did);
    }
    for limit in [1_999, 500, 7] {
        let listed = list_all(&index, CAPTAIN, limit);
        assert_eq!(
            listed.len(),
            expected.len(),
            "limit {limit}: no duplicates or gaps"
        );
        let unique: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(unique, expected, "limit {limit}");
        assert!(listed.windows(2).all(|w| w[0] < w[1]), "DID order");
    }
    // The cursor is stable under concurrent inserts: a DID added behind it is not repeated.
    let first = index.list_repos(CAPTAIN, None, 100).expect("page");
    let cursor = first.cursor.expect("more pages");
    index
        .apply_commit(
            "did:plc:000000000000000000000000",
            &clock.next_tid().to_text(),
            Some("2222222222222"),
            &[Op::new(OpAction::Create, format!("{CAPTAIN}/again"))],
        )
        .expect("apply");
    let second = index.list_repos(CAPTAIN, Some(&cursor), 100).expect("page");
    assert!(second.dids.iter().all(|d| d > &cursor));
    assert_eq!(index.collections().len(), 2);
}
