//! Error answers in XRPC JSON everywhere: a layer that rewrites the router's own bodiless or
//! plain-text errors (unknown route, wrong method, extractor rejections, upgrade refusals) into
//! `{"error","message"}`, leaving the handlers' JSON errors as they are.

use axum::{
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::http::xrpc::XrpcError;

/// Longest original error text kept as the message.
const MAX_MESSAGE_BYTES: usize = 512;

/// Middleware: every 4xx/5xx answer that is not JSON becomes an XRPC JSON error with the same
/// status (and headers such as `Allow` or `WWW-Authenticate`).
pub async fn json_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES * 4)
        .await
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let (error, message) = describe(status, &path, &method, &parts.headers, text);
    let json = XrpcError::new(status, error, message).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let (_, body) = json.into_parts();
    Response::from_parts(parts, body)
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// The XRPC error name and message for a status the router produced.
fn describe(
    status: StatusCode,
    path: &str,
    method: &Method,
    headers: &axum::http::HeaderMap,
    text: String,
) -> (&'static str, String) {
    let fallback = || {
        if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned()
        } else {
            truncate(text.clone())
        }
    };
    match status {
        // The reference PDS's answer to an unknown XRPC method.
        StatusCode::NOT_FOUND if path.starts_with("/xrpc/") => {
            ("MethodNotImplemented", "Method Not Implemented".to_owned())
        }
        StatusCode::NOT_FOUND => ("NotFound", format!("no route {path}")),
        StatusCode::METHOD_NOT_ALLOWED => {
            let message = match headers.get(header::ALLOW).and_then(|v| v.to_str().ok()) {
                Some(allowed) => format!("{method} is not allowed on {path}; use {allowed}"),
                None => format!("{method} is not allowed on {path}"),
            };
            ("MethodNotAllowed", message)
        }
        StatusCode::UNAUTHORIZED => ("AuthenticationRequired", fallback()),
        StatusCode::FORBIDDEN => ("Forbidden", fallback()),
        StatusCode::REQUEST_TIMEOUT => ("RequestTimeout", fallback()),
        StatusCode::PAYLOAD_TOO_LARGE => ("PayloadTooLarge", fallback()),
        StatusCode::TOO_MANY_REQUESTS => ("RateLimitExceeded", fallback()),
        StatusCode::SERVICE_UNAVAILABLE => ("ServiceUnavailable", fallback()),
        s if s.is_client_error() => ("InvalidRequest", fallback()),
        _ => ("InternalServerError", "internal server error".to_owned()),
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
