//! HTTP handlers of the public API, one module per group of endpoints.

pub mod collections;
pub mod crawl;
pub mod hosts;
pub mod params;
pub mod repos;
