//! The lexicon's host and account status values (`com.atproto.sync.defs#hostStatus`, the
//! `#account` event's `status`), shared by the store, which keeps them as these strings, and
//! the firehose's wire types, which carry them.

use std::fmt;
use std::str::FromStr;

/// The status of an upstream host (`com.atproto.sync.defs#hostStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostStatus {
    /// Subscribed, or to be subscribed.
    Active,
    /// Low traffic; disconnected until it asks for a crawl again.
    Idle,
    /// Unreachable after repeated attempts.
    Offline,
    /// Rate-limited by the relay.
    Throttled,
    /// Banned by an operator: never dialled.
    Banned,
}

impl HostStatus {
    /// Every value, in declaration order.
    pub const ALL: [HostStatus; 5] = [
        HostStatus::Active,
        HostStatus::Idle,
        HostStatus::Offline,
        HostStatus::Throttled,
        HostStatus::Banned,
    ];

    /// The lexicon string for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Active => "active",
            HostStatus::Idle => "idle",
            HostStatus::Offline => "offline",
            HostStatus::Throttled => "throttled",
            HostStatus::Banned => "banned",
        }
    }
}

/// The string is not a known status value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for HostStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HostStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

impl fmt::Display for HostStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hosting status of an account (`#account` event `status`, plus `active`).
///
/// Used both for the status a host reports (upstream) and for the relay's own decision
/// (local: takedowns, suspensions, throttles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    /// Hosted and redistributable.
    Active,
    /// Removed by a host or service for policy reasons.
    Takendown,
    /// Time-limited takedown.
    Suspended,
    /// Deleted by the user or host.
    Deleted,
    /// Paused by the user (also the initial state during a migration).
    Deactivated,
    /// The service lost sync and may be missing content.
    Desynchronized,
    /// Processing paused because a rate or account limit was exceeded.
    Throttled,
}

impl AccountStatus {
    /// Every value, in declaration order.
    pub const ALL: [AccountStatus; 7] = [
        AccountStatus::Active,
        AccountStatus::Takendown,
        AccountStatus::Suspended,
        AccountStatus::Deleted,
        AccountStatus::Deactivated,
        AccountStatus::Desynchronized,
        AccountStatus::Throttled,
    ];

    /// The status an account reports, from what its host says (`upstream`) and what the relay
    /// decided (`local`): the relay's own when it is not `active`, else the host's; `None`
    /// when both say `active`, the one case in which the account is active.
    pub fn reported(upstream: AccountStatus, local: AccountStatus) -> Option<AccountStatus> {
        if local != AccountStatus::Active {
            Some(local)
        } else if upstream != AccountStatus::Active {
            Some(upstream)
        } else {
            None
        }
    }

    /// The lexicon string for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Takendown => "takendown",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Deleted => "deleted",
            AccountStatus::Deactivated => "deactivated",
            AccountStatus::Desynchronized => "desynchronized",
            AccountStatus::Throttled => "throttled",
        }
    }
}

impl FromStr for AccountStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip() {
        for status in HostStatus::ALL {
            assert_eq!(status.as_str().parse::<HostStatus>(), Ok(status));
        }
        for status in AccountStatus::ALL {
            assert_eq!(status.as_str().parse::<AccountStatus>(), Ok(status));
        }
    }

    #[test]
    fn unknown_strings_are_errors() {
        assert_eq!(
            "host-throttled".parse::<AccountStatus>(),
            Err(UnknownStatus("host-throttled".into()))
        );
        assert_eq!(
            "Active".parse::<HostStatus>(),
            Err(UnknownStatus("Active".into()))
        );
    }
}
