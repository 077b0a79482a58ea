//! `/admin/repo/*`: takedowns, and one account's state for the dashboard (`GET
//! /admin/repo/get`, ours). A takedown sets the account's local status, withholds its past
//! events from replay and its new ones from ingest, and tells consumers with an `#account`
//! event (`active: false, status: "takendown"`); reversing it restores all three.

use axum::{
    extract::{rejection::JsonRejection, Query, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use atrelay_store::{Account, AccountFilter, AccountPage, AccountStatus};

use super::success;
use crate::{engine::ingest::events::append_account_view, http::xrpc::XrpcError, state::AppState};

/// Page size of `GET /admin/repo/takedowns` (indigo's).
const TAKEDOWN_PAGE: u32 = 500;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/repo/takedowns", get(list_takedowns))
        .route("/admin/repo/get", get(get_account))
        .route("/admin/repo/takeDown", post(take_down))
        .route("/admin/repo/reverseTakedown", post(reverse_takedown))
}

#[derive(Deserialize)]
struct CursorParam {
    cursor: Option<String>,
}

/// `GET /admin/repo/takedowns?cursor=`: taken-down DIDs in DID order, 500 per page; the
/// cursor is the last DID of the previous page (indigo uses an internal row id).
async fn list_takedowns(
    State(state): State<AppState>,
    Query(params): Query<CursorParam>,
) -> Result<Json<Value>, XrpcError> {
    let accounts = state
        .store
        .list_accounts(&AccountPage {
            after_did: params.cursor.filter(|c| !c.is_empty()),
            limit: TAKEDOWN_PAGE,
            filter: AccountFilter {
                local_status: Some(AccountStatus::Takendown),
                ..AccountFilter::default()
            },
        })
        .await?;
    let cursor = (accounts.len() == TAKEDOWN_PAGE as usize)
        .then(|| accounts.last().map(|a| a.did.clone()))
        .flatten();
    let dids: Vec<String> = accounts.into_iter().map(|a| a.did).collect();
    let mut body = json!({ "dids": dids });
    if let Some(cursor) = cursor {
        body["cursor"] = json!(cursor);
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
struct DidParam {
    did: Option<String>,
}

fn unix_ms_text(ms: i64) -> String {
    atrelay_repo::syntax::format_datetime(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
    )
}

/// `GET /admin/repo/get?did=`: what the relay holds of one account: its host, statuses (the
/// host's, the relay's and the one reported), latest commit, the desynchronized flag, and its
/// collections from the collection index (`null` when the index has nothing for it). 404
/// `RepoNotFound` for an account the relay does not hold.
async fn get_account(
    State(state): State<AppState>,
    Query(params): Query<DidParam>,
) -> Result<Json<Value>, XrpcError> {
    let did = checked_did(params.did.as_deref().unwrap_or_default())?;
    let Some(account) = state.store.account(&did).await? else {
        return Err(XrpcError::new(
            StatusCode::NOT_FOUND,
            "RepoNotFound",
            format!("the relay holds no account {did}"),
        ));
    };
    let host = state.store.host(account.host_id).await?;
    let collections = match state.collections.account(&did) {
        Ok(Some(index)) => json!(index.collections),
        Ok(None) => Value::Null,
        Err(error) => {
            tracing::warn!(%error, %did, "admin: collection index lookup failed");
            Value::Null
        }
    };
    Ok(Json(json!({
        "did": account.did,
        "host": host.map(|h| h.hostname),
        "status": account.status().map_or("active", |s| s.as_str()),
        "active": account.is_active(),
        "upstream_status": account.upstream_status.as_str(),
        "local_status": account.local_status.as_str(),
        "local_reason": account.local_reason,
        "rev": account.repo.as_ref().map(|r| r.rev.clone()),
        "commit": account.repo.as_ref().map(|r| r.commit_cid.clone()),
        "desynchronized": account.desynchronized,
        "first_seen": unix_ms_text(account.created_at),
        "updated": unix_ms_text(account.updated_at),
        "collections": collections,
    })))
}

/// The body of the takedown routes.
#[derive(Debug, Deserialize)]
pub struct DidInput {
    /// The account.
    pub did: String,
}

fn did_input(body: Result<Json<DidInput>, JsonRejection>) -> Result<String, XrpcError> {
    let Json(input) =
        body.map_err(|e| XrpcError::invalid_request(format!("expected {{\"did\"}}: {e}")))?;
    checked_did(&input.did)
}

/// A syntactically valid DID, or a 400 saying what a DID looks like.
fn checked_did(raw: &str) -> Result<String, XrpcError> {
    let did = raw.trim();
    atrelay_repo::syntax::validate_did(did).map_err(|_| {
        XrpcError::invalid_request(format!(
            "{raw:?} is not a DID; give one like did:plc:abc123 or did:web:example.com"
        ))
    })?;
    Ok(did.to_owned())
}

/// `POST /admin/repo/takeDown {"did"}`. 404 `RepoNotFound` for an account the relay does not
/// hold.
async fn take_down(
    State(state): State<AppState>,
    body: Result<Json<DidInput>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let did = did_input(body)?;
    set_takedown(&state, &did, true).await?;
    tracing::info!(%did, "admin: account taken down");
    Ok(success())
}

/// `POST /admin/repo/reverseTakedown {"did"}`.
async fn reverse_takedown(
    State(state): State<AppState>,
    body: Result<Json<DidInput>, JsonRejection>,
) -> Result<Json<Value>, XrpcError> {
    let did = did_input(body)?;
    set_takedown(&state, &did, false).await?;
    tracing::info!(%did, "admin: takedown reversed");
    Ok(success())
}

/// Takes an account down or restores it: its local status, ingest's cached view, the event
/// log's replay filter, and an `#account` notice with the resulting combined status.
async fn set_takedown(state: &AppState, did: &str, taken_down: bool) -> Result<(), XrpcError> {
    known_account(state, did).await?;
    let account = if taken_down {
        state
            .store
            .set_local_status(did, AccountStatus::Takendown, Some("admin takedown"))
            .await?
    } else {
        state
            .store
            .set_local_status(did, AccountStatus::Active, None)
            .await?
    };
    state.ingest.accounts().forget(did);
    if taken_down {
        state.log.take_down(did).map_err(log_error)?;
    } else {
        state.log.restore(did).map_err(log_error)?;
    }
    announce(state, &account).await
}

async fn known_account(state: &AppState, did: &str) -> Result<(), XrpcError> {
    match state.store.account(did).await? {
        Some(_) => Ok(()),
        None => Err(XrpcError::new(
            StatusCode::NOT_FOUND,
            "RepoNotFound",
            format!("the relay holds no account {did}"),
        )),
    }
}

fn log_error(error: atrelay_eventlog::Error) -> XrpcError {
    tracing::error!(%error, "admin: event log failed");
    XrpcError::internal()
}

/// Emits `#account` with the relay's combined view of `account` and waits until it is durable.
async fn announce(state: &AppState, account: &Account) -> Result<(), XrpcError> {
    let ticket = append_account_view(&state.log, account).map_err(log_error)?;
    ticket.durable().await.map_err(log_error)?;
    Ok(())
}
