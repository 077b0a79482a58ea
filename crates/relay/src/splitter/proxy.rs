//! The sync routes a splitter does not answer itself, passed to the upstream relay: the
//! request's path and query go as they came, the answer comes back with its status,
//! `Content-Type`, `Location` and body. Redirects are passed back, never followed (`getRepo`
//! answers with one to the account's PDS: the client follows it, not the splitter), and
//! answers larger than [`MAX_BODY_BYTES`] are refused.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::SplitterState;
use crate::http::xrpc::XrpcError;

/// Largest upstream answer passed on.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Largest `requestCrawl` body forwarded.
pub const MAX_CRAWL_BODY_BYTES: usize = 64 << 10;
/// Longest an upstream request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The routes proxied with `GET`.
pub const PROXIED_GETS: &[&str] = &[
    "/xrpc/com.atproto.sync.listRepos",
    "/xrpc/com.atproto.sync.getRepoStatus",
    "/xrpc/com.atproto.sync.getLatestCommit",
    "/xrpc/com.atproto.sync.listHosts",
    "/xrpc/com.atproto.sync.getHostStatus",
    "/xrpc/com.atproto.sync.getRepo",
    "/xrpc/com.atproto.sync.listReposByCollection",
];

/// The upstream's HTTP client: no redirects followed, no proxy from the environment.
///
/// # Errors
/// When the TLS backend cannot be set up.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .user_agent(concat!("atrelay-splitter/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// `GET` one of [`PROXIED_GETS`] at the upstream.
pub async fn get(State(state): State<SplitterState>, request: Request) -> Response {
    let url = upstream_url(&state, &request);
    forward(state.http.get(url)).await
}

/// `POST /xrpc/com.atproto.sync.requestCrawl`, forwarded to the upstream, which decides.
pub async fn request_crawl(
    State(state): State<SplitterState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_CRAWL_BODY_BYTES {
        return XrpcError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "InvalidRequest",
            format!("request body over {MAX_CRAWL_BODY_BYTES} bytes"),
        )
        .into_response();
    }
    let url = format!(
        "{}/xrpc/com.atproto.sync.requestCrawl",
        state.upstream.http_base
    );
    let mut request = state.http.post(url).body(body);
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    forward(request).await
}

fn upstream_url(state: &SplitterState, request: &Request) -> String {
    let path_and_query = request.uri().path_and_query().map_or("/", |p| p.as_str());
    format!("{}{path_and_query}", state.upstream.http_base)
}

/// Sends `request` and passes the answer back.
async fn forward(request: reqwest::RequestBuilder) -> Response {
    let upstream = match request.send().await {
        Ok(response) => response,
        Err(error) => return bad_gateway(format!("upstream request failed: {error}")),
    };
    let status = upstream.status();
    let mut headers = HeaderMap::new();
    for name in [
        header::CONTENT_TYPE,
        header::LOCATION,
        header::CACHE_CONTROL,
    ] {
        if let Some(value) = upstream.headers().get(&name) {
            headers.insert(name, value.clone());
        }
    }
    if upstream
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return bad_gateway(format!("upstream answer over {MAX_BODY_BYTES} bytes"));
    }
    let mut upstream = upstream;
    let mut body = Vec::new();
    loop {
        match upstream.chunk().await {
            Ok(None) => break,
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY_BYTES => {
                body.extend_from_slice(&chunk)
            }
            Ok(Some(_)) => {
                return bad_gateway(format!("upstream answer over {MAX_BODY_BYTES} bytes"))
            }
            Err(error) => return bad_gateway(format!("upstream answer broke off: {error}")),
        }
    }
    headers.insert(
        header::HeaderName::from_static("x-atrelay-splitter"),
        HeaderValue::from_static("proxied"),
    );
    (status, headers, body).into_response()
}

fn bad_gateway(message: String) -> Response {
    XrpcError::new(StatusCode::BAD_GATEWAY, "UpstreamFailure", message).into_response()
}
