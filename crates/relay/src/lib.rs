//! The atrelay service: configuration, the HTTP server and its handlers.
//!
//! The binary in `main.rs` only parses the command line and calls into this crate; [`app`]
//! assembles the relay.
#![deny(missing_docs)]

pub mod admin;
pub mod api;
pub mod app;
pub mod cli;
pub mod collection_crawl;
pub mod collection_feed;
pub mod config;
pub mod consumers;
pub mod dash;
pub mod edge;
pub mod firehose;
pub mod health;
pub mod ingest;
pub mod logging;
pub mod metrics;
pub mod outbound;
pub mod pull_hosts;
pub mod redact;
pub mod server;
pub mod state;
pub mod tasks;
pub mod xrpc;
