//! Reconnect delays: capped exponential backoff with jitter.

use std::time::Duration;

/// The delay before attempt `failures + 1`: `base * 2^(failures-1)`, capped at `max`, then
/// scaled by a random factor in [0.5, 1.0) so many hosts do not redial in step.
pub fn delay(failures: u32, base: Duration, max: Duration) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let raw = base.saturating_mul(1u32 << exponent).min(max);
    raw.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_stays_under_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        assert!(delay(1, base, max) < base);
        assert!(delay(1, base, max) >= base / 2);
        assert!(delay(4, base, max) >= Duration::from_millis(400));
        for failures in 0..100 {
            assert!(delay(failures, base, max) < max);
        }
    }
}
