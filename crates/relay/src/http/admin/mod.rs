//! The operator API under `/admin/*`, behind HTTP Basic auth ([`auth`]). Routes and JSON shapes
//! follow indigo's relay (its `/admin` routes, see docs/api.md) so its dashboard and
//! scripts work; where indigo keeps a change only in memory (the enabled switch, the per-day
//! limit) ours is stored and survives a restart.
//!
//! - `subs`: upstream connections, the public `requestCrawl` switch and limit, domain bans.
//! - `hosts`: the host list, admin `requestCrawl`, limits, block and unblock.
//! - `repos`: takedowns.
//! - consumers: `GET /admin/consumers/list`, `POST /admin/consumers/disconnect?id=` (ours).
//! - collections: `/admin/collections/crawl` (the collection index's backfill), when enabled.
//! - `overview`: `GET /admin/overview`, the last hour of rates the dashboard charts (ours).

pub mod auth;
pub mod collections;
pub mod hosts;
pub mod overview;
pub mod repos;
pub mod subs;

use axum::{
    extract::{Query, State},
    http::StatusCode,
    middleware,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;

pub use auth::AdminAuth;

use crate::{engine::consumers::ConsumerInfo, http::xrpc::XrpcError, state::AppState};

/// The admin router: every route requires `auth`.
pub fn router(state: AppState, auth: AdminAuth) -> Router {
    let backfill = state.backfill.clone();
    let overview = overview::routes(state.clone());
    let mut router = Router::new()
        .merge(subs::routes())
        .merge(hosts::routes())
        .merge(repos::routes())
        .route("/admin/consumers/list", get(list_consumers))
        .route("/admin/consumers/disconnect", post(disconnect_consumer))
        .with_state(state)
        .merge(overview);
    if let Some(backfill) = backfill {
        router = router.merge(collections::routes(backfill));
    }
    router
        .layer(middleware::from_fn_with_state(auth, auth::require_admin))
        .layer(middleware::from_fn(admin_span))
}

/// Runs each admin call in an `admin.request` span (exported as a trace when tracing is on).
async fn admin_span(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let span = tracing::debug_span!(
        "admin.request",
        method = %request.method(),
        path = %request.uri().path()
    );
    next.run(request).instrument(span).await
}

/// `GET /admin/consumers/list`: the connected firehose consumers.
async fn list_consumers(State(state): State<AppState>) -> Json<Vec<ConsumerInfo>> {
    Json(state.consumers.list())
}

#[derive(Deserialize)]
struct ConsumerParam {
    id: Option<String>,
}

/// `POST /admin/consumers/disconnect?id=`: closes a consumer's connection (not in indigo). 404
/// when no consumer has that id.
async fn disconnect_consumer(
    State(state): State<AppState>,
    Query(params): Query<ConsumerParam>,
) -> Result<Json<serde_json::Value>, XrpcError> {
    let raw = params.id.unwrap_or_default();
    let id = raw.trim().parse::<u64>().map_err(|_| {
        XrpcError::invalid_request(format!(
            "id must be a consumer id from /admin/consumers/list, got {raw:?}"
        ))
    })?;
    if !state.consumers.disconnect(id) {
        return Err(XrpcError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no consumer {id} is connected"),
        ));
    }
    tracing::info!(id, "admin: consumer disconnected");
    Ok(success())
}

/// The `{"success": "true"}` body indigo's admin routes answer with.
fn success() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "success": "true" }))
}
