//! The operator dashboard at `/dash/`: the static files of `web-dash/`, compiled into the
//! binary. The page is public; everything it does goes through the authenticated `/admin/*`
//! API.

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};

/// Every file of the dashboard: its name under `/dash/`, its content and its type. The page
/// (`index.html`) is served at `/dash/` itself.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        include_str!("../../../../web-dash/index.html"),
        "text/html; charset=utf-8",
    ),
    (
        "style.css",
        include_str!("../../../../web-dash/style.css"),
        "text/css; charset=utf-8",
    ),
    (
        "favicon.svg",
        include_str!("../../../../web-dash/favicon.svg"),
        "image/svg+xml",
    ),
    ("app.js", include_str!("../../../../web-dash/app.js"), JS),
    ("api.js", include_str!("../../../../web-dash/api.js"), JS),
    ("ui.js", include_str!("../../../../web-dash/ui.js"), JS),
    (
        "hosts.js",
        include_str!("../../../../web-dash/hosts.js"),
        JS,
    ),
    (
        "settings.js",
        include_str!("../../../../web-dash/settings.js"),
        JS,
    ),
    (
        "accounts.js",
        include_str!("../../../../web-dash/accounts.js"),
        JS,
    ),
    (
        "overview.js",
        include_str!("../../../../web-dash/overview.js"),
        JS,
    ),
    (
        "consumers.js",
        include_str!("../../../../web-dash/consumers.js"),
        JS,
    ),
];

const JS: &str = "text/javascript; charset=utf-8";

/// The dashboard routes.
pub fn router() -> Router {
    let mut router = Router::new().route("/dash", get(|| async { Redirect::permanent("/dash/") }));
    for &(name, body, content_type) in ASSETS {
        let path = if name == "index.html" {
            "/dash/".to_owned()
        } else {
            format!("/dash/{name}")
        };
        router = router.route(&path, get(move || async move { asset(body, content_type) }));
    }
    router
}

/// A static file with its type; the page loads only its own scripts and styles.
fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
            ),
        ],
        body,
    )
        .into_response()
}
