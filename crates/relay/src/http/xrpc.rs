//! XRPC error responses: `{"error": "<Name>", "message": "..."}` with the status the lexicons
//! and indigo use, built in one place so every handler answers the same way.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

/// An XRPC error: an HTTP status, a machine-readable name and a human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrpcError {
    /// HTTP status of the response.
    pub status: StatusCode,
    /// The lexicon error name, e.g. `RepoNotFound` or `InvalidRequest`.
    pub error: &'static str,
    /// A sentence for a human reading the response.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl XrpcError {
    /// A 400 `InvalidRequest`: the caller's parameters are wrong.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    /// A 500 `InternalServerError`; the detail belongs in the log, not the response.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "internal server error",
        )
    }

    /// An error with an explicit status and name.
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
        }
    }
}

impl IntoResponse for XrpcError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<atrelay_store::StoreError> for XrpcError {
    /// A store refusal of the caller's input (a malformed hostname, domain or argument) is a
    /// 400, not logged: anyone can send those at will. Any other store failure is the relay's
    /// fault: logged here with its detail, answered as a 500.
    fn from(error: atrelay_store::StoreError) -> Self {
        use atrelay_store::StoreError;
        match error {
            StoreError::InvalidHostname { .. }
            | StoreError::InvalidDomain { .. }
            | StoreError::InvalidArgument { .. } => XrpcError::invalid_request(error.to_string()),
            error => {
                tracing::error!(%error, "store query failed");
                XrpcError::internal()
            }
        }
    }
}
