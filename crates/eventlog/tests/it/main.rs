//! Integration tests of the event log, as one test binary.

mod basic;
mod crash;
mod given_seq;
mod readers;
mod recovery;
mod retention;
mod takedowns;
mod util;
