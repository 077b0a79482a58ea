//! [`GuardedRepoSource`]: the collection crawl's two PDS queries
//! (`com.atproto.sync.listRepos` and `com.atproto.sync.getRepo`) over the one guarded outbound
//! client ([`crate::engine::outbound`]), as the [`RepoSource`] the relay gives its
//! [`atrelay_collections::Backfill`].
//!
//! Every request goes through [`Outbound`]: in production no loopback or private address, no
//! plain http, no port, no proxy; no redirect is followed (a `3xx` is a failure). Bodies are
//! bounded: a `listRepos` page at 16 MiB, a repository CAR at `max_car_bytes` (refused before
//! reading when `content-length` says so, abandoned mid-stream otherwise). Of a failed answer
//! only the status and the XRPC error name are kept, never the body's text.

use std::time::Duration;

use atrelay_collections::{FetchError, ListReposPage, RepoSource, SourceFuture};
use serde::Deserialize;

use crate::engine::outbound::{HttpClient, Outbound};

/// Default largest repository CAR the crawl downloads (`--collection-backfill-max-repo-bytes`):
/// 256 MiB.
pub const DEFAULT_MAX_CAR_BYTES: usize = 256 << 20;

/// Largest `listRepos` page body read.
const MAX_PAGE_BYTES: usize = 16 << 20;
/// Largest error body read (only its XRPC error name is kept).
const MAX_ERROR_BYTES: usize = 16 << 10;

#[derive(Deserialize)]
struct XrpcError {
    #[serde(default)]
    error: String,
}

/// The crawl's PDS client, going out through the guarded dialler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct GuardedRepoSource {
    http: HttpClient,
    max_car_bytes: usize,
}

impl GuardedRepoSource {
    /// A source whose requests go through `outbound`, each bounded by `request_timeout`;
    /// repositories above `max_car_bytes` are refused.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (TLS backend).
    pub fn new(
        outbound: &Outbound,
        request_timeout: Duration,
        max_car_bytes: usize,
    ) -> Result<Self, reqwest::Error> {
        let builder = reqwest::Client::builder()
            .timeout(request_timeout)
            // The component crawling, as before the client moved here from the collections crate.
            .user_agent(concat!("atrelay-collections/", env!("CARGO_PKG_VERSION")));
        Ok(Self {
            http: outbound.http_client(builder)?,
            max_car_bytes,
        })
    }

    /// `GET {base}/xrpc/com.atproto.sync.listRepos?limit=&cursor=`.
    async fn list(
        &self,
        base: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<ListReposPage, FetchError> {
        let mut request = self
            .http
            .get(&format!("{base}/xrpc/com.atproto.sync.listRepos"))
            .map_err(|e| FetchError::Refused(e.to_string()))?
            .query(&[("limit", limit.to_string())]);
        if let Some(cursor) = cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let response = check(send(request).await?).await?;
        let body = read_limited(response, MAX_PAGE_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Malformed(e.to_string()))
    }

    /// `GET {base}/xrpc/com.atproto.sync.getRepo?did=`: the whole repository CAR, read as a
    /// stream and abandoned as soon as it passes `max_car_bytes`.
    async fn get(&self, base: &str, did: &str) -> Result<Vec<u8>, FetchError> {
        let request = self
            .http
            .get(&format!("{base}/xrpc/com.atproto.sync.getRepo"))
            .map_err(|e| FetchError::Refused(e.to_string()))?
            .query(&[("did", did)]);
        let response = check(send(request).await?).await?;
        read_limited(response, self.max_car_bytes).await
    }
}

impl RepoSource for GuardedRepoSource {
    fn check_url(&self, base_url: &str) -> Result<(), String> {
        self.http
            .outbound()
            .check_url(base_url)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn list_repos<'a>(
        &'a self,
        base_url: &'a str,
        limit: u16,
        cursor: Option<&'a str>,
    ) -> SourceFuture<'a, ListReposPage> {
        Box::pin(self.list(base_url, limit, cursor))
    }

    fn get_repo<'a>(&'a self, base_url: &'a str, did: &'a str) -> SourceFuture<'a, Vec<u8>> {
        Box::pin(self.get(base_url, did))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, FetchError> {
    request.send().await.map_err(transport)
}

/// A transport error as a short reason; the guard's refusal when that is the cause.
fn transport(err: reqwest::Error) -> FetchError {
    match atrelay_net::refusal(&err) {
        Some(refused) if refused.is_refusal() => FetchError::Refused(refused.to_string()),
        _ => FetchError::Http(atrelay_net::describe(&err)),
    }
}

/// Turns a non-2xx response (a redirect included: none is followed) into
/// [`FetchError::Xrpc`] with the status and, when the body is an XRPC error, its name. The
/// body itself is not kept: a foreign server's text never reaches logs or `lastError`.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, FetchError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_limited(response, MAX_ERROR_BYTES)
        .await
        .unwrap_or_default();
    let error = serde_json::from_slice::<XrpcError>(&body)
        .ok()
        .map(|e| e.error)
        .filter(|name| {
            !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .unwrap_or_default();
    Err(FetchError::Xrpc {
        status: status.as_u16(),
        error,
    })
}

/// Reads a body chunk by chunk, refusing it as soon as it passes `limit` bytes (before, when
/// `content-length` already says so): at most `limit` bytes are ever held.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
