//! Integration tests of the collection index, its backfill and its HTTP routes.

mod backfill;
mod common;
mod http;
mod index;
mod outbound;
mod pagination;
