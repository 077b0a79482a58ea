//! Integration tests of atrelay-identity against a local HTTP server that plays a PLC
//! directory and did:web hosts. Only loopback is touched.

mod cache;
mod outbound;
mod resolve;
mod server;
