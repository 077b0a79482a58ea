//! Time helpers: wall-clock microseconds, monotonic TID revs and RFC 3339 timestamps.

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
    datetime_from_micros(now_micros())
}

/// Formats microseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn datetime_from_micros(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let millis = (micros / 1000) % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
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
    use atrelay_repo::syntax::validate_datetime;

    #[test]
    fn datetimes_are_valid_and_known_values_match() {
        assert_eq!(datetime_from_micros(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            datetime_from_micros(951_782_400_123_000),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            datetime_from_micros(1_700_000_000_000_000),
            "2023-11-14T22:13:20.000Z"
        );
        validate_datetime(&now_datetime()).unwrap();
    }

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
