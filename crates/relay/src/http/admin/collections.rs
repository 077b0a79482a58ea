//! `/admin/collections/crawl`: the collection index's backfill.
//!
//! - `POST` with `{"hostname": "...", "url": "..."?}` (url defaults to `https://<hostname>`)
//!   → `{"hostname": ..., "started": bool}`;
//! - `GET` → `{"hosts": [progress...]}`.

use atrelay_collections::{Backfill, BackfillError};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::http::xrpc::XrpcError;

/// The crawl routes, with the crawler as state (authentication is the admin router's).
pub fn routes(backfill: Backfill) -> Router {
    Router::new()
        .route(
            "/admin/collections/crawl",
            get(crawl_status).post(request_crawl),
        )
        .with_state(backfill)
}

/// Body of `POST /admin/collections/crawl`.
#[derive(Deserialize)]
pub struct CrawlRequest {
    hostname: String,
    #[serde(default)]
    url: Option<String>,
}

async fn request_crawl(
    State(backfill): State<Backfill>,
    body: Result<Json<CrawlRequest>, JsonRejection>,
) -> Result<Response, XrpcError> {
    let Ok(Json(request)) = body else {
        return Err(XrpcError::invalid_request(
            "body must be JSON {\"hostname\": \"...\", \"url\"?: \"...\"}",
        ));
    };
    let hostname = request.hostname.trim().to_ascii_lowercase();
    let url = request.url.unwrap_or_else(|| format!("https://{hostname}"));
    match backfill.start_host(&hostname, &url) {
        Ok(started) => {
            Ok(Json(json!({ "hostname": hostname, "started": started })).into_response())
        }
        Err(BackfillError::InvalidUrl { .. }) => Err(XrpcError::invalid_request(format!(
            "invalid host {hostname:?} or URL {url:?}"
        ))),
        Err(BackfillError::Refused(reason)) => Err(XrpcError::invalid_request(reason)),
        Err(error) => {
            tracing::error!(%error, "could not start collection crawl");
            Err(XrpcError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "could not start crawl",
            ))
        }
    }
}

async fn crawl_status(State(backfill): State<Backfill>) -> Json<serde_json::Value> {
    Json(json!({ "hosts": backfill.progress() }))
}
