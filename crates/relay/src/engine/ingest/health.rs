//! What each followed host's task is doing right now, for operators (admin host list) and
//! readiness: connected, backing off after a failure, or retrying a store write.

use std::sync::Mutex;
use std::time::SystemTime;

use super::lock;

/// The state of one host's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Dialling the host.
    Connecting,
    /// Reading the host's firehose.
    Connected,
    /// Waiting before the next dial, after a failure.
    Backoff,
    /// Holding accepted events while the store does not take their write.
    StoreRetry,
    /// The task crashed and is being restarted.
    Restarting,
    /// The task ended (the host was removed or the event log failed).
    Stopped,
}

impl LinkState {
    /// The name shown in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Backoff => "backoff",
            LinkState::StoreRetry => "store-retry",
            LinkState::Restarting => "restarting",
            LinkState::Stopped => "stopped",
        }
    }
}

/// A host task's state, its detail and since when; shared by the task and the admin side.
#[derive(Debug)]
pub struct HostLink {
    inner: Mutex<LinkSnapshot>,
}

/// A copy of a host task's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSnapshot {
    /// What the task does.
    pub state: LinkState,
    /// Why, for `Backoff`, `StoreRetry`, `Restarting` and `Stopped`.
    pub detail: Option<String>,
    /// When the state was entered.
    pub since: SystemTime,
}

impl Default for HostLink {
    fn default() -> Self {
        HostLink {
            inner: Mutex::new(LinkSnapshot {
                state: LinkState::Connecting,
                detail: None,
                since: SystemTime::now(),
            }),
        }
    }
}

impl HostLink {
    /// Enters `state` (the time is kept when only the detail changes).
    pub fn set(&self, state: LinkState, detail: Option<String>) {
        let mut snapshot = lock(&self.inner);
        if snapshot.state != state {
            snapshot.since = SystemTime::now();
        }
        snapshot.state = state;
        snapshot.detail = detail;
    }

    /// The current state.
    pub fn snapshot(&self) -> LinkSnapshot {
        lock(&self.inner).clone()
    }
}
