//! The relay's integration tests, one binary (`cargo test -p atrelay --test it`), one module per
//! topic. Each module's own doc says what it proves; `support` holds the shared harness
//! (`TestRelay` on SQLite or PostgreSQL, websocket helpers, the real-binary `process::Relay`).
//! `tests/tracing.rs` is the one test kept in a binary of its own: it installs the
//! process-wide tracing subscriber.

#[macro_use]
mod support;

mod admin;
mod collections;
mod configuration;
mod container;
mod crash;
mod crawl_script;
mod dev_mode;
mod dropin;
mod edge;
mod firehose;
mod http;
mod ingest;
mod lifecycle;
mod metrics;
mod outbound;
mod pull_hosts;
mod replay_window;
mod scenarios;
mod splitter;
mod third_party_consumer;
