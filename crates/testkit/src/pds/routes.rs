//! The PDS's HTTP surface: XRPC queries, the did:web document and the firehose route.

use std::sync::Arc;

use atrelay_stream::AccountStatus;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{firehose, Account, Shared};
use crate::directory::lock;

/// The PDS's routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/xrpc/com.atproto.sync.subscribeRepos",
            get(firehose::subscribe),
        )
        .route(
            "/xrpc/com.atproto.server.describeServer",
            get(describe_server),
        )
        .route("/xrpc/com.atproto.sync.getRepo", get(get_repo))
        .route("/xrpc/com.atproto.sync.listRepos", get(list_repos))
        .route("/xrpc/com.atproto.sync.getRepoStatus", get(get_repo_status))
        .route(
            "/xrpc/com.atproto.sync.getLatestCommit",
            get(get_latest_commit),
        )
        .route("/xrpc/com.atproto.repo.describeRepo", get(describe_repo))
        .route("/.well-known/did.json", get(did_web_document))
        .route(
            "/xrpc/_health",
            get(|| async { Json(json!({"version": "atrelay-testkit"})) }),
        )
        .with_state(shared)
}

/// An XRPC error response `{error, message}`.
pub(crate) fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({"error": error, "message": message}))).into_response()
}

async fn describe_server(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "did": format!("did:web:{}", shared.hostname.replace(':', "%3A")),
        "availableUserDomains": [".test"],
        "inviteCodeRequired": false,
        "phoneVerificationRequired": false,
        "links": {},
        "contact": {},
    }))
}

#[derive(Deserialize)]
struct DidParam {
    did: Option<String>,
}

#[allow(clippy::result_large_err)] // The error is the finished HTTP response.
/// Looks an account up for a query that refuses inactive accounts (`getRepo`,
/// `getLatestCommit`), mapping status to the lexicon's error names.
fn active_account<'a>(
    accounts: &'a std::collections::BTreeMap<String, Account>,
    did: Option<&str>,
) -> Result<&'a Account, Response> {
    let Some(did) = did else {
        return Err(xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "did is required",
        ));
    };
    let account = accounts.get(did).ok_or_else(|| {
        xrpc_error(
            StatusCode::BAD_REQUEST,
            "RepoNotFound",
            &format!("could not find repo for DID: {did}"),
        )
    })?;
    let refusal = match &account.status {
        None => return Ok(account),
        Some(AccountStatus::Takendown) => "RepoTakendown",
        Some(AccountStatus::Suspended) => "RepoSuspended",
        Some(AccountStatus::Deactivated) => "RepoDeactivated",
        Some(AccountStatus::Deleted) => "RepoNotFound",
        Some(_) => return Ok(account),
    };
    Err(xrpc_error(
        StatusCode::BAD_REQUEST,
        refusal,
        &format!("repo {did} is not available"),
    ))
}

async fn get_repo(State(shared): State<Arc<Shared>>, Query(q): Query<DidParam>) -> Response {
    let state = lock(&shared.state);
    let account = match active_account(&state.accounts, q.did.as_deref()) {
        Ok(account) => account,
        Err(response) => return response,
    };
    match account.repo.export_car() {
        Ok(car) => ([(header::CONTENT_TYPE, "application/vnd.ipld.car")], car).into_response(),
        Err(e) => xrpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            &e.to_string(),
        ),
    }
}

async fn get_latest_commit(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<DidParam>,
) -> Response {
    let state = lock(&shared.state);
    match active_account(&state.accounts, q.did.as_deref()) {
        Ok(account) => Json(json!({
            "cid": account.repo.head_cid().to_string(),
            "rev": account.repo.rev(),
        }))
        .into_response(),
        Err(response) => response,
    }
}

async fn get_repo_status(State(shared): State<Arc<Shared>>, Query(q): Query<DidParam>) -> Response {
    let state = lock(&shared.state);
    let Some(did) = q.did else {
        return xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", "did is required");
    };
    let Some(account) = state.accounts.get(&did) else {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "RepoNotFound",
            &format!("could not find repo for DID: {did}"),
        );
    };
    Json(repo_status(&did, account)).into_response()
}

/// `{did, active, status?, rev?}` (`rev` only while active), also the `listRepos` entry shape.
fn repo_status(did: &str, account: &Account) -> Value {
    let mut out = json!({"did": did, "active": account.status.is_none()});
    match &account.status {
        None => out["rev"] = json!(account.repo.rev()),
        Some(status) => out["status"] = json!(status.as_str()),
    }
    out
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_repos(State(shared): State<Arc<Shared>>, Query(q): Query<ListParams>) -> Response {
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "limit must be between 1 and 1000",
        );
    }
    let state = lock(&shared.state);
    let start = match &q.cursor {
        Some(cursor) => std::ops::Bound::Excluded(cursor.clone()),
        None => std::ops::Bound::Unbounded,
    };
    let page: Vec<(&String, &Account)> = state
        .accounts
        .range((start, std::ops::Bound::Unbounded))
        .take(limit)
        .collect();
    let repos: Vec<Value> = page
        .iter()
        .map(|(did, account)| {
            let mut entry = json!({
                "did": did,
                "head": account.repo.head_cid().to_string(),
                "rev": account.repo.rev(),
                "active": account.status.is_none(),
            });
            if let Some(status) = &account.status {
                entry["status"] = json!(status.as_str());
            }
            entry
        })
        .collect();
    let mut out = json!({ "repos": repos });
    if page.len() == limit {
        if let Some((did, _)) = page.last() {
            out["cursor"] = json!(did);
        }
    }
    Json(out).into_response()
}

#[derive(Deserialize)]
struct RepoParam {
    repo: Option<String>,
}

async fn describe_repo(State(shared): State<Arc<Shared>>, Query(q): Query<RepoParam>) -> Response {
    let Some(repo) = q.repo else {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "repo is required",
        );
    };
    let state = lock(&shared.state);
    let found = state
        .accounts
        .iter()
        .find(|(did, account)| **did == repo || account.doc.handle == repo);
    let Some((did, account)) = found else {
        return xrpc_error(
            StatusCode::BAD_REQUEST,
            "RepoNotFound",
            &format!("could not find repo: {repo}"),
        );
    };
    Json(json!({
        "handle": account.doc.handle,
        "did": did,
        "didDoc": account.doc.to_json(),
        "collections": account.repo.collections(),
        "handleIsCorrect": true,
    }))
    .into_response()
}

async fn did_web_document(State(shared): State<Arc<Shared>>) -> Response {
    let state = lock(&shared.state);
    let doc = state
        .web_did
        .as_ref()
        .and_then(|did| state.accounts.get(did))
        .map(|account| account.doc.to_json());
    match doc {
        Some(doc) => Json(doc).into_response(),
        None => xrpc_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "no did:web document here",
        ),
    }
}
