//! Time helpers: wall-clock microseconds, monotonic TID revs and the current datetime.

use std::time::{SystemTime, UNIX_EPOCH};

use atrelay_repo::syntax::Tid;

/// Microseconds since the Unix epoch, from the system clock (0 if the clock is before 1970).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The current time as an atproto datetime string, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn now_datetime() -> String {
    atrelay_repo::syntax::format_datetime(SystemTime::now())
}

/// Hands out TIDs from the wall clock that always increase, even when the clock stalls or
/// steps back: each is at least one microsecond after the previous one.
#[derive(Debug, Clone)]
pub struct TidClock {
    /// The last timestamp handed out, in microseconds.
    last_micros: u64,
    /// The 10-bit clock identifier stamped on every TID.
    clock_id: u16,
}

impl TidClock {
    /// A clock with the given clock identifier (only the low 10 bits are used).
    pub fn new(clock_id: u16) -> Self {
        Self {
            last_micros: 0,
            clock_id: clock_id & 0x3ff,
        }
    }

    /// The next TID: the current time, or one microsecond after the previous TID if later.
    pub fn next_tid(&mut self) -> Tid {
        let micros = now_micros().max(self.last_micros + 1);
        self.last_micros = micros;
        Tid::from_micros(micros, self.clock_id)
    }

    /// The last TID handed out, if any.
    pub fn last(&self) -> Option<Tid> {
        (self.last_micros > 0).then(|| Tid::from_micros(self.last_micros, self.clock_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tids_strictly_increase() {
        let mut clock = TidClock::new(7);
        let mut prev = clock.next_tid();
        for _ in 0..10_000 {
            let next = clock.next_tid();
            assert!(next > prev);
            assert_eq!(next.clock_id(), 7);
            prev = next;
        }
        assert_eq!(clock.last(), Some(prev));
    }
}
