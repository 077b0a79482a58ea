//! Integration tests of the event log, as one test binary.

mod basic;
mod crash;
mod readers;
mod recovery;
mod retention;
mod takedowns;
mod util;
