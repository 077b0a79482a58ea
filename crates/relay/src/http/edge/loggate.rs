//! A gate for log lines a client can cause at will (failed logins, refused connections): at
//! most one line per interval, and the next line says how many were held back.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

/// Lets one event through per `every`; counts the others.
#[derive(Debug)]
pub struct LogGate {
    every: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogGate {
    /// A gate that opens at most once per `every`.
    pub const fn new(every: Duration) -> LogGate {
        LogGate {
            every,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being the events held back since the last
    /// one logged; `None` when it must not be.
    pub fn check(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now.duration_since(at) < self.every => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_per_interval_and_counts_the_rest() {
        let gate = LogGate::new(Duration::from_secs(3600));
        assert_eq!(gate.check(), Some(0));
        assert_eq!(gate.check(), None);
        assert_eq!(gate.check(), None);
        let open = LogGate::new(Duration::ZERO);
        assert_eq!(open.check(), Some(0));
        assert_eq!(open.check(), Some(0));
    }
}
