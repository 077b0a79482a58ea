//! Fetching DID documents over HTTP(S) from a PLC directory or a did:web host.

use std::sync::Arc;
use std::time::Duration;

use atrelay_net::{HttpClient, Outbound};
use reqwest::StatusCode;
use tokio::sync::Semaphore;

use crate::locate::{document_url, DidMethod};
use crate::{Identity, ResolveError, ResolveFuture, Resolver};

/// The public PLC directory.
pub const DEFAULT_PLC_URL: &str = "https://plc.directory";

/// Settings of an [`HttpResolver`].
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Base URL of the PLC directory (default [`DEFAULT_PLC_URL`]); a replica works too.
    pub plc_url: String,
    /// Limit on one whole request, connection to last body byte (default 10 s).
    pub timeout: Duration,
    /// Limit on establishing the connection (default 5 s).
    pub connect_timeout: Duration,
    /// Largest document accepted, in bytes (default 64 KiB; real documents are about 1 KiB).
    pub max_document_bytes: usize,
    /// Development mode: did:web may name a port and is fetched over plain `http://`, and
    /// loopback and private addresses may be dialled ([`Outbound`] in dev mode). Never enable
    /// it in production.
    pub dev_mode: bool,
    /// The `User-Agent` header sent with every request.
    pub user_agent: String,
    /// Most requests in flight at once across all DIDs (default 64), so a burst of unknown
    /// accounts cannot flood the PLC directory. Waiting for a slot counts against `timeout`.
    pub max_concurrent_requests: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            plc_url: DEFAULT_PLC_URL.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_document_bytes: 64 * 1024,
            dev_mode: false,
            user_agent: concat!("atrelay/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_concurrent_requests: 64,
        }
    }
}

/// Resolves DIDs by fetching their documents: `GET <plc_url>/<did>` for did:plc and
/// `GET https://<host>/.well-known/did.json` for did:web. No caching; wrap it in a
/// [`crate::CachingResolver`].
#[derive(Debug, Clone)]
pub struct HttpResolver {
    /// The settings, shared by clones.
    config: Arc<ResolverConfig>,
    /// The guarded HTTP client (connection pool shared by clones).
    client: HttpClient,
    /// Slots for requests in flight, shared by clones.
    slots: Arc<Semaphore>,
}

impl HttpResolver {
    /// Builds a resolver and its HTTP client, going out through the [`Outbound`] policy
    /// (dev mode when `config.dev_mode`): in production only public addresses over https,
    /// and never a redirect.
    ///
    /// # Errors
    /// A [`reqwest::Error`] when the TLS backend cannot be initialised.
    pub fn new(config: ResolverConfig) -> Result<Self, reqwest::Error> {
        HttpResolver::with_outbound(config.clone(), Outbound::new(config.dev_mode))
    }

    /// As [`HttpResolver::new`], with another policy (tests give one with a fake DNS).
    ///
    /// # Errors
    /// A [`reqwest::Error`] when the TLS backend cannot be initialised.
    pub fn with_outbound(
        config: ResolverConfig,
        outbound: Outbound,
    ) -> Result<Self, reqwest::Error> {
        let builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone());
        Ok(HttpResolver {
            client: outbound.http_client(builder)?,
            slots: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
            config: Arc::new(config),
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &ResolverConfig {
        &self.config
    }

    async fn fetch(&self, did: &str) -> Result<Arc<Identity>, ResolveError> {
        let method = DidMethod::of(did)?;
        let url = document_url(did, &self.config.plc_url, self.config.dev_mode)?;
        let http_err = |status: Option<u16>, message: String| ResolveError::Http {
            did: did.to_owned(),
            status,
            message,
        };
        let map_transport = |err: reqwest::Error| {
            if let Some(refused) = atrelay_net::refusal(&err) {
                ResolveError::Refused {
                    did: did.to_owned(),
                    reason: refused.to_string(),
                }
            } else if err.is_timeout() {
                ResolveError::Timeout {
                    did: did.to_owned(),
                }
            } else {
                http_err(
                    err.status().map(|s| s.as_u16()),
                    atrelay_net::describe(&err),
                )
            }
        };
        let request = self
            .client
            .get(&url)
            .map_err(|refused| ResolveError::Refused {
                did: did.to_owned(),
                reason: refused.to_string(),
            })?;

        // The semaphore is never closed, so acquiring fails only by timing out.
        let _slot = match tokio::time::timeout(self.config.timeout, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => {
                return Err(ResolveError::Timeout {
                    did: did.to_owned(),
                })
            }
        };
        let mut response = request
            .header(
                reqwest::header::ACCEPT,
                "application/did+json, application/json",
            )
            .send()
            .await
            .map_err(map_transport)?;

        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(ResolveError::NotFound {
                    did: did.to_owned(),
                })
            }
            StatusCode::GONE if method == DidMethod::Plc => {
                return Err(ResolveError::Tombstoned {
                    did: did.to_owned(),
                })
            }
            StatusCode::GONE => {
                return Err(ResolveError::NotFound {
                    did: did.to_owned(),
                })
            }
            other => {
                return Err(http_err(
                    Some(other.as_u16()),
                    format!("unexpected HTTP status {other}"),
                ))
            }
        }

        let limit = self.config.max_document_bytes;
        let too_large = || ResolveError::TooLarge {
            did: did.to_owned(),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large());
        }
        // Stream the body and stop as soon as it passes the limit, whatever the headers said.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_transport)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Identity::from_document(did, &body).map(Arc::new)
    }
}

impl Resolver for HttpResolver {
    fn resolve<'a>(&'a self, did: &'a str) -> ResolveFuture<'a> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = self.fetch(did).await;
            match &result {
                Ok(_) => tracing::debug!(
                    did,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "resolved DID"
                ),
                Err(err) => tracing::debug!(did, error = %err, "DID resolution failed"),
            }
            result
        })
    }
}
