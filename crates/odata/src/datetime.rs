//! Edm.DateTimeOffset / Edm.Date literals, as unix microseconds (UTC).

use crate::ODataError;

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A calendar date (`Edm.Date`), proleptic Gregorian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// 0..=9999
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31 (valid for the month)
    pub day: u8,
}

impl Date {
    /// A validated date, or `None`.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        if !(0..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Self { year, month, day })
    }

    /// Midnight UTC of this date, as unix microseconds.
    pub fn to_micros(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECS_PER_DAY * MICROS_PER_SEC
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats unix microseconds as an OData DateTimeOffset literal in UTC:
/// `2023-09-25T09:25:00Z`, or with the shortest fractional seconds that keep every
/// microsecond (`2023-09-25T09:25:00.1234Z`).
pub fn format_datetime_micros(micros: i64) -> String {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        let digits = format!("{frac:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Parsed pieces of a date or date-time literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateOrTime {
    Date(Date),
    DateTime(i64),
}

/// Parses a date (`2019-11-01`, meaning midnight UTC) or a DateTimeOffset literal into unix
/// microseconds UTC.
///
/// Accepted: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z`, `+HH:MM`, `-HH:MM`, or
/// ` HH:MM` (a `+` that became a space through form decoding, meaning `+HH:MM`). A date-time
/// without any offset is taken as UTC. Fractions beyond microseconds are truncated; `T`/`Z`
/// may be lower case.
pub fn parse_datetime_literal(s: &str) -> Result<i64, ODataError> {
    match parse_date_or_time(s)? {
        DateOrTime::Date(d) => Ok(d.to_micros()),
        DateOrTime::DateTime(m) => Ok(m),
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let c = *self.b.get(self.i)?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
            self.i += 1;
        }
        Some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
}

pub(crate) fn parse_date_or_time(s: &str) -> Result<DateOrTime, ODataError> {
    let err = |why: &str| {
        ODataError::bad_request(format!(
            "invalid date/time literal '{}': {why}",
            crate::shorten(s)
        ))
    };
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let (Some(y), true, Some(mo), true, Some(d)) = (
        c.digits(4),
        c.eat(b'-'),
        c.digits(2),
        c.eat(b'-'),
        c.digits(2),
    ) else {
        return Err(err("expected YYYY-MM-DD"));
    };
    let date =
        Date::new(y as i32, mo as u8, d as u8).ok_or_else(|| err("month or day out of range"))?;
    if c.peek().is_none() {
        return Ok(DateOrTime::Date(date));
    }
    if !(c.eat(b'T') || c.eat(b't')) {
        return Err(err("expected 'T' after the date"));
    }
    let (Some(h), true, Some(mi)) = (c.digits(2), c.eat(b':'), c.digits(2)) else {
        return Err(err("expected HH:MM after 'T'"));
    };
    let mut sec = 0;
    let mut frac_micros = 0i64;
    if c.eat(b':') {
        sec = c
            .digits(2)
            .ok_or_else(|| err("expected two-digit seconds"))?;
        if c.eat(b'.') {
            let mut n = 0;
            while let Some(ch) = c.peek().filter(u8::is_ascii_digit) {
                if n < 6 {
                    frac_micros = frac_micros * 10 + i64::from(ch - b'0');
                }
                n += 1;
                c.i += 1;
            }
            if n == 0 || n > 12 {
                return Err(err("fractional seconds need 1 to 12 digits"));
            }
            for _ in n..6 {
                frac_micros *= 10;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 59 {
        return Err(err("hour, minute or second out of range"));
    }
    let offset_secs: i64 = match c.peek() {
        None => 0,
        Some(b'Z' | b'z') => {
            c.i += 1;
            0
        }
        Some(sign @ (b'+' | b'-' | b' ')) => {
            c.i += 1;
            let (Some(oh), true, Some(om)) = (c.digits(2), c.eat(b':'), c.digits(2)) else {
                return Err(err("expected a time-zone offset +HH:MM"));
            };
            if oh > 23 || om > 59 {
                return Err(err("time-zone offset out of range"));
            }
            let v = i64::from(oh * 3600 + om * 60);
            if sign == b'-' { -v } else { v }
        }
        Some(_) => return Err(err("expected 'Z' or a time-zone offset")),
    };
    if c.peek().is_some() {
        return Err(err("unexpected characters after the time-zone offset"));
    }
    let secs =
        date.to_micros() / MICROS_PER_SEC + i64::from(h * 3600 + mi * 60 + sec) - offset_secs;
    Ok(DateOrTime::DateTime(secs * MICROS_PER_SEC + frac_micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let midnight = parse_datetime_literal("2019-11-01").unwrap();
        assert_eq!(midnight, 1_572_566_400_000_000);
        for s in [
            "2019-11-01T00:00:00Z",
            "2019-11-01T00:00:00+00:00",
            "2019-11-01T00:00:00.000000+00:00",
            "2019-11-01T00:00:00 00:00",
            "2019-11-01T02:00:00+02:00",
            "2019-10-31T22:00:00-02:00",
            "2019-11-01t00:00z",
            "2019-11-01T00:00:00",
        ] {
            assert_eq!(parse_datetime_literal(s), Ok(midnight), "{s}");
        }
        assert_eq!(
            parse_datetime_literal("2023-09-25T09:25:00.1234567Z").unwrap() % 1_000_000,
            123_456
        );
        assert_eq!(parse_datetime_literal("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_datetime_literal("1969-12-31T23:59:59.5Z"),
            Ok(-500_000)
        );
        assert_eq!(parse_datetime_literal("2024-02-29").map(|_| ()), Ok(()));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2019-11",
            "2019-13-01",
            "2023-02-29",
            "2019-11-01T",
            "2019-11-01T24:00:00Z",
            "2019-11-01T00:60Z",
            "2019-11-01T00:00:00.Z",
            "2019-11-01T00:00:00Zjunk",
            "2019-11-01T00:00:00+2:00",
            "2019-11-01 00:00:00Z",
            "２０１９-11-01",
        ] {
            let e = parse_datetime_literal(s).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::BadRequest, "{s}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_datetime_micros(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_datetime_micros(-500_000), "1969-12-31T23:59:59.5Z");
        assert_eq!(
            format_datetime_micros(1_695_633_900_123_400),
            "2023-09-25T09:25:00.1234Z"
        );
    }
}
