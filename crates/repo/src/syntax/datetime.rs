//! Lexicon `datetime` strings: the intersection of RFC 3339 and ISO 8601, with a timezone.
//!
//! Shape: `YYYY-MM-DDTHH:MM:SS[.fraction]` then `Z` or `±HH:MM` (`-00:00` is not allowed).
//! [`validate_datetime_syntax`] checks only the shape; [`validate_datetime`] also checks that the
//! fields name a real instant (month 1 to 12, day within the month, no leap seconds, an
//! offset below 24 hours) that does not fall before year 0 once converted to UTC.
//! [`format_datetime`] writes one, the way atproto services stamp events and records.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{SyntaxError, SyntaxKind};

/// Longest datetime accepted, in bytes.
const MAX_DATETIME_LEN: usize = 64;
/// Most fractional-second digits accepted.
const MAX_FRACTION_DIGITS: usize = 20;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Datetime, reason)
}

/// The numeric fields of a datetime that passed the shape check.
struct Fields {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Offset east of UTC in minutes (negative west), 0 for `Z`.
    offset_minutes: i64,
    /// Offset hour and minute fields as written, for range checks.
    offset_fields: (u32, u32),
}

/// Checks the shape of a datetime string without checking field ranges.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Datetime`].
pub fn validate_datetime_syntax(text: &str) -> Result<(), SyntaxError> {
    parse_fields(text).map(|_| ())
}

/// Checks that a datetime string has the right shape and names a real instant.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Datetime`].
pub fn validate_datetime(text: &str) -> Result<(), SyntaxError> {
    let f = parse_fields(text)?;
    if !(1..=12).contains(&f.month) {
        return Err(err("month out of range"));
    }
    if f.day < 1 || f.day > days_in_month(f.year, f.month) {
        return Err(err("day out of range"));
    }
    if f.hour > 23 || f.minute > 59 || f.second > 59 {
        return Err(err("time of day out of range"));
    }
    if f.offset_fields.0 > 23 || f.offset_fields.1 > 59 {
        return Err(err("timezone offset out of range"));
    }
    // Seconds since 0000-01-01T00:00:00Z; negative means the instant is before year 0.
    let local = i64::from(days_before(f.year, f.month, f.day)) * 86_400
        + i64::from(f.hour) * 3_600
        + i64::from(f.minute) * 60
        + i64::from(f.second);
    if local - f.offset_minutes * 60 < 0 {
        return Err(err("normalises to a time before year 0"));
    }
    Ok(())
}

fn parse_fields(text: &str) -> Result<Fields, SyntaxError> {
    if text.len() > MAX_DATETIME_LEN {
        return Err(err("too long"));
    }
    let bytes = text.as_bytes();
    let mut cursor = Cursor { bytes, pos: 0 };
    let year = cursor.digits(4)?;
    cursor.expect(b'-')?;
    let month = cursor.digits(2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(2)?;
    cursor.expect(b'T')?;
    let hour = cursor.digits(2)?;
    cursor.expect(b':')?;
    let minute = cursor.digits(2)?;
    cursor.expect(b':')?;
    let second = cursor.digits(2)?;
    if cursor.peek() == Some(b'.') {
        cursor.pos += 1;
        let start = cursor.pos;
        while cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
            cursor.pos += 1;
        }
        let n_digits = cursor.pos - start;
        if n_digits == 0 || n_digits > MAX_FRACTION_DIGITS {
            return Err(err("fraction must have 1 to 20 digits"));
        }
    }
    let (offset_minutes, offset_fields) = match cursor.peek() {
        Some(b'Z') => {
            cursor.pos += 1;
            (0, (0, 0))
        }
        Some(sign @ (b'+' | b'-')) => {
            cursor.pos += 1;
            let oh = cursor.digits(2)?;
            cursor.expect(b':')?;
            let om = cursor.digits(2)?;
            if sign == b'-' && oh == 0 && om == 0 {
                return Err(err("UTC must be written Z or +00:00, not -00:00"));
            }
            let magnitude = i64::from(oh) * 60 + i64::from(om);
            let signed = if sign == b'-' { -magnitude } else { magnitude };
            (signed, (oh, om))
        }
        _ => return Err(err("timezone (Z or ±HH:MM) required")),
    };
    if cursor.pos != bytes.len() {
        return Err(err("trailing characters"));
    }
    Ok(Fields {
        year,
        month,
        day,
        hour,
        minute,
        second,
        offset_minutes,
        offset_fields,
    })
}

