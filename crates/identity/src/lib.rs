//! atproto identity for the relay: DID documents, did:plc and did:web resolution, and a
//! bounded cache.
//!
//! - [`Identity`] is what the relay needs from a DID document: the `#atproto` signing key
//!   ([`atrelay_repo::crypto::PublicKey`]), the `#atproto_pds` endpoint and host, and the
//!   claimed handle. [`Identity::from_document`] parses and checks a document.
//! - [`Resolver`] is the async interface the relay codes against. [`HttpResolver`] fetches
//!   documents from a PLC directory or a did:web host; [`CachingResolver`] wraps any resolver
//!   with a bounded TTL cache that coalesces concurrent lookups of one DID, caches failures
//!   briefly, can be purged per DID and counts hits, misses, errors and coalesced waits in
//!   [`CacheMetrics`]; [`StaticResolver`] serves fixed identities to tests.
//!
//! Errors ([`ResolveError`]) keep "the DID does not exist" ([`ResolveError::NotFound`],
//! [`ResolveError::Tombstoned`]) apart from "it could not be checked" (timeouts, HTTP
//! failures), so a timeout never reads as a missing account.
//!
//! ```no_run
//! use atrelay_identity::{CacheConfig, CachingResolver, HttpResolver, Resolver, ResolverConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let http = HttpResolver::new(ResolverConfig::default())?;
//! let resolver = CachingResolver::new(http, CacheConfig::default());
//! let ident = resolver.resolve("did:plc:ewvi7nxzyoun6zhxrhs64oiz").await?;
//! if let (Some(key), Some(host)) = (&ident.signing_key, &ident.pds_host) {
//!     println!("{} is hosted on {host} and signs with {key}", ident.did);
//! }
//! // On an #identity event for the account:
//! resolver.purge(&ident.did);
//! # Ok(())
//! # }
//! ```
//!
//! Every request goes out through the [`atrelay_net::Outbound`] policy: in production only
//! public addresses over https, no redirects, no proxy from the environment.
//!
//! Knows nothing of the relay, accounts or hosts; handles are read from documents but never
//! resolved (the relay does not need them verified).
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod cache;
mod document;
mod error;
mod http;
mod locate;
mod resolver;

pub use cache::{CacheConfig, CacheMetrics, CachingResolver};
pub use document::Identity;
pub use error::ResolveError;
pub use http::{HttpResolver, ResolverConfig, DEFAULT_PLC_URL};
pub use locate::{document_url, DidMethod};
pub use resolver::{ResolveFuture, Resolver, StaticResolver};
