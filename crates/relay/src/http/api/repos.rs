//! The account endpoints: `listRepos`, `getRepoStatus`, `getLatestCommit` and `getRepo`.

use axum::{
    extract::{Query, RawQuery, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};

use atrelay_store::{Account, AccountFilter, AccountPage, AccountStatus};

use crate::{
    http::api::params::{required, LimitRange, PageParams},
    http::xrpc::XrpcError,
    state::AppState,
};

const LIST_REPOS_LIMIT: LimitRange = LimitRange {
    min: 1,
    max: 1000,
    default: 500,
};

/// One account in `listRepos`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoView {
    /// The account's DID.
    pub did: String,
    /// CID of the latest commit.
    pub head: String,
    /// Rev of the latest commit.
    pub rev: String,
    /// Whether the account is active at this relay.
    pub active: bool,
    /// Why it is not active, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// The `listRepos` response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListReposOutput {
    /// Present when another page may follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Accounts in DID order.
    pub repos: Vec<RepoView>,
}

/// `GET /xrpc/com.atproto.sync.listRepos?limit=&cursor=`: every account with a verified commit,
/// in DID order, with `active` and `status` so a consumer can tell why one is inactive.
pub async fn list_repos(
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<Json<ListReposOutput>, XrpcError> {
    let limit = params.limit(LIST_REPOS_LIMIT)?;
    let page = AccountPage {
        after_did: params.cursor().map(str::to_owned),
        limit,
        filter: AccountFilter::default(),
    };
    let accounts = state.store.list_accounts(&page).await?;
    let cursor = (accounts.len() == limit as usize)
        .then(|| accounts.last().map(|account| account.did.clone()))
        .flatten();
    let repos = accounts
        .into_iter()
        .filter_map(|account| {
            let active = account.is_active();
            let status = account.status().map(|status| status.as_str().to_owned());
            account.repo.map(|repo| RepoView {
                did: account.did,
                head: repo.commit_cid,
                rev: repo.rev,
                active,
                status,
            })
        })
        .collect();
    Ok(Json(ListReposOutput { cursor, repos }))
}

/// Parameters of the endpoints that name one account.
#[derive(Debug, Deserialize)]
pub struct DidParams {
    did: Option<String>,
}

/// The `getRepoStatus` response.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoStatusOutput {
    /// The account's DID.
    pub did: String,
    /// Whether the account is active at this relay.
    pub active: bool,
    /// Why it is not active (including `throttled` for accounts over their host's limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Rev of the latest commit, when active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
}

/// `GET /xrpc/com.atproto.sync.getRepoStatus?did=`.
pub async fn get_repo_status(
    State(state): State<AppState>,
    Query(params): Query<DidParams>,
) -> Result<Json<RepoStatusOutput>, XrpcError> {
    let account = find_account(&state, &params).await?;
    let active = account.is_active();
    Ok(Json(RepoStatusOutput {
        active,
        status: account.status().map(|status| status.as_str().to_owned()),
        rev: active
            .then(|| account.repo.as_ref().map(|repo| repo.rev.clone()))
            .flatten(),
        did: account.did,
    }))
}

/// The `getLatestCommit` response.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LatestCommitOutput {
    /// CID of the latest commit.
    pub cid: String,
    /// Its rev.
    pub rev: String,
}

/// `GET /xrpc/com.atproto.sync.getLatestCommit?did=`: refused for inactive accounts.
pub async fn get_latest_commit(
    State(state): State<AppState>,
    Query(params): Query<DidParams>,
) -> Result<Json<LatestCommitOutput>, XrpcError> {
    let account = find_account(&state, &params).await?;
    refuse_inactive(&account)?;
    let repo = account.repo.ok_or_else(|| {
        XrpcError::new(
            StatusCode::NOT_FOUND,
            "RepoNotSynchronized",
            format!("no verified commit of {} has been seen yet", account.did),
        )
    })?;
    Ok(Json(LatestCommitOutput {
        cid: repo.commit_cid,
        rev: repo.rev,
    }))
}

/// `GET /xrpc/com.atproto.sync.getRepo?did=...`: a 302 redirect to the account's PDS with the
/// same query, refused for inactive accounts (indigo redirects even taken-down ones; we do not).
pub async fn get_repo(
    State(state): State<AppState>,
    Query(params): Query<DidParams>,
    RawQuery(query): RawQuery,
) -> Result<Response, XrpcError> {
    let account = find_account(&state, &params).await?;
    refuse_inactive(&account)?;
    let host = state.store.host(account.host_id).await?.ok_or_else(|| {
        tracing::error!(did = %account.did, host_id = account.host_id, "account names a missing host");
        XrpcError::internal()
    })?;
    let scheme = if host.no_ssl { "http" } else { "https" };
    let location = format!(
        "{scheme}://{}/xrpc/com.atproto.sync.getRepo?{}",
        host.hostname,
        query.unwrap_or_default()
    );
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

async fn find_account(state: &AppState, params: &DidParams) -> Result<Account, XrpcError> {
    let did = required(&params.did, "did")?;
    if let Err(error) = atrelay_repo::syntax::validate_did(did) {
        return Err(XrpcError::invalid_request(format!("invalid did: {error}")));
    }
    state.store.account(did).await?.ok_or_else(|| {
        XrpcError::new(
            StatusCode::NOT_FOUND,
            "RepoNotFound",
            format!("no account {did} is known to this relay"),
        )
    })
}

/// The error an inactive account's repository is refused with, named as the lexicons (and,
/// where they are silent, indigo) name it.
fn refuse_inactive(account: &Account) -> Result<(), XrpcError> {
    let Some(status) = account.status() else {
        return Ok(());
    };
    let (error, what) = match status {
        AccountStatus::Active => return Ok(()),
        AccountStatus::Takendown => ("RepoTakendown", "taken down"),
        AccountStatus::Suspended => ("RepoSuspended", "suspended"),
        AccountStatus::Deactivated => ("RepoDeactivated", "deactivated"),
        AccountStatus::Deleted => ("RepoDeleted", "deleted"),
        AccountStatus::Desynchronized | AccountStatus::Throttled => ("RepoInactive", "inactive"),
    };
    Err(XrpcError::new(
        StatusCode::FORBIDDEN,
        error,
        format!("repo {} is {what} ({status})", account.did),
    ))
}
