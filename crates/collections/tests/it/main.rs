//! Integration tests of the collection index and its backfill (the HTTP routes are the relay's).

mod backfill;
mod common;
mod index;
mod outbound;
mod pagination;
