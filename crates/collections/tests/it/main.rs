//! Integration tests of the collection index and its backfill (the HTTP routes and the
//! crawl's HTTP client are the relay's).

mod backfill;
mod common;
mod index;
mod pagination;
mod source;
