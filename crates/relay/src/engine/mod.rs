//! The engine of the relay: the long-running work behind the HTTP edge. Following upstream hosts
//! and verifying their events ([`ingest`]), the one guarded outbound client ([`outbound`]), the
//! registry of firehose consumers ([`consumers`]), feeding and crawling the collection index
//! ([`collection_feed`], [`collection_crawl`], and [`repo_source`], the crawl's two PDS queries
//! over the guarded client) and the registry every background loop reports to ([`tasks`]).
//! Nothing here knows about HTTP routes.

pub mod collection_crawl;
pub mod collection_feed;
pub mod consumers;
pub mod ingest;
pub mod outbound;
pub mod readiness;
pub mod repo_source;
pub mod tasks;
