//! Per-request limits, applied to every route by [`crate::http::edge::listen::serve`]: concurrent
//! requests per route class (a full class answers 503 at once rather than queueing), what a
//! connection in the reserve may reach, and the deadline and size of request bodies.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Admission, EdgeLimits};
use crate::http::xrpc::XrpcError;

/// Which share of the server a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// Liveness and readiness checks: cheap, never limited, reachable from the reserve.
    Health,
    /// `/admin/*` and the dashboard: reachable from the reserve.
    Admin,
    /// Everything else: XRPC queries, `requestCrawl`, firehose upgrades.
    Public,
}

impl RouteClass {
    /// The class of a request path.
    pub fn of(path: &str) -> RouteClass {
        if path.starts_with("/_") || path.starts_with("/xrpc/_") {
            RouteClass::Health
        } else if path == "/admin"
            || path.starts_with("/admin/")
            || path == "/dash"
            || path.starts_with("/dash/")
        {
            RouteClass::Admin
        } else {
            RouteClass::Public
        }
    }
}

/// The shared state of the guard: the limits and one semaphore per limited class.
#[derive(Debug, Clone)]
pub struct Guard {
    limits: Arc<EdgeLimits>,
    public: Arc<Semaphore>,
    admin: Arc<Semaphore>,
}

impl Guard {
    /// A guard enforcing `limits`.
    pub fn new(limits: &EdgeLimits) -> Guard {
        Guard {
            public: Arc::new(Semaphore::new(limits.max_public_requests)),
            admin: Arc::new(Semaphore::new(limits.max_admin_requests)),
            limits: Arc::new(limits.clone()),
        }
    }

    fn permit(&self, class: RouteClass) -> Result<Option<OwnedSemaphorePermit>, XrpcError> {
        let semaphore = match class {
            RouteClass::Health => return Ok(None),
            RouteClass::Admin => &self.admin,
            RouteClass::Public => &self.public,
        };
        semaphore
            .clone()
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| {
                XrpcError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "the relay is handling its limit of requests of this kind; try again shortly",
                )
            })
    }
}

/// Middleware: refuses what the reserve may not reach, takes a permit of the request's class,
/// and reads a request body in full, within the deadline and size, before the handler runs.
pub async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let class = RouteClass::of(request.uri().path());
    let admission = request
        .extensions()
        .get::<Admission>()
        .copied()
        .unwrap_or(Admission::Public);
    if admission == Admission::Reserved && class == RouteClass::Public {
        return closing(XrpcError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the relay serves its limit of connections; try again later",
        ));
    }
    let _permit = match guard.permit(class) {
        Ok(permit) => permit,
        Err(error) => return error.into_response(),
    };
    let request = if has_body(&request) {
        match read_body(&guard.limits, request).await {
            Ok(request) => request,
            Err(refusal) => return refusal,
        }
    } else {
        request
    };
    next.run(request).await
}

/// Whether the request may carry a body worth reading.
fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
        || !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        )
}

/// Reads the body within the deadline and the size limit; the refusals close the connection,
/// since the rest of an unread body would otherwise be parsed as the next request.
async fn read_body(limits: &EdgeLimits, request: Request) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
        Ok(Err(error)) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            Err(closing(if too_large {
                XrpcError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    format!("the request body exceeds {} bytes", limits.max_body_bytes),
                )
            } else {
                XrpcError::invalid_request(format!("the request body could not be read: {error}"))
            }))
        }
        Err(_) => Err(closing(XrpcError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "the request body did not arrive within {} s",
                limits.body_read_timeout.as_secs_f64()
            ),
        ))),
    }
}

/// The error with `Connection: close`.
fn closing(error: XrpcError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_classes() {
        assert_eq!(RouteClass::of("/xrpc/_health"), RouteClass::Health);
        assert_eq!(RouteClass::of("/_health"), RouteClass::Health);
        assert_eq!(RouteClass::of("/admin/pds/list"), RouteClass::Admin);
        assert_eq!(RouteClass::of("/dash/"), RouteClass::Admin);
        assert_eq!(RouteClass::of("/administrator"), RouteClass::Public);
        assert_eq!(
            RouteClass::of("/xrpc/com.atproto.sync.listHosts"),
            RouteClass::Public
        );
    }
}
