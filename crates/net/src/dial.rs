//! [`Outbound`]: the policy every outbound connection goes through, and its TCP dialler.
//!
//! A name is resolved once, every address it resolves to is checked, and the connection goes
//! to a checked address: nothing is resolved a second time between the check and the
//! connect, so a name cannot pass the check with a public address and then be dialled at a
//! private one (DNS rebinding). In production a name with any non-public address
//! ([`crate::is_public`]) is refused whole, as is such an IP literal; dev mode allows every
//! address.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::addr::is_public;

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

/// Why an outbound connection was not made. The messages are short and never contain
/// anything the remote side sent.
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
    /// The URL is not one a production relay dials (scheme, port, or not a URL at all).
    #[error("refused URL {url}: {reason}")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
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

impl OutboundError {
    /// True when the policy refused the target (as opposed to the network failing): retrying
    /// will not help.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            OutboundError::NonPublic { .. } | OutboundError::Refused { .. }
        )
    }
}

/// The outbound policy: which addresses may be dialled, and how names are resolved. Cheap to
/// clone.
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

impl Default for Outbound {
    /// The production policy with the system resolver.
    fn default() -> Self {
        Outbound::new(false)
    }
}

impl Outbound {
    /// The policy with the system resolver; `allow_private` is dev mode
    /// (`--allow-insecure-hosts`): every address, any port and plain `http`/`ws`.
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

    /// Whether non-public addresses, ports and plain schemes are allowed (dev mode).
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Whether `ip` may be dialled under this policy.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Resolves `host` (a DNS name, an IP literal, or a bracketed IPv6 literal) once and
    /// checks every address; the addresses to connect to, in resolver order.
    ///
    /// # Errors
    /// [`OutboundError::NotFound`], or [`OutboundError::NonPublic`] in production when any
    /// address is not public.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        let bare = strip_brackets(host);
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
        if let Some(bad) = addrs.iter().find(|a| !self.allows(a.ip())) {
            return Err(OutboundError::NonPublic {
                host: host.to_owned(),
                addr: bad.ip(),
            });
        }
        Ok(addrs)
    }

    /// Resolves and checks `host` as [`Outbound::resolve`] does, then opens a TCP connection
    /// to the first checked address that answers within `timeout`.
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
}

/// `::1` for `[::1]`; anything else unchanged.
fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
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
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers every name with fixed addresses and counts lookups.
    pub(crate) struct FixedLookup {
        addrs: Vec<IpAddr>,
        pub(crate) calls: AtomicUsize,
    }

    impl FixedLookup {
        pub(crate) fn new(addrs: &[&str]) -> Arc<FixedLookup> {
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
            &["100.64.1.1"],
            &["0.0.0.0"],
            &["::1"],
            &["fe80::1"],
            &["fd00::1"],
            &["::ffff:127.0.0.1"],
            &["64:ff9b::7f00:1"],
            &["2002:7f00:1::1"],
            // One bad address spoils the name: the connection could go to any of them.
            &["93.184.216.34", "127.0.0.1"],
        ] {
            let outbound = Outbound::with_lookup(false, FixedLookup::new(addrs));
            let err = outbound.resolve("pds.example.com", 443).await.unwrap_err();
            assert!(
                matches!(err, OutboundError::NonPublic { .. }),
                "{addrs:?}: {err}"
            );
            assert!(err.is_refusal());
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
        for literal in ["127.0.0.1", "[::1]", "10.1.2.3", "::", "[::ffff:10.0.0.1]"] {
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
        // One lookup per connect: the checked answer is the one dialled.
        assert_eq!(lookup.calls.load(Ordering::SeqCst), 2);
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
