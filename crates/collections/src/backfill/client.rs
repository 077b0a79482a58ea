//! The two PDS queries a crawl makes: `com.atproto.sync.listRepos` and
//! `com.atproto.sync.getRepo`.

use atrelay_net::HttpClient;
use serde::Deserialize;

use crate::error::FetchError;

/// One entry of `listRepos`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ListedRepo {
    /// The account.
    pub(crate) did: String,
    /// Whether the host says it is active (absent = active, as older PDSes omit it).
    #[serde(default)]
    pub(crate) active: Option<bool>,
}

/// One page of `listRepos`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ReposPage {
    /// The accounts.
    pub(crate) repos: Vec<ListedRepo>,
    /// The next page's cursor.
    #[serde(default)]
    pub(crate) cursor: Option<String>,
}

#[derive(Deserialize)]
struct XrpcError {
    #[serde(default)]
    error: String,
}

/// Largest `listRepos` page body read.
const MAX_PAGE_BYTES: usize = 16 << 20;
/// Largest error body read (only its XRPC error name is kept).
const MAX_ERROR_BYTES: usize = 16 << 10;

/// A PDS HTTP client, going out through the guarded dialler ([`atrelay_net::Outbound`]).
#[derive(Debug, Clone)]
pub(crate) struct PdsClient {
    http: HttpClient,
    max_car_bytes: usize,
}

impl PdsClient {
    /// Wraps a guarded HTTP client; repositories above `max_car_bytes` are refused.
    pub(crate) fn new(http: HttpClient, max_car_bytes: usize) -> Self {
        Self {
            http,
            max_car_bytes,
        }
    }

    /// `GET {base}/xrpc/com.atproto.sync.listRepos?limit=&cursor=`.
    pub(crate) async fn list_repos(
        &self,
        base: &str,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<ReposPage, FetchError> {
        let mut request = self
            .http
            .get(&format!("{base}/xrpc/com.atproto.sync.listRepos"))?
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
    pub(crate) async fn get_repo(&self, base: &str, did: &str) -> Result<Vec<u8>, FetchError> {
        let request = self
            .http
            .get(&format!("{base}/xrpc/com.atproto.sync.getRepo"))?
            .query(&[("did", did)]);
        let response = check(send(request).await?).await?;
        read_limited(response, self.max_car_bytes).await
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
