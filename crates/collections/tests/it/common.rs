//! Shared helpers: a temporary index, a minimal "relay" feeding a fake PDS's events, and a
//! [`RepoSource`] asking fake PDSes over plain HTTP.

use std::sync::Arc;

use atrelay_collections::{
    CollectionIndex, FetchError, ListReposPage, Op, RepoSource, SourceFuture,
};
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

/// A [`RepoSource`] over plain HTTP, for the fake PDSes on loopback: no policy, no size limit
/// (the relay's guarded source and its rules are tested in the relay). A failed answer becomes
/// [`FetchError::Xrpc`] with its XRPC error name, as the relay's does.
#[derive(Debug, Default)]
pub struct HttpSource {
    client: reqwest::Client,
}

impl HttpSource {
    /// Shared, as the crawler takes it.
    pub fn shared() -> Arc<dyn RepoSource> {
        Arc::new(HttpSource::default())
    }

    async fn get(&self, url: String, query: &[(&str, String)]) -> Result<Vec<u8>, FetchError> {
        let response = self
            .client
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?;
        if !status.is_success() {
            let error = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(FetchError::Xrpc {
                status: status.as_u16(),
                error,
            });
        }
        Ok(body.to_vec())
    }
}

impl RepoSource for HttpSource {
    fn check_url(&self, _base_url: &str) -> Result<(), String> {
        Ok(())
    }

    fn list_repos<'a>(
        &'a self,
        base_url: &'a str,
        limit: u16,
        cursor: Option<&'a str>,
    ) -> SourceFuture<'a, ListReposPage> {
        Box::pin(async move {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(cursor) = cursor {
                query.push(("cursor", cursor.to_owned()));
            }
            let body = self
                .get(
                    format!("{base_url}/xrpc/com.atproto.sync.listRepos"),
                    &query,
                )
                .await?;
            serde_json::from_slice(&body).map_err(|e| FetchError::Malformed(e.to_string()))
        })
    }

    fn get_repo<'a>(&'a self, base_url: &'a str, did: &'a str) -> SourceFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let query = [("did", did.to_owned())];
            self.get(format!("{base_url}/xrpc/com.atproto.sync.getRepo"), &query)
                .await
        })
    }
}
