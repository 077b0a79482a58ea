//! [`DirectoryReply`]: a canned, possibly hostile, answer the directory gives for one DID instead of
//! its document.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// What [`FakeDirectory`](super::FakeDirectory) answers for a DID that has an override
/// ([`FakeDirectory::set_reply`](super::FakeDirectory::set_reply)), whatever is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryReply {
    /// `status` with `body` as `application/json`, sent after `delay`. A status outside
    /// 100..=999 is answered as 500.
    Plain {
        /// The HTTP status code.
        status: u16,
        /// The body, sent verbatim (it need not be JSON).
        body: String,
        /// How long to wait before answering.
        delay: Duration,
    },
    /// 200 with a body of `chunks` chunks of `chunk` spaces each, streamed without a
    /// `Content-Length`, so a client only learns its size by reading it.
    Stream {
        /// Bytes per chunk.
        chunk: usize,
        /// Number of chunks.
        chunks: usize,
    },
}

impl DirectoryReply {
    /// 200 with `body`, at once.
    pub fn ok(body: impl Into<String>) -> Self {
        Self::slow(body, Duration::ZERO)
    }

    /// `status` with the body `{"error":"status <status>"}`, at once.
    pub fn status(status: u16) -> Self {
        Self::Plain {
            status,
            body: format!("{{\"error\":\"status {status}\"}}"),
            delay: Duration::ZERO,
        }
    }

    /// 200 with `body`, after `delay`.
    pub fn slow(body: impl Into<String>, delay: Duration) -> Self {
        Self::Plain {
            status: 200,
            body: body.into(),
            delay,
        }
    }

    /// Waits as told, then builds the response.
    pub(super) async fn respond(self) -> Response {
        match self {
            Self::Plain {
                status,
                body,
                delay,
            } => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            Self::Stream { chunk, chunks } => {
                let piece = Bytes::from(vec![b' '; chunk]);
                let body = futures_util::stream::iter(
                    (0..chunks).map(move |_| Ok::<_, std::io::Error>(piece.clone())),
                );
                Response::new(Body::from_stream(body))
            }
        }
    }
}
