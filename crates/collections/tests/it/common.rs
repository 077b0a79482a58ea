//! Shared helpers: a temporary index, and a minimal "relay" feeding a fake PDS's events.

use atrelay_collections::{CollectionIndex, Op};
use atrelay_stream::{decode_frame, Message};
use atrelay_testkit::{AccountOptions, FakeDirectory, FakePds};

/// The collection the issue names.
pub const CAPTAIN: &str = "io.atcr.hold.captain";

/// A fresh index in a temporary directory (kept alive by the returned guard).
pub fn temp_index() -> (tempfile::TempDir, CollectionIndex) {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = CollectionIndex::open(dir.path()).expect("open index");
    (dir, index)
}

/// A fake PDS holding one did:plc and one did:web account.
pub async fn pds_with_plc_and_web() -> (FakeDirectory, FakePds, String, String) {
    let directory = FakeDirectory::start().await.expect("directory");
    let pds = FakePds::start(&directory).await.expect("pds");
    let plc = pds.create_account(AccountOptions::default()).expect("plc");
    let web = pds
        .create_account(AccountOptions {
            did_web: true,
            ..AccountOptions::default()
        })
        .expect("web");
    assert!(plc.starts_with("did:plc:"));
    assert!(web.starts_with("did:web:"));
    (directory, pds, plc, web)
}

/// Applies every event of `pds` after `after_seq` to `index` as the relay would (commits
/// and account status), returning the last seq applied.
pub fn feed(pds: &FakePds, index: &CollectionIndex, after_seq: i64) -> i64 {
    let mut last = after_seq;
    for event in pds.events().into_iter().filter(|e| e.seq > after_seq) {
        match decode_frame(&event.frame).expect("decode frame") {
            Message::Commit(commit) => {
                index
                    .apply_commit(
                        &commit.repo,
                        &commit.rev,
                        commit.since.as_deref(),
                        &Op::from_repo_ops(&commit.ops),
                    )
                    .expect("apply commit");
            }
            Message::Account(account) => {
                index
                    .set_account_active(&account.did, account.active)
                    .expect("set active");
            }
            _ => {}
        }
        last = event.seq;
    }
    last
}

/// Every DID listed for `collection`, paging with `limit`.
pub fn list_all(index: &CollectionIndex, collection: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = index
            .list_repos(collection, cursor.as_deref(), limit)
            .expect("list");
        out.extend(page.dids);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}
