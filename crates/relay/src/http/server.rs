//! The public HTTP server: routes and shared middleware. The accept loop with its connection
//! limits is [`crate::http::edge::listen`].

use std::future::Future;

use axum::{
    http::{header, HeaderValue},
    middleware,
    routing::{get, post},
    Router,
};
use tokio::net::TcpListener;
use tower_http::{cors::CorsLayer, set_header::SetResponseHeaderLayer};

use crate::{
    http::admin::{self, AdminAuth},
    http::api::{self, crawl, hosts, repos},
    http::dash,
    http::edge::{self, EdgeLimits},
    http::firehose,
    http::health,
    state::AppState,
};

/// The value of the `Server` header on every response.
pub const SERVER_HEADER: &str = concat!("atrelay/", env!("CARGO_PKG_VERSION"), " (atproto-relay)");

/// Builds the router of the public API (no admin routes).
pub fn router(state: AppState) -> Router {
    with_common_layers(with_cors(public_routes(state)))
}

/// Builds the router of the whole service: the public API, `/admin/*` behind `auth`, and the
/// dashboard at `/dash/`. Only the public API answers cross-origin requests: a page on another
/// site cannot read the admin API or send it anything but a simple form.
pub fn router_with_admin(state: AppState, auth: AdminAuth) -> Router {
    with_common_layers(
        with_cors(public_routes(state.clone()))
            .merge(admin::router(state, auth))
            .merge(dash::router()),
    )
}

fn public_routes(state: AppState) -> Router {
    let collections = state.collections.clone();
    Router::new()
        .route("/", get(banner))
        .route("/_health", get(health::health))
        .route("/xrpc/_health", get(health::health))
        .route("/_ready", get(health::ready))
        .route(
            "/xrpc/com.atproto.sync.subscribeRepos",
            get(firehose::subscribe_repos),
        )
        .route("/xrpc/com.atproto.sync.listHosts", get(hosts::list_hosts))
        .route(
            "/xrpc/com.atproto.sync.requestCrawl",
            post(crawl::request_crawl),
        )
        .route(
            "/xrpc/com.atproto.sync.getHostStatus",
            get(hosts::get_host_status),
        )
        .route("/xrpc/com.atproto.sync.listRepos", get(repos::list_repos))
        .route(
            "/xrpc/com.atproto.sync.getRepoStatus",
            get(repos::get_repo_status),
        )
        .route(
            "/xrpc/com.atproto.sync.getLatestCommit",
            get(repos::get_latest_commit),
        )
        .route("/xrpc/com.atproto.sync.getRepo", get(repos::get_repo))
        .with_state(state)
        .merge(api::collections::router(collections))
}

/// CORS for browser clients of the public API.
fn with_cors(router: Router) -> Router {
    router.layer(CorsLayer::permissive())
}

/// XRPC JSON for every error (the router's own 404 and 405 included) and the `Server` header
/// on every response; the splitter's router has them too.
pub fn with_common_layers(router: Router) -> Router {
    router
        .layer(middleware::from_fn(edge::errors::json_errors))
        .layer(SetResponseHeaderLayer::overriding(
            header::SERVER,
            HeaderValue::from_static(SERVER_HEADER),
        ))
}

/// Serves `router` on `listener` with the default [`EdgeLimits`] until `shutdown` completes,
/// then drains open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    edge::listen::serve(listener, router, EdgeLimits::default(), shutdown).await
}

/// As [`serve`], under `limits`.
pub async fn serve_with_limits(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    edge::listen::serve(listener, router, limits, shutdown).await
}

async fn banner() -> &'static str {
    concat!(
        "atrelay ",
        env!("CARGO_PKG_VERSION"),
        ": an AT Protocol relay\n\nThe firehose is at /xrpc/com.atproto.sync.subscribeRepos\n"
    )
}
