//! [`HttpClient`]: reqwest, going out only through an [`Outbound`] policy.
//!
//! Names are resolved by a [`reqwest::dns::Resolve`] that asks the policy, so the client
//! connects only to addresses checked in that same lookup (no second resolution); IP-literal
//! URLs, which reqwest never resolves, are checked before the request is built. Redirects are
//! not followed (a `3xx` is returned to the caller as it is), and no proxy is taken from the
//! environment (`HTTP_PROXY` and friends). In production only `https` URLs without an
//! explicit port are allowed.

use std::error::Error;
use std::net::IpAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::dial::{Outbound, OutboundError};

/// Resolves for reqwest through the policy.
struct GuardedDns(Outbound);

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let outbound = self.0.clone();
        Box::pin(async move {
            // reqwest sets the port on the answers itself.
            let addrs = outbound.resolve(name.as_str(), 0).await?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client whose every request goes through the [`Outbound`] policy. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    outbound: Outbound,
}

impl HttpClient {
    /// A `GET` of `url` after [`Outbound::check_url`].
    ///
    /// # Errors
    /// [`OutboundError::Refused`] or [`OutboundError::NonPublic`] for a URL the policy does
    /// not dial.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, OutboundError> {
        let url = self.outbound.check_url(url)?;
        Ok(self.client.get(url))
    }

    /// The policy.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }
}

impl Outbound {
    /// An HTTP client with `builder`'s settings (timeouts, user agent) that resolves through
    /// this policy, follows no redirects and uses no proxy.
    ///
    /// # Errors
    /// A [`reqwest::Error`] when the client cannot be built (TLS backend).
    pub fn http_client(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> Result<HttpClient, reqwest::Error> {
        let client = builder
            .dns_resolver(Arc::new(GuardedDns(self.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(!self.allows_private())
            .build()?;
        Ok(HttpClient {
            client,
            outbound: self.clone(),
        })
    }

    /// Checks a URL before anything is dialled: `http(s)`/`ws(s)` only, and in production
    /// `https`/`wss` without an explicit port and, for an IP-literal host, a public address.
    /// DNS names are checked when they are resolved.
    ///
    /// # Errors
    /// [`OutboundError::Refused`] or [`OutboundError::NonPublic`].
    pub fn check_url(&self, url: &str) -> Result<Url, OutboundError> {
        let refused = |reason| OutboundError::Refused {
            url: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|_| refused("not a URL"))?;
        let secure = match parsed.scheme() {
            "https" | "wss" => true,
            "http" | "ws" => false,
            _ => return Err(refused("only http(s) and ws(s) URLs are dialled")),
        };
        let dev = self.allows_private();
        if !secure && !dev {
            return Err(refused("plain http/ws is allowed only in dev mode"));
        }
        if parsed.port().is_some() && !dev {
            return Err(refused("a port is allowed only in dev mode"));
        }
        let ip: Option<IpAddr> = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => Some(v4.into()),
            Some(url::Host::Ipv6(v6)) => Some(v6.into()),
            Some(url::Host::Domain(_)) => None,
            None => return Err(refused("no host")),
        };
        if let Some(ip) = ip {
            if !self.allows(ip) {
                return Err(OutboundError::NonPublic {
                    host: parsed.host_str().unwrap_or_default().to_owned(),
                    addr: ip,
                });
            }
        }
        Ok(parsed)
    }
}

/// The policy's refusal somewhere in `err`'s source chain (a reqwest error wraps the one our
/// resolver returned), if that is why it failed.
pub fn refusal<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a OutboundError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<OutboundError>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// A short, one-line description of a failed request: the policy's refusal when that is the
/// cause, else the error and its sources (reqwest's top-level message is often vague).
/// Never contains a response body.
pub fn describe(err: &reqwest::Error) -> String {
    if let Some(refused) = refusal(err) {
        return refused.to_string();
    }
    if err.is_timeout() {
        return "timed out".to_owned();
    }
    error_chain(err)
}

/// The error and its sources on one line.
pub fn error_chain(err: &dyn Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}
