//! HTTP routes (axum 0.8): the public listing endpoints and the admin crawl routes.
//!
//! - `GET /xrpc/com.atproto.sync.listReposByCollection?collection=&limit=&cursor=`
//!   → `{"repos": [{"did": ...}], "cursor": ...}`; `limit` 1..=2000 (default 500).
//! - `GET /xrpc/com.atproto.sync.listCollections?limit=&cursor=` (not a lexicon method; the
//!   same data as collectiondir's `/v1/listCollections`, also served there)
//!   → `{"collections": {"nsid": repoCount, ...}, "cursor": ...}`; `limit` 1..=10000
//!   (default 1000).
//! - admin: `POST /admin/collections/crawl` with `{"hostname": "...", "url": "..."?}`
//!   (url defaults to `https://<hostname>`) and `GET /admin/collections/crawl`
//!   → `{"hosts": [progress...]}`. Authentication is the caller's job: nest these behind
//!   the relay's admin auth.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::backfill::Backfill;
use crate::error::{BackfillError, IndexError};
use crate::index::{CollectionIndex, DEFAULT_LIST_LIMIT};

/// Default page size of the collections listing.
const DEFAULT_COLLECTIONS_LIMIT: usize = 1000;
/// Largest page size of the collections listing.
const MAX_COLLECTIONS_LIMIT: usize = 10_000;

/// The public routes, with the index as state.
pub fn router(index: CollectionIndex) -> Router {
    Router::new()
        .route(
            "/xrpc/com.atproto.sync.listReposByCollection",
            get(list_repos_by_collection),
        )
        .route(
            "/xrpc/com.atproto.sync.listCollections",
            get(list_collections),
        )
        .route("/v1/listCollections", get(list_collections))
        .with_state(index)
}

/// The admin routes (no authentication of their own), with the crawler as state.
pub fn admin_router(backfill: Backfill) -> Router {
    Router::new()
        .route(
            "/admin/collections/crawl",
            get(crawl_status).post(request_crawl),
        )
        .with_state(backfill)
}

/// An XRPC error response.
fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({ "error": error, "message": message }))).into_response()
}

fn bad_request(message: &str) -> Response {
    xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

/// Parses an optional integer parameter within `1..=max`.
fn parse_limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, String> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("limit must be an integer between 1 and {max}")),
    }
}

#[derive(Deserialize)]
struct ListReposParams {
    collection: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_repos_by_collection(
    State(index): State<CollectionIndex>,
    Query(params): Query<ListReposParams>,
) -> Response {
    let Some(collection) = params.collection.filter(|c| !c.is_empty()) else {
        return bad_request("collection is required");
    };
    let limit = match parse_limit(
        params.limit.as_deref(),
        DEFAULT_LIST_LIMIT,
        crate::MAX_LIST_LIMIT,
    ) {
        Ok(limit) => limit,
        Err(message) => return bad_request(&message),
    };
    let cursor = params.cursor.filter(|c| !c.is_empty());
    let result = tokio::task::spawn_blocking(move || {
        index.list_repos(&collection, cursor.as_deref(), limit)
    })
    .await;
    match result {
        Ok(Ok(page)) => {
            let repos: Vec<Value> = page.dids.iter().map(|did| json!({ "did": did })).collect();
            let mut body = json!({ "repos": repos });
            if let Some(cursor) = page.cursor {
                body["cursor"] = json!(cursor);
            }
            Json(body).into_response()
        }
        Ok(Err(IndexError::InvalidCollection { collection, source })) => bad_request(&format!(
            "collection {collection:?} is not a valid NSID: {source}"
        )),
        Ok(Err(IndexError::InvalidLimit { max, .. })) => {
            bad_request(&format!("limit must be an integer between 1 and {max}"))
        }
        Ok(Err(error)) => {
            tracing::error!(%error, "listReposByCollection failed");
            xrpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "collection index unavailable",
            )
        }
        Err(error) => {
            tracing::error!(%error, "listReposByCollection task failed");
            xrpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "collection index unavailable",
            )
        }
    }
}

#[derive(Deserialize)]
struct ListCollectionsParams {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn list_collections(
    State(index): State<CollectionIndex>,
    Query(params): Query<ListCollectionsParams>,
) -> Response {
    let limit = match parse_limit(
        params.limit.as_deref(),
        DEFAULT_COLLECTIONS_LIMIT,
        MAX_COLLECTIONS_LIMIT,
    ) {
        Ok(limit) => limit,
        Err(message) => return bad_request(&message),
    };
    let cursor = params.cursor.filter(|c| !c.is_empty());
    let (page, next) = index.collections_page(cursor.as_deref(), limit);
    let mut collections = Map::new();
    for (name, count) in page {
        collections.insert(name, json!(count));
    }
    let mut body = json!({ "collections": collections });
    if let Some(next) = next {
        body["cursor"] = json!(next);
    }
    Json(body).into_response()
}

#[derive(Deserialize)]
struct CrawlRequest {
    hostname: String,
    #[serde(default)]
    url: Option<String>,
}

async fn request_crawl(
    State(backfill): State<Backfill>,
    body: Result<Json<CrawlRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(request)) = body else {
        return bad_request("body must be JSON {\"hostname\": \"...\", \"url\"?: \"...\"}");
    };
    let hostname = request.hostname.trim().to_ascii_lowercase();
    let url = request.url.unwrap_or_else(|| format!("https://{hostname}"));
    match backfill.start_host(&hostname, &url) {
        Ok(started) => Json(json!({ "hostname": hostname, "started": started })).into_response(),
        Err(BackfillError::InvalidUrl { .. }) => {
            bad_request(&format!("invalid host {hostname:?} or URL {url:?}"))
        }
        Err(BackfillError::Refused(reason)) => bad_request(&reason),
        Err(error) => {
            tracing::error!(%error, "could not start collection crawl");
            xrpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "could not start crawl",
            )
        }
    }
}

async fn crawl_status(State(backfill): State<Backfill>) -> Response {
    Json(json!({ "hosts": backfill.progress() })).into_response()
}
