//! What ingest counts: every drop by reason (with a rate-limited log line per reason), and what
//! it accepted, throttled, retried and restarted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why an upstream frame was not passed on. Every drop has exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The frame is larger than `atrelay_stream::MAX_FRAME_SIZE`.
    FrameTooLarge,
    /// The frame is not a valid event-stream frame.
    BadFrame,
    /// A text websocket message, or a frame of an unknown type.
    UnknownFrame,
    /// The upstream `seq` did not increase on this connection.
    SeqNotIncreasing,
    /// The event's DID is not a valid DID.
    BadDid,
    /// The DID could not be resolved.
    ResolveFailed,
    /// The DID document names another PDS than the host the event came from.
    WrongHost,
    /// The DID document has no usable `#atproto` signing key.
    NoSigningKey,
    /// A `#commit` or `#sync` for an account that is not active at the relay.
    InactiveAccount,
    /// The `rev` is not a valid TID.
    BadRev,
    /// The `rev` is not newer than the stored one (retransmission or roll-back).
    RevNotNewer,
    /// The `rev` is more than the allowed skew in the future.
    FutureRev,
    /// `blocks` or `ops` over the sync-1.1 limits.
    OverLimits,
    /// The signature does not verify, even after resolving the DID again.
    BadSignature,
    /// The commit is malformed or its MST proof fails.
    InvalidProof,
    /// Strict mode: a commit for a known repository without `prevData`.
    MissingPrevData,
    /// The relay could not store the event.
    Internal,
}

impl DropReason {
    /// Every reason, in declaration order (the index is the counter slot).
    pub const ALL: [DropReason; 17] = [
        DropReason::FrameTooLarge,
        DropReason::BadFrame,
        DropReason::UnknownFrame,
        DropReason::SeqNotIncreasing,
        DropReason::BadDid,
        DropReason::ResolveFailed,
        DropReason::WrongHost,
        DropReason::NoSigningKey,
        DropReason::InactiveAccount,
        DropReason::BadRev,
        DropReason::RevNotNewer,
        DropReason::FutureRev,
        DropReason::OverLimits,
        DropReason::BadSignature,
        DropReason::InvalidProof,
        DropReason::MissingPrevData,
        DropReason::Internal,
    ];

    /// The metric label of this reason.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::FrameTooLarge => "frame-too-large",
            DropReason::BadFrame => "bad-frame",
            DropReason::UnknownFrame => "unknown-frame",
            DropReason::SeqNotIncreasing => "seq-not-increasing",
            DropReason::BadDid => "bad-did",
            DropReason::ResolveFailed => "resolve-failed",
            DropReason::WrongHost => "wrong-host",
            DropReason::NoSigningKey => "no-signing-key",
            DropReason::InactiveAccount => "inactive-account",
            DropReason::BadRev => "bad-rev",
            DropReason::RevNotNewer => "rev-not-newer",
            DropReason::FutureRev => "future-rev",
            DropReason::OverLimits => "over-limits",
            DropReason::BadSignature => "bad-signature",
            DropReason::InvalidProof => "invalid-proof",
            DropReason::MissingPrevData => "missing-prev-data",
            DropReason::Internal => "internal",
        }
    }

    /// Whether the drop is the host's fault (a malformed, forged or out-of-order event), as
    /// opposed to the account's status or the relay's own trouble: such drops break a host's
    /// good standing (see `limits::AccountLimitGrowth`).
    pub fn blames_host(self) -> bool {
        !matches!(
            self,
            DropReason::UnknownFrame
                | DropReason::ResolveFailed
                | DropReason::InactiveAccount
                | DropReason::Internal
        )
    }

    fn index(self) -> usize {
        DropReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// Counters of what ingest did: drops by reason, accepted events and the other outcomes, as
/// plain atomics for the metrics layer to read.
#[derive(Debug, Default)]
pub struct IngestCounters {
    drops: [AtomicU64; DropReason::ALL.len()],
    last_log_ms: [AtomicU64; DropReason::ALL.len()],
    suppressed: [AtomicU64; DropReason::ALL.len()],
    /// Valid commits whose `since`/`prevData` did not chain to the stored state (passed on,
    /// account marked desynchronized).
    pub discontinuities: AtomicU64,
    /// Events accepted and written to the event log.
    pub accepted: AtomicU64,
    /// Upstream `FutureCursor` errors recovered by restarting from live.
    pub future_cursor_resets: AtomicU64,
    /// The most events one host had in verification at once (more than one means different
    /// DIDs verified in parallel).
    pub peak_verifications_in_flight: AtomicU64,
    /// New accounts throttled because their host reached its account limit.
    pub throttled_new_accounts: AtomicU64,
    /// Accounts seen for the first time (indigo's `relay_new_users_discovered`).
    pub new_accounts: AtomicU64,
    /// Accounts let in again because their host's account limit rose.
    pub unthrottled_accounts: AtomicU64,
    /// Account limits raised by the growth rule.
    pub account_limit_growths: AtomicU64,
    /// Times a host's socket was left unread because it reached an event rate limit.
    pub rate_limit_pauses: AtomicU64,
    /// Batched store writes that failed and were retried (the database was unreachable).
    pub store_write_retries: AtomicU64,
    /// Host tasks restarted after a panic.
    pub host_task_restarts: AtomicU64,
}

/// At most one log line per reason in this many milliseconds.
const LOG_INTERVAL_MS: u64 = 1_000;

impl IngestCounters {
    /// Counts a drop and logs it, at most once a second per reason (the line says how many
    /// were not logged since the last one).
    pub fn record(&self, reason: DropReason, host: &str, did: Option<&str>, detail: &str) {
        let idx = reason.index();
        if let Some(counter) = self.drops.get(idx) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let (Some(last), Some(suppressed)) = (self.last_log_ms.get(idx), self.suppressed.get(idx))
        else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let previous = last.load(Ordering::Relaxed);
        if now.saturating_sub(previous) >= LOG_INTERVAL_MS
            && last
                .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let skipped = suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                reason = reason.label(),
                host,
                did = did.unwrap_or("-"),
                detail,
                similar_not_logged = skipped,
                "dropped upstream event"
            );
        } else {
            suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many events were dropped for `reason`.
    pub fn count(&self, reason: DropReason) -> u64 {
        self.drops
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every reason with its count, for a metrics endpoint.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL
            .iter()
            .map(|r| (r.label(), self.count(*r)))
            .collect()
    }
}
