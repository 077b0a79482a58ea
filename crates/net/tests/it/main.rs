//! The network crate against real loopback servers.

mod http;
