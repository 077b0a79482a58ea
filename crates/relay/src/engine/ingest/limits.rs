//! Per-host account limits: changing them (operators, or growth for hosts in good standing)
//! and letting throttled accounts in when a limit rises.
//!
//! A host's new accounts beyond its account limit are stored `throttled` with the reason
//! [`ACCOUNT_LIMIT_REASON`] (visible in `getRepoStatus`, counted in
//! `atrelay_ingest_throttled_new_accounts_total`); their `#commit`s and `#sync`s are not passed
//! on. When the limit rises, the oldest such accounts are let in, as many as now fit, and a
//! `#account` event says so for each, as indigo's `changeLimits` does.

use std::sync::atomic::Ordering;
use std::time::Duration;

use atrelay_store::{AccountFilter, AccountStatus, StoreError};
use atrelay_stream::{Message, WireStatus};

use super::counters::DropReason;
use super::events::{append_account_view, KIND_COMMIT, KIND_SYNC};
use super::host::HostContext;
use super::verify::Outcome;
use super::{lock, Inner};

/// The local reason of an account throttled by its host's account limit; accounts with it are
/// the ones let in again when the limit rises.
pub const ACCOUNT_LIMIT_REASON: &str = "host account limit reached";

/// What the account limit made of an accepted event.
#[derive(Debug)]
pub struct Admission {
    /// The event's outcome after the limit.
    pub outcome: Outcome,
    /// The event was of a new account that the limit throttled.
    pub throttled: bool,
}

/// Applies the host's account limit to an accepted event of an account the relay has not
/// stored yet. Runs in upstream order (never in parallel), so which accounts are let in does
/// not depend on verification timing: past the limit the account is kept, visible and
/// `throttled`; its `#identity` and `#account` are passed on (the latter saying `throttled`),
/// its `#commit` and `#sync` are not.
pub fn admit_new_account(host: &HostContext, mut outcome: Outcome) -> Admission {
    let admitted = |outcome| Admission {
        outcome,
        throttled: false,
    };
    let Outcome::Accept {
        did,
        kind,
        message,
        state,
        update,
        new_account: true,
    } = &mut outcome
    else {
        return admitted(outcome);
    };
    let limit = host.account_limit.load(Ordering::Relaxed);
    if host.account_count.load(Ordering::Relaxed) < limit {
        return admitted(outcome);
    }
    if matches!(*kind, KIND_COMMIT | KIND_SYNC) {
        return Admission {
            outcome: Outcome::dropped(
                DropReason::InactiveAccount,
                did,
                format!("status {:?}", Some(AccountStatus::Throttled)),
            ),
            throttled: true,
        };
    }
    state.local_status = AccountStatus::Throttled;
    state.repo = None;
    update.initial_local_status = AccountStatus::Throttled;
    update.initial_local_reason = Some(format!("{ACCOUNT_LIMIT_REASON} ({limit})"));
    if let Message::Account(account) = message {
        account.active = false;
        account.status = Some(WireStatus::Known(AccountStatus::Throttled));
    }
    Admission {
        outcome,
        throttled: true,
    }
}

/// Automatic growth of account limits for hosts in good standing.
///
/// **The rule.** A host is in good standing while its connection stays up and none of its
/// events is dropped for a fault of its own (bad frame or signature, invalid proof, wrong host,
/// rev out of order and the like; not for accounts being inactive or the relay's own errors).
/// When a host has been in good standing for `after` without a break *and* its account count
/// has reached its limit, the limit is multiplied by `factor`, up to `cap`; the clock then starts
/// again, so the next step needs another `after` of good standing. A lost connection or a
/// faulty event restarts the clock. Limits above `cap` (set by an operator) never shrink.
/// Growth is off when `after` is zero or `factor` is below 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLimitGrowth {
    /// Good standing needed for one step.
    pub after: Duration,
    /// Multiplier of one step.
    pub factor: i64,
    /// No growth beyond this limit.
    pub cap: i64,
}

impl Default for AccountLimitGrowth {
    /// One doubling per 7 days of good standing, up to 100,000 accounts.
    fn default() -> Self {
        AccountLimitGrowth {
            after: Duration::from_secs(7 * 24 * 60 * 60),
            factor: 2,
            cap: 100_000,
        }
    }
}

impl AccountLimitGrowth {
    /// Whether growth is on.
    pub fn enabled(&self) -> bool {
        !self.after.is_zero() && self.factor >= 2
    }

