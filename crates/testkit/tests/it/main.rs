//! Integration tests of the testkit: repositories against the proof checker, the fake PDS
//! over real sockets, misbehaviours, the directory and the load generator.

mod directory;
mod firehose;
mod load;
mod misbehave;
mod repo;
mod scenario;
mod util;
mod xrpc;
