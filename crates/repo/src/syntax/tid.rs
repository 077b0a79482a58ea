//! TIDs (timestamp identifiers), also the format of commit `rev`s.
//!
//! Layout: a 64-bit integer whose top bit is 0, then 53 bits of microseconds since the Unix
//! epoch, then a 10-bit clock identifier. Text form: 13 characters of base32-sortable
//! (`234567abcdefghijklmnopqrstuvwxyz`), most significant first, so string order equals
//! numeric order.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::{SyntaxError, SyntaxKind};

/// Length of a TID's text form.
pub const TID_LEN: usize = 13;

const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
const CLOCK_ID_BITS: u32 = 10;
const CLOCK_ID_MASK: u64 = (1 << CLOCK_ID_BITS) - 1;
const MAX_MICROS: u64 = (1 << 53) - 1;

fn err(reason: &'static str) -> SyntaxError {
    SyntaxError::new(SyntaxKind::Tid, reason)
}

/// A parsed TID. Ordering is numeric, which is also the order of the text forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tid(u64);

impl Tid {
    /// Parses the 13-character text form.
    ///
    /// # Errors
    /// A [`SyntaxError`] of kind [`SyntaxKind::Tid`] for a wrong length, a character outside
    /// the alphabet, or a first character that would set the top bit.
    pub fn parse(text: &str) -> Result<Tid, SyntaxError> {
        if text.len() != TID_LEN {
            return Err(err("must be 13 characters"));
        }
        let mut value: u64 = 0;
        for (idx, byte) in text.bytes().enumerate() {
            let digit = decode_char(byte).ok_or(err("character outside base32-sortable"))?;
            // The first character carries the top four bits (the fifth would overflow).
            if idx == 0 && digit >= 16 {
                return Err(err("first character must be one of 234567abcdefghij"));
            }
            value = (value << 5) | u64::from(digit);
        }
        Ok(Tid(value))
    }

    /// Builds a TID from a timestamp in microseconds since the Unix epoch and a clock
    /// identifier. Only the low 10 bits of `clock_id` are used; timestamps beyond 2^53 - 1
    /// microseconds (the year 2255) saturate.
    pub fn from_micros(micros: u64, clock_id: u16) -> Tid {
        let micros = micros.min(MAX_MICROS);
        Tid((micros << CLOCK_ID_BITS) | (u64::from(clock_id) & CLOCK_ID_MASK))
    }

    /// Wraps a raw 64-bit value, as stored in a database column.
    pub fn from_u64(value: u64) -> Tid {
        Tid(value)
    }

    /// The raw 64-bit value.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Microseconds since the Unix epoch encoded in the TID.
    pub fn timestamp_micros(self) -> u64 {
        self.0 >> CLOCK_ID_BITS
    }

    /// The 10-bit clock identifier.
    pub fn clock_id(self) -> u16 {
        // The mask keeps 10 bits, which always fit in a u16.
        (self.0 & CLOCK_ID_MASK) as u16
    }

    /// True when the TID's timestamp is more than `max_skew_micros` after `now_micros`: how a
    /// relay spots a `rev` from the future (the sync spec allows a few minutes of clock drift).
    pub fn is_too_far_in_future(self, now_micros: u64, max_skew_micros: u64) -> bool {
        self.timestamp_micros() > now_micros.saturating_add(max_skew_micros)
    }

    /// The 13-character text form.
    pub fn to_text(self) -> String {
        let mut out = String::with_capacity(TID_LEN);
        for idx in (0..TID_LEN).rev() {
            let shift = 5 * idx as u32;
            let digit = ((self.0 >> shift) & 0x1f) as usize;
            out.push(char::from(ALPHABET.get(digit).copied().unwrap_or(b'2')));
        }
        out
    }
}

fn decode_char(byte: u8) -> Option<u8> {
    match byte {
        b'2'..=b'7' => Some(byte - b'2'),
        b'a'..=b'z' => Some(byte - b'a' + 6),
        _ => None,
    }
}

impl PartialOrd for Tid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tid {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl fmt::Display for Tid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl FromStr for Tid {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tid::parse(s)
    }
}

/// Checks TID syntax (see [`Tid::parse`]).
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Tid`].
pub fn validate_tid(text: &str) -> Result<(), SyntaxError> {
    Tid::parse(text).map(|_| ())
}

/// The timestamp, in microseconds since the Unix epoch, of a TID or `rev` string.
///
/// # Errors
/// A [`SyntaxError`] of kind [`SyntaxKind::Tid`] when the string is not a TID.
pub fn tid_timestamp_micros(text: &str) -> Result<u64, SyntaxError> {
    Tid::parse(text).map(Tid::timestamp_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = Tid::from_micros(1_700_000_000_000_000, 5);
        let b = Tid::from_micros(1_700_000_000_000_001, 0);
        assert!(a < b);
        assert!(a.to_text() < b.to_text());
        assert_eq!(Tid::parse(&a.to_text()), Ok(a));
        assert_eq!(a.timestamp_micros(), 1_700_000_000_000_000);
        assert_eq!(a.clock_id(), 5);
        assert_eq!(a.to_text().len(), TID_LEN);
    }

    #[test]
    fn known_value() {
        // 2222222222222 is zero; 3zzzzzzzzzzzz is the largest value with the top bit clear.
        assert_eq!(Tid::parse("2222222222222").map(Tid::as_u64), Ok(0));
        assert_eq!(
            Tid::parse("3zzzzzzzzzzzz").map(Tid::as_u64),
            Ok((1u64 << 60) * 2 - 1)
        );
        assert_eq!(tid_timestamp_micros("2222222222223"), Ok(0));
        assert_eq!(Tid::parse("2222222222223").map(Tid::clock_id), Ok(1));
    }

    #[test]
    fn future_check() {
        let now = 1_700_000_000_000_000;
        let five_min = 5 * 60 * 1_000_000;
        assert!(!Tid::from_micros(now + five_min, 0).is_too_far_in_future(now, five_min));
        assert!(Tid::from_micros(now + five_min + 1, 0).is_too_far_in_future(now, five_min));
        assert!(!Tid::from_micros(0, 0).is_too_far_in_future(now, five_min));
    }

    #[test]
    fn saturates() {
        assert_eq!(Tid::from_micros(u64::MAX, 0).timestamp_micros(), MAX_MICROS);
        assert_eq!(Tid::from_micros(0, 0xffff).clock_id(), 0x3ff);
    }
}
