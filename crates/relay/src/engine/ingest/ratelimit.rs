//! Per-host event rate limits: sliding windows per second, hour and day that *delay* a host's
//! events instead of dropping them. A host over a limit is simply not read for a while, so
//! the back-pressure reaches its socket.
//!
//! **Policy** (indigo's, made configurable): a host's limit of each window is
//! `base + per_account × account_limit`, with bases from [`RatePolicy`] and the per-account
//! terms fixed at 1/1000 per second, 1 per hour and 10 per day: a host allowed more accounts
//! may send more events, and raising its account limit (by an operator or by growth, see
//! [`super::limits`]) raises its rates with it. Trusted hosts get the flat trusted limits.
//! A limit stored on the host (`events_per_second` and so on) replaces the computed one.
//!
//! Each window is estimated the usual sliding way: the previous fixed window's count, weighted
//! by how much of it still overlaps the last `size`, plus the current window's count.

use std::time::{Duration, Instant};

use atrelay_store::HostLimits;

/// The relay-wide rate policy; per-host stored limits override it.
#[derive(Debug, Clone, PartialEq)]
pub struct RatePolicy {
    /// Events per second of a regular host, before the account-limit term.
    pub per_second: u64,
    /// Events per hour of a regular host, before the account-limit term.
    pub per_hour: u64,
    /// Events per day of a regular host, before the account-limit term.
    pub per_day: u64,
    /// Events per second of a trusted host.
    pub trusted_per_second: u64,
    /// Events per hour of a trusted host.
    pub trusted_per_hour: u64,
    /// Events per day of a trusted host.
    pub trusted_per_day: u64,
}

impl Default for RatePolicy {
    /// indigo's figures: 50/s, 2,500/h, 20,000/day (+ the account terms); trusted 5,000/s,
    /// 50,000,000/h, 500,000,000/day.
    fn default() -> Self {
        RatePolicy {
            per_second: 50,
            per_hour: 2_500,
            per_day: 20_000,
            trusted_per_second: 5_000,
            trusted_per_hour: 50_000_000,
            trusted_per_day: 500_000_000,
        }
    }
}

impl RatePolicy {
    /// The per-second, per-hour and per-day limits of a host.
    pub fn limits(&self, trusted: bool, account_limit: i64, stored: &HostLimits) -> [u64; 3] {
        let accounts = u64::try_from(account_limit).unwrap_or(0);
        let computed = if trusted {
            [
                self.trusted_per_second,
                self.trusted_per_hour,
                self.trusted_per_day,
            ]
        } else {
            [
                self.per_second.saturating_add(accounts / 1000),
                self.per_hour.saturating_add(accounts),
                self.per_day.saturating_add(accounts.saturating_mul(10)),
            ]
        };
        let overrides = [
            stored.events_per_second,
            stored.events_per_hour,
            stored.events_per_day,
        ];
        let mut limits = computed;
        for (limit, stored) in limits.iter_mut().zip(overrides) {
            if let Some(stored) = stored.and_then(|v| u64::try_from(v).ok()) {
                *limit = stored;
            }
        }
        limits.map(|l| l.max(1))
    }
}

/// The sizes of the three windows.
pub const WINDOWS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(60 * 60),
    Duration::from_secs(24 * 60 * 60),
];

/// One sliding window.
#[derive(Debug, Clone)]
struct Window {
    size: Duration,
    limit: u64,
    start: Instant,
    current: u64,
    previous: u64,
}

impl Window {
    fn new(size: Duration, limit: u64, now: Instant) -> Window {
        Window {
            size,
            limit,
            start: now,
            current: 0,
            previous: 0,
        }
    }

    /// Moves the fixed windows forward to `now`.
    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < self.size {
            return;
        }
        let size = self.size.as_nanos();
        let windows = elapsed.as_nanos() / size;
        self.previous = if windows == 1 { self.current } else { 0 };
        self.current = 0;
        let into = u64::try_from(elapsed.as_nanos() % size).unwrap_or(0);
        self.start = now - Duration::from_nanos(into);
    }

    /// Events counted over the last `size`, estimated.
    fn estimate(&self, now: Instant) -> f64 {
        let into = now.saturating_duration_since(self.start).as_secs_f64();
        let overlap = (1.0 - into / self.size.as_secs_f64()).clamp(0.0, 1.0);
        self.previous as f64 * overlap + self.current as f64
    }

    /// `None` when one more event fits now, else how long until it may.
    fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.roll(now);
        let limit = self.limit as f64;
        if self.estimate(now) + 1.0 <= limit {
            return None;
        }
        let room = limit - 1.0 - self.current as f64;
        let next_window = self.start + self.size;
        let at = if room >= 0.0 && self.previous > 0 {
            // The previous window's weight must shrink to `room`.
            let fraction = (1.0 - room / self.previous as f64).clamp(0.0, 1.0);
            (self.start + self.size.mul_f64(fraction)).min(next_window)
        } else {
            next_window
        };
        Some(
            at.saturating_duration_since(now)
                .max(Duration::from_millis(1)),
        )
    }
}

