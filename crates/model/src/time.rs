//! Graph's `Edm.DateTimeOffset` and `Edm.Duration` strings: parsing and Graph-shaped formatting.

use std::fmt::Write as _;

/// A timestamp or duration string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not an ISO 8601 timestamp with an offset.
    #[error(
        "expected an ISO 8601 date-time with offset (e.g. 2020-02-25T18:52:21.2169889Z), got {0:?}"
    )]
    Timestamp(String),
    /// Not an ISO 8601 day-time duration.
    #[error("expected an ISO 8601 duration (e.g. PT0.015S), got {0:?}")]
    Duration(String),
}

/// Parses an ISO 8601 / RFC 3339 timestamp that carries `Z` or a numeric offset.
pub fn parse_timestamp(s: &str) -> Result<jiff::Timestamp, TimeError> {
    let bytes = s.as_bytes();
    // jiff is lenient in places Graph never is (e.g. a space instead of `T`); insist on the Graph shape.
    let shaped = bytes.len() >= 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && (bytes[10] == b'T' || bytes[10] == b't')
        && bytes[13] == b':';
    if !shaped {
        return Err(TimeError::Timestamp(s.to_owned()));
    }
    s.parse::<jiff::Timestamp>()
        .map_err(|_| TimeError::Timestamp(s.to_owned()))
}

/// Formats `ts` as UTC with a `Z` and exactly `frac_digits` fractional digits (0 to 9).
pub fn format_timestamp(ts: jiff::Timestamp, frac_digits: u8) -> String {
    let dt = jiff::tz::TimeZone::UTC.to_datetime(ts);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let digits = usize::from(frac_digits.min(9));
    if digits > 0 {
        let nanos = format!("{:09}", dt.subsec_nanosecond());
        out.push('.');
        out.push_str(&nanos[..digits]);
    }
    out.push('Z');
    out
}

