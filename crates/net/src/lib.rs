//! The relay's one guarded way out. Every outbound connection the relay makes to a host that
//! someone else named (an upstream PDS, a `requestCrawl` hostname, a collection crawl URL, a
//! did:web host, the PLC directory) goes through an [`Outbound`] policy:
//!
//! - [`is_public`] says which addresses a production relay may dial;
//! - [`Outbound::resolve`] resolves a name once and refuses it whole if any address is not
//!   public; [`Outbound::connect`] then dials only a checked address (no second lookup, so DNS
//!   rebinding cannot slip a private address in between);
//! - [`Outbound::http_client`] builds a reqwest client that resolves through the same policy,
//!   checks IP-literal URLs before sending ([`Outbound::check_url`]), follows no redirects and
//!   ignores proxy settings from the environment.
//!
//! Dev mode (`Outbound::new(true)`, the relay's `--allow-insecure-hosts`) allows loopback and
//! private addresses, ports and plain `http`/`ws`.
//!
//! A separate crate because identity, collections and the relay all dial out and none of the
//! first two may depend on the relay.
#![deny(missing_docs)]

mod addr;
mod dial;
mod http;

pub use addr::is_public;
pub use dial::{split_host_port, Lookup, LookupFuture, Outbound, OutboundError, SystemLookup};
pub use http::{describe, error_chain, refusal, HttpClient};