/// One window's limit and use, for operators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowUsage {
    /// The window's length.
    pub window: Duration,
    /// Events allowed per window.
    pub limit: u64,
    /// Events counted over the last window (sliding estimate, rounded up).
    pub used: u64,
}

/// The rate state of one host.
#[derive(Debug, Clone)]
pub struct HostLimiter {
    windows: [Window; 3],
    stored: HostLimits,
    trusted: bool,
    /// Times reading stopped because a window was full.
    pub pauses: u64,
    /// Until when reading is stopped, if it is.
    pub paused_until: Option<Instant>,
}

impl HostLimiter {
    /// A limiter with empty windows for a host with these stored limits.
    pub fn new(policy: &RatePolicy, trusted: bool, stored: &HostLimits) -> HostLimiter {
        let now = Instant::now();
        let limits = policy.limits(trusted, stored.account_limit, stored);
        HostLimiter {
            windows: [0, 1, 2].map(|i| Window::new(WINDOWS[i], limits[i], now)),
            stored: stored.clone(),
            trusted,
            pauses: 0,
            paused_until: None,
        }
    }

    /// Recomputes the limits after the host's account limit changed.
    pub fn set_account_limit(&mut self, policy: &RatePolicy, account_limit: i64) {
        self.stored.account_limit = account_limit;
        let limits = policy.limits(self.trusted, account_limit, &self.stored);
        for (window, limit) in self.windows.iter_mut().zip(limits) {
            window.limit = limit;
        }
    }

    /// Counts one event.
    pub fn record(&mut self, now: Instant) {
        for window in &mut self.windows {
            window.roll(now);
            window.current += 1;
        }
    }

    /// `None` when one more event fits in every window now, else how long to wait.
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.windows.iter_mut().filter_map(|w| w.wait(now)).max()
    }

    /// Each window's limit and current use.
    pub fn usage(&self, now: Instant) -> [WindowUsage; 3] {
        [0, 1, 2].map(|i| {
            let window = &self.windows[i];
            let mut rolled = window.clone();
            rolled.roll(now);
            WindowUsage {
                window: window.size,
                limit: window.limit,
                used: rolled.estimate(now).ceil() as u64,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(account_limit: i64) -> HostLimits {
        HostLimits::with_account_limit(account_limit)
    }

    #[test]
    fn limits_scale_with_the_account_limit_and_stored_ones_win() {
        let policy = RatePolicy::default();
        assert_eq!(policy.limits(false, 100, &stored(100)), [50, 2_600, 21_000]);
        assert_eq!(
            policy.limits(false, 10_000, &stored(10_000)),
            [60, 12_500, 120_000]
        );
        assert_eq!(
            policy.limits(true, 100, &stored(100)),
            [5_000, 50_000_000, 500_000_000]
        );
        let mut custom = stored(100);
        custom.events_per_hour = Some(7);
        assert_eq!(policy.limits(false, 100, &custom), [50, 7, 21_000]);
    }

    #[test]
    fn a_full_window_asks_to_wait_until_it_slides() {
        let now = Instant::now();
        let mut window = Window::new(Duration::from_secs(1), 3, now);
        for _ in 0..3 {
            assert_eq!(window.wait(now), None);
            window.current += 1;
        }
        // Full: wait for the next fixed window.
        let wait = window.wait(now).unwrap();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        // Half-way into the next window the previous one still weighs 1.5 events: 1 fits.
        let later = now + Duration::from_millis(1500);
        assert_eq!(window.wait(later), None);
        window.current += 1;
        // 1.5 + 1 + 1 > 3: wait until the previous window's weight drops to 1 (at 2/3).
        let wait = window.wait(later).unwrap();
        assert!(
            wait > Duration::from_millis(100) && wait < Duration::from_millis(200),
            "{wait:?}"
        );
        // Long idle: everything forgotten.
        assert_eq!(window.wait(now + Duration::from_secs(10)), None);
        assert_eq!(window.previous, 0);
    }

    #[test]
    fn limiter_waits_for_the_fullest_window() {
        let policy = RatePolicy {
            per_second: 1_000,
            per_hour: 2,
            ..RatePolicy::default()
        };
        let mut limiter = HostLimiter::new(&policy, false, &stored(0));
        let now = Instant::now();
        limiter.record(now);
        assert_eq!(limiter.wait(now), None);
        limiter.record(now);
        let wait = limiter.wait(now).unwrap();
        assert!(wait > Duration::from_secs(3000), "{wait:?}");
        assert_eq!(limiter.usage(now)[1].used, 2);
        // Raising the account limit raises the hourly limit with it.
        limiter.set_account_limit(&policy, 10);
        assert_eq!(limiter.usage(now)[1].limit, 12);
        assert_eq!(limiter.wait(now), None);
    }
}
