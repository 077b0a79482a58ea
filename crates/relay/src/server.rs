//! The public HTTP server: routes, shared middleware, and the listen loop with graceful shutdown.

use std::{future::Future, net::SocketAddr};

use axum::{
    http::{header, HeaderValue},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower_http::{cors::CorsLayer, set_header::SetResponseHeaderLayer};

/// The value of the `Server` header on every response.
pub const SERVER_HEADER: &str = concat!("atrelay/", env!("CARGO_PKG_VERSION"), " (atproto-relay)");

/// Builds the router of the public API.
pub fn router() -> Router {
    Router::new()
        .route("/", get(banner))
        .route("/_health", get(health))
        .route("/xrpc/_health", get(health))
        .layer(CorsLayer::permissive())
        .layer(SetResponseHeaderLayer::overriding(
            header::SERVER,
            HeaderValue::from_static(SERVER_HEADER),
        ))
}

/// Serves `router` on `listener` until `shutdown` completes, then drains open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn banner() -> &'static str {
    concat!(
        "atrelay ",
        env!("CARGO_PKG_VERSION"),
        ": an AT Protocol relay\n\nThe firehose is at /xrpc/com.atproto.sync.subscribeRepos\n"
    )
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
