//! The state every handler shares.

use std::sync::Arc;

use atrelay_eventlog::EventLog;
use atrelay_store::Store;

use crate::{config::FirehoseConfig, engine::consumers::Consumers, engine::ingest::Ingest};

/// Handles to the relay's parts, passed to every handler. Cloning is cheap: each part is a
/// reference-counted handle.
#[derive(Clone)]
pub struct AppState {
    /// Hosts, accounts, bans and settings.
    pub store: Store,
    /// The sequenced outbound event log the firehose serves.
    pub log: EventLog,
    /// Connected firehose consumers.
    pub consumers: Arc<Consumers>,
    /// How the firehose treats consumers.
    pub firehose: FirehoseConfig,
    /// The `(collection, DID)` index behind `listReposByCollection`.
    pub collections: atrelay_collections::CollectionIndex,
    /// Upstream subscriptions, verification and account state (`requestCrawl` adds hosts).
    pub ingest: Ingest,
    /// The collection index's crawler: started for every new host and on admin request.
    /// `None` leaves the index to live commits alone.
    pub backfill: Option<atrelay_collections::Backfill>,
    /// Background task states and readiness thresholds (`/_ready`, metrics).
    pub readiness: crate::engine::readiness::Readiness,
}
