//! Outbound connections to hosts that others name (upstream PDSes, `requestCrawl` hostnames),
//! safe against server-side request forgery.
//!
//! A name is resolved once, every address it resolves to is checked, and the connection goes
//! to a checked address: nothing is resolved a second time between the check and the connect,
//! so a name cannot pass the check with a public address and then be dialled at a private one.
//! In production a name with any loopback, private, link-local, unspecified or otherwise
//! non-public address is refused whole (as is such an IP literal); dev mode
//! (`--allow-insecure-hosts`) allows every address.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

/// What a [`Lookup`] returns.
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;

/// Name resolution, replaceable so tests can make a public-looking name resolve anywhere.
pub trait Lookup: Send + Sync {
    /// The addresses of `host` (a DNS name), with `port` filled in.
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> LookupFuture<'a>;
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> LookupFuture<'a> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// Why an outbound connection was not made.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The name does not resolve, or to no address.
    #[error("{host} does not resolve: {detail}")]
    NotFound {
        /// The name.
        host: String,
        /// The resolver's answer.
        detail: String,
    },
    /// The name (or IP literal) has an address a production relay must not dial.
    #[error("{host} resolves to the non-public address {addr}")]
    NonPublic {
        /// The name.
        host: String,
        /// The first refused address.
        addr: IpAddr,
    },
    /// Every checked address refused the connection or timed out.
    #[error("connecting to {host} failed: {detail}")]
    Connect {
        /// The name.
        host: String,
        /// The last failure.
        detail: String,
    },
}

/// The outbound policy: which addresses may be dialled, and how names are resolved.
#[derive(Clone)]
pub struct Outbound {
    allow_private: bool,
    lookup: Arc<dyn Lookup>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// The policy with the system resolver; `allow_private` is dev mode.
    pub fn new(allow_private: bool) -> Outbound {
        Outbound::with_lookup(allow_private, Arc::new(SystemLookup))
    }

    /// The policy with another resolver.
    pub fn with_lookup(allow_private: bool, lookup: Arc<dyn Lookup>) -> Outbound {
        Outbound {
            allow_private,
            lookup,
        }
    }

    /// Whether non-public addresses may be dialled (dev mode).
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Resolves `host` (a DNS name, an IP literal, or a bracketed IPv6 literal) once and
    /// checks every address; the addresses to connect to, in resolver order.
    ///
    /// # Errors
    /// [`OutboundError::NotFound`], or [`OutboundError::NonPublic`] in production when any
    /// address is not public.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let addrs = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                self.lookup
                    .lookup(bare, port)
                    .await
                    .map_err(|e| OutboundError::NotFound {
                        host: host.to_owned(),
                        detail: e.to_string(),
                    })?
            }
        };
        if addrs.is_empty() {
            return Err(OutboundError::NotFound {
                host: host.to_owned(),
                detail: "no addresses".to_owned(),
            });
        }
        if !self.allow_private {
            if let Some(bad) = addrs
                .iter()
                .find(|a| !atrelay_identity::is_public_address(a.ip()))
            {
                return Err(OutboundError::NonPublic {
                    host: host.to_owned(),
                    addr: bad.ip(),
                });
            }
        }
        Ok(addrs)
    }

    /// Resolves and checks `host` as [`Outbound::resolve`] does, then opens a TCP connection to
    /// the first checked address that answers within `timeout`.
    ///
    /// # Errors
    /// As [`Outbound::resolve`], or [`OutboundError::Connect`] when no address answers.
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<TcpStream, OutboundError> {
        let addrs = self.resolve(host, port).await?;
        let mut detail = String::new();
        for addr in addrs {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => detail = format!("{addr}: {e}"),
                Err(_) => detail = format!("{addr}: timed out"),
            }
        }
        Err(OutboundError::Connect {
            host: host.to_owned(),
            detail,
        })
    }

    /// An HTTP client for requests to `host` on `port` that connects only to the addresses
    /// checked here (its own DNS is bypassed for `host`), follows no redirects and uses no
    /// proxy. Other settings come from `builder`.
    ///
    /// # Errors
    /// As [`Outbound::resolve`], or [`OutboundError::Connect`] when the client cannot be built.
    pub async fn http_client(
        &self,
        host: &str,
        port: u16,
        builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::Client, OutboundError> {
        let addrs = self.resolve(host, port).await?;
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let mut builder = builder
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if bare.parse::<IpAddr>().is_err() {
            builder = builder.resolve_to_addrs(bare, &addrs);
        }
        builder.build().map_err(|e| OutboundError::Connect {
            host: host.to_owned(),
            detail: e.to_string(),
        })
    }
}

