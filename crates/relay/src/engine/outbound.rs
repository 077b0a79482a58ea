//! Outbound connections to hosts that others name (upstream PDSes, `requestCrawl` hostnames,
//! collection crawls, DID documents) all go through one policy, [`atrelay_net::Outbound`]:
//! resolve once, refuse non-public addresses (unless `--allow-insecure-hosts`), connect only
//! to the checked address, no redirects, no proxy. It lives in the `atrelay-net` crate so the
//! identity crate uses the same rule; this module re-exports it for the relay's own callers
//! (the upstream dial, the `describeServer` probe and the collection crawl's
//! [`crate::engine::repo_source`]).

pub use atrelay_net::{split_host_port, HttpClient, Outbound, OutboundError};
