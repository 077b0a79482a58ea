//! The atrelay service. [`http`] is the edge (routes, admin, firehose endpoint), [`engine`] the
//! work behind it (ingest, outbound, consumers, the collection feed), [`app`] wires the two.
//!
//! The binary in `main.rs` only parses the command line and calls into this crate; [`app`]
//! assembles the relay.
#![deny(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod pull_hosts;
pub mod redact;
pub mod splitter;
pub mod state;
