//! The HTTP edge: what stands between the open network and the routes.
//!
//! - [`listen`]: the accept loop. Caps open connections (with a reserve that only admin and
//!   health requests may use), closes connections that stall before or between requests, and
//!   drains on shutdown.
//! - [`guard`]: per-request limits: concurrent requests per route class, the request-body
//!   deadline and size, and what a reserved connection may reach.
//! - [`errors`]: every error answer in XRPC JSON, including the router's own 404 and 405.
//! - [`fdlimit`]: raises the process's file-descriptor soft limit at start.
//! - [`loggate`]: rate-limited logging for events a client can trigger at will.

pub mod errors;
pub mod fdlimit;
pub mod guard;
pub mod listen;
pub mod loggate;

use std::time::Duration;

/// Every limit of the HTTP edge. The defaults suit a public relay; each has a flag.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// A request's headers must arrive within this time of its first byte (and a new
    /// connection's first request within this time of the accept).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no bytes moving for this long is closed.
    pub idle_timeout: Duration,
    /// A request body must arrive in full within this time.
    pub body_read_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most connections open at once for any route (websocket consumers included).
    pub max_connections: usize,
    /// Connections accepted past `max_connections` that may only reach admin and health routes.
    pub reserved_connections: usize,
    /// Most public requests (XRPC, firehose upgrades, dashboard files) handled at once.
    pub max_public_requests: usize,
    /// Most admin requests handled at once.
    pub max_admin_requests: usize,
    /// How long shutdown waits for open requests to finish.
    pub drain_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            max_body_bytes: 1 << 20,
            max_connections: 20_000,
            reserved_connections: 64,
            max_public_requests: 2_048,
            max_admin_requests: 64,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// How a connection was admitted by the accept loop; each request carries it as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within the public connection cap: every route.
    Public,
    /// In the reserve past the cap: admin and health routes only, one request per connection.
    Reserved,
}
