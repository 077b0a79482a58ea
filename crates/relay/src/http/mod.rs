//! The edge of the relay: everything that speaks HTTP to the outside. The server and its accept
//! loop, the XRPC error shape, the public sync routes, the admin API, the firehose endpoint,
//! health checks, the dashboard's files and the Prometheus endpoint. Handlers read and drive
//! the [`crate::engine`] through [`crate::state::AppState`]; nothing here runs on its own.

pub mod admin;
pub mod api;
pub mod dash;
pub mod edge;
pub mod firehose;
pub mod health;
pub mod metrics;
pub mod server;
pub mod xrpc;
