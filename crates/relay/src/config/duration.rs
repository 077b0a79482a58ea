//! Durations as Go's `time.ParseDuration` writes them (`72h`, `1h30m`, `1.5h`, `500ms`), the
//! form indigo's relay reads `RELAY_REPLAY_WINDOW` in.

use std::time::Duration;

/// Parses a Go-style duration: one or more `<number><unit>` terms, units `h`, `m`, `s`, `ms`,
/// `us` (or `µs`) and `ns`, numbers possibly with a fraction; `0` alone is zero. Negative
/// durations are refused (no setting here means anything by them).
///
/// # Errors
/// A message saying what was expected.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration: write e.g. `72h`, `90m` or `1h30m`");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total_nanos += number * nanos_per_unit;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(format!("`{text}` is too long a duration"));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms_parse() {
        let cases = [
            ("72h", 72 * 3600),
            ("24h", 24 * 3600),
            ("90m", 90 * 60),
            ("1h30m", 5400),
            ("1.5h", 5400),
            ("45s", 45),
            ("0", 0),
            ("+2h", 7200),
        ];
        for (text, secs) in cases {
            assert_eq!(
                parse_go_duration(text).unwrap(),
                Duration::from_secs(secs),
                "{text}"
            );
        }
        assert_eq!(
            parse_go_duration("1m500ms").unwrap(),
            Duration::from_millis(60_500)
        );
        assert_eq!(
            parse_go_duration("250us").unwrap(),
            Duration::from_micros(250)
        );
    }

    #[test]
    fn other_forms_are_refused() {
        for bad in ["", "72", "h", "3d", "-1h", "1h-30m", "1..5h", "1 h", "72H"] {
            assert!(parse_go_duration(bad).is_err(), "{bad} parsed");
        }
    }
}