/// Splits `host[:port]` (as hosts are stored: `pds.example.com`, `localhost:2583`,
/// `[::1]:2583`) into the host and the port, `default_port` when none is given.
pub fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((ip, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, port.parse().ok()?)),
        Some(_) => Some((authority, default_port)), // a bare IPv6 literal
        None => Some((authority, default_port)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers every name with fixed addresses and counts lookups.
    struct FixedLookup {
        addrs: Vec<IpAddr>,
        calls: AtomicUsize,
    }

    impl FixedLookup {
        fn new(addrs: &[&str]) -> Arc<FixedLookup> {
            Arc::new(FixedLookup {
                addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
                calls: AtomicUsize::new(0),
            })
        }
    }

    impl Lookup for FixedLookup {
        fn lookup<'a>(&'a self, _host: &'a str, port: u16) -> LookupFuture<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let addrs = self
                .addrs
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect();
            Box::pin(async move { Ok(addrs) })
        }
    }

    #[tokio::test]
    async fn production_refuses_names_resolving_to_non_public_addresses() {
        for addrs in [
            &["127.0.0.1"][..],
            &["10.0.0.7"],
            &["192.168.1.1"],
            &["169.254.169.254"],
            &["0.0.0.0"],
            &["::1"],
            &["fe80::1"],
            &["::ffff:127.0.0.1"],
            // One bad address spoils the name: the connection could go to any of them.
            &["93.184.216.34", "127.0.0.1"],
        ] {
            let outbound = Outbound::with_lookup(false, FixedLookup::new(addrs));
            let err = outbound.resolve("pds.example.com", 443).await.unwrap_err();
            assert!(
                matches!(err, OutboundError::NonPublic { .. }),
                "{addrs:?}: {err}"
            );
            let dev = Outbound::with_lookup(true, FixedLookup::new(addrs));
            assert_eq!(
                dev.resolve("pds.example.com", 443).await.unwrap().len(),
                addrs.len()
            );
        }
        let public = Outbound::with_lookup(false, FixedLookup::new(&["93.184.216.34"]));
        assert_eq!(
            public.resolve("pds.example.com", 443).await.unwrap(),
            vec!["93.184.216.34:443".parse().unwrap()]
        );
        let none = Outbound::with_lookup(true, FixedLookup::new(&[]));
        assert!(matches!(
            none.resolve("pds.example.com", 443).await,
            Err(OutboundError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn ip_literals_are_checked_without_a_lookup() {
        let lookup = FixedLookup::new(&["93.184.216.34"]);
        let outbound = Outbound::with_lookup(false, lookup.clone());
        for literal in ["127.0.0.1", "[::1]", "10.1.2.3", "::"] {
            assert!(
                matches!(
                    outbound.resolve(literal, 80).await,
                    Err(OutboundError::NonPublic { .. })
                ),
                "{literal}"
            );
        }
        assert_eq!(
            outbound.resolve("[2606:4700::1111]", 443).await.unwrap(),
            vec!["[2606:4700::1111]:443".parse().unwrap()]
        );
        assert_eq!(lookup.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn connect_dials_the_checked_address_and_resolves_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // A public-looking name whose DNS answer is loopback.
        let lookup = FixedLookup::new(&["127.0.0.1"]);
        let production = Outbound::with_lookup(false, lookup.clone());
        let err = production
            .connect("pds.example.com", port, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, OutboundError::NonPublic { .. }), "{err}");
        let dev = Outbound::with_lookup(true, lookup.clone());
        let stream = dev
            .connect("pds.example.com", port, Duration::from_secs(5))
            .await
            .unwrap();
        let (_accepted, from) = listener.accept().await.unwrap();
        assert_eq!(from, stream.local_addr().unwrap());
        assert_eq!(lookup.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn http_client_uses_the_checked_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            request
        });
        let lookup = FixedLookup::new(&["127.0.0.1"]);
        let production = Outbound::with_lookup(false, lookup.clone());
        assert!(matches!(
            production
                .http_client("pds.example.com", port, reqwest::Client::builder())
                .await,
            Err(OutboundError::NonPublic { .. })
        ));
        let dev = Outbound::with_lookup(true, lookup);
        let client = dev
            .http_client("pds.example.com", port, reqwest::Client::builder())
            .await
            .unwrap();
        let response = client
            .get(format!("http://pds.example.com:{port}/xrpc/_health"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204);
        let request = server.await.unwrap();
        assert!(request.contains("host: pds.example.com"), "{request}");
    }

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("pds.example.com", 443),
            Some(("pds.example.com", 443))
        );
        assert_eq!(
            split_host_port("localhost:2583", 443),
            Some(("localhost", 2583))
        );
        assert_eq!(split_host_port("[::1]:2583", 80), Some(("::1", 2583)));
        assert_eq!(split_host_port("[::1]", 80), Some(("::1", 80)));
        assert_eq!(split_host_port("::1", 80), Some(("::1", 80)));
        assert_eq!(split_host_port("localhost:http", 80), None);
    }
}
