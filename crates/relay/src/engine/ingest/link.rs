//! What one host's connection works with ([`Link`]: the shared ingest state and the host's own)
//! and why it ended ([`End`]); shared by the read loop, the pipeline and the store batches.

use std::sync::{Arc, Mutex};

use super::health::HostLink;
use super::host::HostContext;
use super::ratelimit::HostLimiter;
use super::Inner;

/// Why a connection ended.
pub(super) enum End {
    /// The relay is shutting down.
    Shutdown,
    /// The host sent `FutureCursor`: it was reset.
    FutureCursor,
    /// The connection failed or closed.
    Lost(String),
    /// The event log stopped taking events: nothing more can be ingested.
    LogFailed(String),
    /// The store did not answer while judging an event: it is read again after a backoff.
    StoreUnavailable(String),
    /// The host's row is gone from the store (deleted by an operator).
    HostGone,
}

/// What a connection works with: the shared ingest state and its host's.
#[derive(Clone, Copy)]
pub(super) struct Link<'a> {
    pub(super) inner: &'a Inner,
    pub(super) ctx: &'a Arc<HostContext>,
    pub(super) limiter: &'a Mutex<HostLimiter>,
    pub(super) health: &'a HostLink,
}
