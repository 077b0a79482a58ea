//! Integration tests of atrelay-identity against testkit's `FakeDirectory`, which plays a PLC
//! directory and did:web hosts (with hostile replies where a test asks). Only loopback is
//! touched.

mod cache;
mod outbound;
mod resolve;