/// A position in the datetime text.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, want: u8) -> Result<(), SyntaxError> {
        if self.peek() == Some(want) {
            self.pos += 1;
            Ok(())
        } else {
            Err(err("unexpected character"))
        }
    }

    fn digits(&mut self, count: usize) -> Result<u32, SyntaxError> {
        let mut value = 0u32;
        for _ in 0..count {
            match self.peek() {
                Some(b) if b.is_ascii_digit() => {
                    value = value * 10 + u32::from(b - b'0');
                    self.pos += 1;
                }
                _ => return Err(err("expected a digit")),
            }
        }
        Ok(value)
    }
}

/// Formats a time as a datetime in UTC with milliseconds, `YYYY-MM-DDTHH:MM:SS.mmmZ`: the form
/// the reference implementations write into events and records. A time before 1970 is
/// written as the Unix epoch.
pub fn format_datetime(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// Microseconds since the Unix epoch of a UTC datetime as the firehose writes its `time`
/// fields (`2026-12-08T00:30:00.123Z`; the fraction optional, up to 9 digits, only `Z` as the
/// zone): the inverse of [`format_datetime`]. `None` for any other form.
pub fn datetime_utc_micros(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if bytes.len() < 20
        || separators
            .iter()
            .any(|(at, sep)| bytes.get(*at) != Some(sep))
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = text.get(19..)?.strip_suffix('Z')?;
    let micros = match rest.strip_prefix('.') {
        None if rest.is_empty() => 0,
        Some(fraction)
            if (1..=9).contains(&fraction.len())
                && fraction.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let digits: String = fraction
                .chars()
                .chain(std::iter::repeat('0'))
                .take(6)
                .collect();
            digits.parse::<i64>().ok()?
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = i64::from(days_before(year, month, day)) - i64::from(days_before(1970, 1, 1));
    let seconds =
        days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second);
    Some(seconds * 1_000_000 + micros)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(month <= 2), month, day)
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 0000-01-01 to the given date (proleptic Gregorian calendar).
fn days_before(year: u32, month: u32, day: u32) -> u32 {
    let mut days = 0u32;
    // Whole years before `year`: 365 each plus leap days in years 0..year.
    if year > 0 {
        let prev = year - 1;
        days += year * 365 + prev / 4 - prev / 100 + prev / 400 + 1;
    }
    for m in 1..month {
        days += days_in_month(year, m);
    }
    days + day - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_datetimes_read_back() {
        assert_eq!(datetime_utc_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            datetime_utc_micros("2026-12-08T00:30:00.5Z"),
            Some(1_796_689_800_500_000)
        );
        let time = UNIX_EPOCH + std::time::Duration::from_micros(1_796_689_800_123_000);
        assert_eq!(
            datetime_utc_micros(&format_datetime(time)),
            Some(1_796_689_800_123_000)
        );
        assert_eq!(
            datetime_utc_micros("2024-02-29T23:59:59.123456789Z"),
            Some(1_709_251_199_123_456)
        );
        for bad in [
            "",
            "2026-12-08",
            "2026-12-08T00:30:00+01:00",
            "2026-13-08T00:30:00Z",
            "2026-02-30T00:30:00Z",
            "2026-12-08T00:30:00.Z",
            "2026-12-08T00:30:00.1x2Z",
            "2026-12-08T00-30-00Z",
        ] {
            assert_eq!(datetime_utc_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn day_counting() {
        assert_eq!(days_before(0, 1, 1), 0);
        // Year 0 is a leap year.
        assert_eq!(days_before(1, 1, 1), 366);
        assert_eq!(days_before(1970, 1, 1), 719_528);
    }

    #[test]
    fn formatted_datetimes_are_valid_and_name_the_instant() {
        use std::time::Duration;
        let at = |secs: u64, millis: u64| {
            format_datetime(UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(1_795_442_400, 999), "2026-11-23T14:00:00.999Z");
        assert_eq!(at(4_107_542_399, 0), "2100-02-28T23:59:59.000Z");
        assert_eq!(
            format_datetime(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
        for secs in (0..4_000_000_000u64).step_by(86_399_017) {
            let text = at(secs, secs % 1000);
            assert!(validate_datetime(&text).is_ok(), "{text}");
        }
    }

    #[test]
    fn semantics() {
        assert!(validate_datetime("2024-02-29T00:00:00Z").is_ok());
        assert!(validate_datetime("2023-02-29T00:00:00Z").is_err());
        assert!(validate_datetime("0000-01-01T00:00:00-01:00").is_ok());
        assert!(validate_datetime("0000-01-01T00:59:59+01:00").is_err());
    }
}
