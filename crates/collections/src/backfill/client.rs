//! The two PDS queries a crawl makes: `com.atproto.sync.listRepos` and
//! `com.atproto.sync.getRepo`.

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
    #[serde(default)]
    message: String,
}

/// A PDS HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct PdsClient {
    http: reqwest::Client,
    max_car_bytes: usize,
}

impl PdsClient {
    /// Wraps an HTTP client; repositories above `max_car_bytes` are refused.
    pub(crate) fn new(http: reqwest::Client, max_car_bytes: usize) -> Self {
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
            .get(format!("{base}/xrpc/com.atproto.sync.listRepos"))
            .query(&[("limit", limit.to_string())]);
        if let Some(cursor) = cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let response = check(request.send().await?).await?;
        let body = read_limited(response, 16 << 20).await?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Malformed(e.to_string()))
    }

    /// `GET {base}/xrpc/com.atproto.sync.getRepo?did=`: the whole repository CAR.
    pub(crate) async fn get_repo(&self, base: &str, did: &str) -> Result<Vec<u8>, FetchError> {
        let request = self
            .http
            .get(format!("{base}/xrpc/com.atproto.sync.getRepo"))
            .query(&[("did", did)]);
        let response = check(request.send().await?).await?;
        read_limited(response, self.max_car_bytes).await
    }
}

/// Turns a non-2xx response into [`FetchError::Xrpc`].
async fn check(response: reqwest::Response) -> Result<reqwest::Response, FetchError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_limited(response, 64 << 10).await.unwrap_or_default();
    let parsed: Option<XrpcError> = serde_json::from_slice(&body).ok();
    let (error, message) = match parsed {
        Some(e) => (e.error, e.message),
        None => (String::new(), String::from_utf8_lossy(&body).into_owned()),
    };
    Err(FetchError::Xrpc {
        status: status.as_u16(),
        error,
        message,
    })
}

/// Reads a body, refusing more than `limit` bytes.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