    /// The grown limit of a host with `limit` and `count` accounts that has been in good
    /// standing for `after`, or `None` when it does not grow.
    pub fn next_limit(&self, limit: i64, count: i64) -> Option<i64> {
        if !self.enabled() || count < limit || limit >= self.cap {
            return None;
        }
        Some(limit.max(1).saturating_mul(self.factor).min(self.cap))
    }
}

/// What a change of a host's account limit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitChange {
    /// The host.
    pub host_id: i64,
    /// The limit before.
    pub old_limit: i64,
    /// The limit now.
    pub new_limit: i64,
    /// Accounts that were throttled by the limit and now are not, oldest first.
    pub unthrottled: Vec<String>,
}

/// Most throttled accounts let in by one limit change (the rest wait for the next change).
const MAX_UNTHROTTLE: u32 = 10_000;

impl Inner {
    /// Sets a host's account limit (stored, and applied at once to its running task and rate
    /// limits); when it rises, lets in the oldest accounts throttled by the limit, as many as
    /// fit, emitting a `#account` for each.
    pub(super) async fn change_account_limit(
        &self,
        host_id: i64,
        new_limit: i64,
    ) -> Result<LimitChange, StoreError> {
        let host = self
            .store
            .host(host_id)
            .await?
            .ok_or(StoreError::HostNotFound { id: host_id })?;
        let new_limit = new_limit.max(0);
        let old_limit = host.limits.account_limit;
        let mut limits = host.limits.clone();
        limits.account_limit = new_limit;
        self.store.set_host_limits(host_id, &limits).await?;
        let running = lock(&self.tasks)
            .get(&host_id)
            .map(|r| (r.ctx.clone(), r.limiter.clone()));
        let mut count = host.account_count;
        if let Some((ctx, limiter)) = &running {
            ctx.account_limit.store(new_limit, Ordering::Relaxed);
            count = count.max(ctx.account_count.load(Ordering::Relaxed));
            lock(limiter).set_account_limit(&self.config.rate_policy, new_limit);
        }
        tracing::info!(host = %host.hostname, old_limit, new_limit, "account limit changed");
        let mut unthrottled = Vec::new();
        if new_limit > old_limit {
            let throttled_filter = AccountFilter {
                host_id: Some(host_id),
                local_status: Some(AccountStatus::Throttled),
                active_only: false,
            };
            let throttled = self.store.count_accounts(&throttled_filter).await?;
            let admitted = count.saturating_sub(throttled);
            let room = new_limit.saturating_sub(admitted);
            if room > 0 {
                let page = u32::try_from(room).unwrap_or(u32::MAX).min(MAX_UNTHROTTLE);
                let oldest = self.store.oldest_accounts(&throttled_filter, page).await?;
                for account in oldest {
                    let by_limit = account
                        .local_reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with(ACCOUNT_LIMIT_REASON));
                    if !by_limit {
                        continue;
                    }
                    let account = self
                        .store
                        .set_local_status(&account.did, AccountStatus::Active, None)
                        .await?;
                    self.accounts
                        .set_local_status(&account.did, AccountStatus::Active);
                    self.emit_account(&account);
                    unthrottled.push(account.did);
                }
            }
        }
        self.counters
            .unthrottled_accounts
            .fetch_add(unthrottled.len() as u64, Ordering::Relaxed);
        Ok(LimitChange {
            host_id,
            old_limit,
            new_limit,
            unthrottled,
        })
    }

    /// Passes on a `#account` with the relay's view of `account`.
    fn emit_account(&self, account: &atrelay_store::Account) {
        if let Err(e) = append_account_view(&self.log, account) {
            tracing::error!(did = %account.did, error = %e, "could not pass on #account");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_needs_a_full_host_and_stops_at_the_cap() {
        let growth = AccountLimitGrowth {
            after: Duration::from_secs(1),
            factor: 3,
            cap: 1_000,
        };
        assert_eq!(growth.next_limit(100, 99), None);
        assert_eq!(growth.next_limit(100, 100), Some(300));
        assert_eq!(growth.next_limit(500, 600), Some(1_000));
        assert_eq!(growth.next_limit(1_000, 5_000), None);
        assert_eq!(growth.next_limit(0, 0), Some(3));
        let off = AccountLimitGrowth {
            after: Duration::ZERO,
            ..growth
        };
        assert_eq!(off.next_limit(100, 100), None);
    }
}
