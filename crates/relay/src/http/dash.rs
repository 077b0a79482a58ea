//! The operator dashboard at `/dash/`: the static files of `web-dash/`, compiled into the
//! binary. The page is public; everything it does goes through the authenticated `/admin/*`
//! API.

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};

const INDEX_HTML: &str = include_str!("../../../../web-dash/index.html");
const APP_JS: &str = include_str!("../../../../web-dash/app.js");
const STYLE_CSS: &str = include_str!("../../../../web-dash/style.css");

/// The dashboard routes.
pub fn router() -> Router {
    Router::new()
        .route("/dash", get(|| async { Redirect::permanent("/dash/") }))
        .route(
            "/dash/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/dash/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/dash/style.css",
            get(|| async { asset(STYLE_CSS, "text/css; charset=utf-8") }),
        )
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