/// Parses an ISO 8601 day-time duration, `-?P(nD)?(T(nH)?(nM)?(n(.n)?S)?)?`, into nanoseconds.
/// Fractions are allowed on seconds only; digits past nanoseconds are truncated.
pub fn parse_duration_nanos(s: &str) -> Result<i128, TimeError> {
    let err = || TimeError::Duration(s.to_owned());
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.strip_prefix('P').ok_or_else(err)?;
    let (date_part, time_part) = match rest.find('T') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut total: i128 = 0;
    let mut any = false;
    if !date_part.is_empty() {
        let days = date_part.strip_suffix('D').ok_or_else(err)?;
        total += parse_int(days).ok_or_else(err)? * 86_400_000_000_000;
        any = true;
    }
    if let Some(mut t) = time_part {
        if t.is_empty() {
            return Err(err());
        }
        for (unit, factor) in [('H', 3_600_000_000_000i128), ('M', 60_000_000_000)] {
            if let Some(i) = t.find(unit) {
                total += parse_int(&t[..i]).ok_or_else(err)? * factor;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            let secs = t.strip_suffix('S').ok_or_else(err)?;
            let (whole, frac) = match secs.find('.') {
                Some(i) => (&secs[..i], Some(&secs[i + 1..])),
                None => (secs, None),
            };
            total += parse_int(whole).ok_or_else(err)? * 1_000_000_000;
            if let Some(frac) = frac {
                if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                let mut nanos: i128 = 0;
                for (i, b) in frac.bytes().take(9).enumerate() {
                    nanos += i128::from(b - b'0') * 10i128.pow(8 - i as u32);
                }
                total += nanos;
            }
            any = true;
        }
    }
    if !any {
        return Err(err());
    }
    Ok(if negative { -total } else { total })
}

fn parse_int(s: &str) -> Option<i128> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Formats nanoseconds as Graph writes durations: `PT0.015S`, `PT1S`, `PT1M30.5S`, `P1DT2H`.
pub fn format_duration_nanos(nanos: i128) -> String {
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    let mut n = nanos.unsigned_abs();
    let days = n / 86_400_000_000_000;
    n %= 86_400_000_000_000;
    let hours = n / 3_600_000_000_000;
    n %= 3_600_000_000_000;
    let minutes = n / 60_000_000_000;
    n %= 60_000_000_000;
    let secs = n / 1_000_000_000;
    let frac = n % 1_000_000_000;
    out.push('P');
    if days > 0 {
        let _ = write!(out, "{days}D");
    }
    if hours > 0 || minutes > 0 || secs > 0 || frac > 0 || days == 0 {
        out.push('T');
        if hours > 0 {
            let _ = write!(out, "{hours}H");
        }
        if minutes > 0 {
            let _ = write!(out, "{minutes}M");
        }
        if secs > 0 || frac > 0 || (hours == 0 && minutes == 0) {
            let _ = write!(out, "{secs}");
            if frac > 0 {
                let f = format!("{frac:09}");
                out.push('.');
                out.push_str(f.trim_end_matches('0'));
            }
            out.push('S');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn graph_examples_parse() {
        for s in [
            "2020-02-25T18:52:21.2169889Z",
            "2020-02-25T19:00:24.582757Z",
            "2023-09-25T10:36:40Z",
            "0001-01-01T00:00:00Z",
            "2023-02-28T00:00:00.000+00:00",
        ] {
            parse_timestamp(s).unwrap();
        }
        assert!(parse_timestamp("2020-02-25 18:52:21Z").is_err());
        assert!(parse_timestamp("15").is_err());
        assert!(parse_timestamp("2020-02-25T18:52:21").is_err());
        assert_eq!(parse_duration_nanos("PT0.015S").unwrap(), 15_000_000);
        assert_eq!(parse_duration_nanos("PT1S").unwrap(), 1_000_000_000);
        assert_eq!(parse_duration_nanos("P1DT2H").unwrap(), 93_600_000_000_000);
        assert_eq!(parse_duration_nanos("-PT1M").unwrap(), -60_000_000_000);
        for bad in [
            "", "P", "PT", "15", "PT1.S", "PTS", "PT1X", "P1Y", "PT-1S", "PT1.5M",
        ] {
            assert!(parse_duration_nanos(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration_nanos(15_000_000), "PT0.015S");
        assert_eq!(format_duration_nanos(0), "PT0S");
        assert_eq!(format_duration_nanos(90_500_000_000), "PT1M30.5S");
        assert_eq!(format_duration_nanos(93_600_000_000_000), "P1DT2H");
    }

    fn graph_timestamp() -> impl Strategy<Value = String> {
        (
            1i16..=9999,
            1u8..=12,
            1u8..=28,
            0u8..24,
            0u8..60,
            0u8..60,
            0usize..=7,
            0u32..10_000_000,
        )
            .prop_map(|(y, mo, d, h, mi, s, digits, frac)| {
                let f = format!("{frac:07}");
                let frac = if digits == 0 {
                    String::new()
                } else {
                    format!(".{}", &f[..digits])
                };
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
            })
    }

    proptest! {
        #[test]
        fn timestamp_parse_then_format_is_identity(s in graph_timestamp()) {
            let digits = s.find('.').map_or(0, |i| s.len() - i - 2) as u8;
            let ts = parse_timestamp(&s).unwrap();
            prop_assert_eq!(format_timestamp(ts, digits), s);
        }

        #[test]
        fn duration_format_then_parse_is_identity(nanos in -10_000_000_000_000_000i128..10_000_000_000_000_000) {
            let s = format_duration_nanos(nanos);
            prop_assert_eq!(parse_duration_nanos(&s).unwrap(), nanos);
            // and formatting the parsed value gives the same string: parse ∘ format = identity on these strings
            prop_assert_eq!(format_duration_nanos(parse_duration_nanos(&s).unwrap()), s);
        }

        #[test]
        fn duration_parser_never_panics(s in "\\PC{0,24}") {
            let _ = parse_duration_nanos(&s);
            let _ = parse_timestamp(&s);
        }
    }
}
