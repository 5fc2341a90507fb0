//! A minimal, allocation-free JSON emitter writing straight into a byte buffer.
//!
//! Generation speed matters (millions of records), so records are never built as `serde_json::Value`:
//! keys are constant byte strings and numbers are formatted by hand.

/// Appends compact JSON to a `Vec<u8>`, inserting commas itself.
#[derive(Debug, Default)]
pub(crate) struct Json {
    pub(crate) buf: Vec<u8>,
    /// No comma before the next value (just after `{`, `[` or a key).
    first: bool,
}

impl Json {
    pub(crate) fn new() -> Self {
        Json {
            buf: Vec::new(),
            first: true,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.first = true;
    }

    #[inline]
    fn sep(&mut self) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
    }

    #[inline]
    pub(crate) fn obj(&mut self) {
        self.sep();
        self.buf.push(b'{');
        self.first = true;
    }

    #[inline]
    pub(crate) fn end_obj(&mut self) {
        self.buf.push(b'}');
        self.first = false;
    }

    #[inline]
    pub(crate) fn arr(&mut self) {
        self.sep();
        self.buf.push(b'[');
        self.first = true;
    }

    #[inline]
    pub(crate) fn end_arr(&mut self) {
        self.buf.push(b']');
        self.first = false;
    }

    /// A key; `k` must not need escaping (all property names are ASCII identifiers).
    #[inline]
    pub(crate) fn key(&mut self, k: &str) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.first = true;
    }

    /// A complete, already-serialized JSON value.
    #[inline]
    pub(crate) fn raw(&mut self, v: &[u8]) {
        self.sep();
        self.buf.extend_from_slice(v);
    }

    #[inline]
    pub(crate) fn str(&mut self, s: &str) {
        self.sep();
        self.buf.push(b'"');
        push_escaped(&mut self.buf, s);
        self.buf.push(b'"');
    }

    /// A string whose bytes are known to need no escaping (GUIDs, generated ASCII).
    #[inline]
    pub(crate) fn str_bytes(&mut self, s: &[u8]) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(s);
        self.buf.push(b'"');
    }

    #[inline]
    pub(crate) fn null(&mut self) {
        self.sep();
        self.buf.extend_from_slice(b"null");
    }

    #[inline]
    pub(crate) fn bool(&mut self, b: bool) {
        self.sep();
        self.buf
            .extend_from_slice(if b { b"true" } else { b"false" });
    }

    #[inline]
    pub(crate) fn int(&mut self, v: i64) {
        self.sep();
        push_int(&mut self.buf, v);
    }

    /// `v` rounded to `decimals` fractional digits, trailing zeros trimmed (`0.27`, `0`, `60.25816`).
    #[inline]
    pub(crate) fn fixed(&mut self, v: f64, decimals: u32) {
        self.sep();
        push_fixed(&mut self.buf, v, decimals);
    }

    /// ISO 8601 duration from milliseconds (`PT0.016S`, `PT1M5.2S`).
    #[inline]
    pub(crate) fn dur_ms(&mut self, ms: u64) {
        self.sep();
        self.buf.push(b'"');
        push_duration_ms(&mut self.buf, ms);
        self.buf.push(b'"');
    }

    /// A DateTimeOffset from 100 ns ticks since the Unix epoch, `digits` (0–7) fractional digits,
    /// trailing zeros trimmed like Graph does.
    #[inline]
    pub(crate) fn ts(&mut self, ticks: i64, digits: u32) {
        self.sep();
        self.buf.push(b'"');
        push_timestamp(&mut self.buf, ticks, digits);
        self.buf.push(b'"');
    }

    // Key + value shorthands.
    #[inline]
    pub(crate) fn k_str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.str(v);
    }
    #[inline]
    pub(crate) fn k_null(&mut self, k: &str) {
        self.key(k);
        self.null();
    }
    #[inline]
    pub(crate) fn k_bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.bool(v);
    }
    #[inline]
    pub(crate) fn k_int(&mut self, k: &str, v: i64) {
        self.key(k);
        self.int(v);
    }
    #[inline]
    pub(crate) fn k_fixed(&mut self, k: &str, v: f64, d: u32) {
        self.key(k);
        self.fixed(v, d);
    }
    #[inline]
    pub(crate) fn k_dur(&mut self, k: &str, ms: u64) {
        self.key(k);
        self.dur_ms(ms);
    }
    #[inline]
    pub(crate) fn k_ts(&mut self, k: &str, ticks: i64, digits: u32) {
        self.key(k);
        self.ts(ticks, digits);
    }
    #[inline]
    pub(crate) fn k_raw(&mut self, k: &str, v: &[u8]) {
        self.key(k);
        self.raw(v);
    }
    /// Optional float: `null` when absent.
    /// A Decimal money amount with exactly two decimals (`0.00`, `12.83`).
    #[inline]
    pub(crate) fn k_money(&mut self, k: &str, v: f64) {
        self.key(k);
        self.sep();
        let cents = (v * 100.0).round().max(0.0) as u64;
        push_uint(&mut self.buf, cents / 100);
        self.buf.push(b'.');
        self.buf.push(b'0' + (cents / 10 % 10) as u8);
        self.buf.push(b'0' + (cents % 10) as u8);
    }
    #[inline]
    pub(crate) fn k_ofixed(&mut self, k: &str, v: Option<f64>, d: u32) {
        self.key(k);
        match v {
            Some(v) => self.fixed(v, d),
            None => self.null(),
        }
    }
    #[inline]
    pub(crate) fn k_odur(&mut self, k: &str, ms: Option<u64>) {
        self.key(k);
        match ms {
            Some(v) => self.dur_ms(v),
            None => self.null(),
        }
    }
}

pub(crate) fn push_escaped(buf: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[(b >> 4) as usize]);
                buf.push(HEX[(b & 15) as usize]);
            }
            _ => buf.push(b),
        }
    }
}

#[inline]
pub(crate) fn push_uint(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[inline]
pub(crate) fn push_int(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_uint(buf, v.unsigned_abs());
}

/// Writes `frac` as exactly `width` digits with trailing zeros removed (nothing when `frac == 0`).
#[inline]
fn push_frac(buf: &mut Vec<u8>, mut frac: u64, mut width: u32) {
    if frac == 0 {
        return;
    }
    while frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    buf.push(b'.');
    let mut tmp = [b'0'; 20];
    let w = width as usize;
    let mut i = w;
    while frac > 0 {
        i -= 1;
        tmp[i] = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    buf.extend_from_slice(&tmp[..w]);
}

const POW10: [u64; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

#[inline]
pub(crate) fn push_fixed(buf: &mut Vec<u8>, v: f64, decimals: u32) {
    let scale = POW10[decimals as usize];
    let m = (v * scale as f64).round();
    if m == 0.0 || !m.is_finite() {
        buf.push(b'0');
        return;
    }
    if m < 0.0 {
        buf.push(b'-');
    }
    let m = m.abs() as u64;
    push_uint(buf, m / scale);
    push_frac(buf, m % scale, decimals);
}

pub(crate) fn push_duration_ms(buf: &mut Vec<u8>, ms: u64) {
    buf.extend_from_slice(b"PT");
    let h = ms / 3_600_000;
    let m = (ms / 60_000) % 60;
    let s = (ms / 1000) % 60;
    let f = ms % 1000;
    if h > 0 {
        push_uint(buf, h);
        buf.push(b'H');
    }
    if m > 0 {
        push_uint(buf, m);
        buf.push(b'M');
    }
    if s > 0 || f > 0 || ms == 0 {
        push_uint(buf, s);
        push_frac(buf, f, 3);
        buf.push(b'S');
    }
}

/// Ticks (100 ns) per second.
pub(crate) const TICKS: i64 = 10_000_000;

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

#[inline]
fn push2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

pub(crate) fn push_timestamp(buf: &mut Vec<u8>, ticks: i64, digits: u32) {
    let secs = ticks.div_euclid(TICKS);
    let sub = ticks.rem_euclid(TICKS) as u64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, mo, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    push2(buf, y / 100);
    push2(buf, y % 100);
    buf.push(b'-');
    push2(buf, mo);
    buf.push(b'-');
    push2(buf, d);
    buf.push(b'T');
    push2(buf, sod / 3600);
    buf.push(b':');
    push2(buf, (sod / 60) % 60);
    buf.push(b':');
    push2(buf, sod % 60);
    let digits = digits.min(7);
    push_frac(buf, sub / POW10[(7 - digits) as usize], digits);
    buf.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn numbers() {
        assert_eq!(s(|b| push_fixed(b, 0.0138169312, 8)), "0.01381693");
        assert_eq!(s(|b| push_fixed(b, 0.27, 8)), "0.27");
        assert_eq!(s(|b| push_fixed(b, 0.0, 8)), "0");
        assert_eq!(s(|b| push_fixed(b, 23.0, 4)), "23");
        assert_eq!(s(|b| push_fixed(b, -10.5, 1)), "-10.5");
        assert_eq!(s(|b| push_int(b, -86)), "-86");
        assert_eq!(s(|b| push_uint(b, 4294967295)), "4294967295");
    }

    #[test]
    fn durations() {
        assert_eq!(s(|b| push_duration_ms(b, 16)), "PT0.016S");
        assert_eq!(s(|b| push_duration_ms(b, 474)), "PT0.474S");
        assert_eq!(s(|b| push_duration_ms(b, 1000)), "PT1S");
        assert_eq!(s(|b| push_duration_ms(b, 0)), "PT0S");
        assert_eq!(s(|b| push_duration_ms(b, 65_200)), "PT1M5.2S");
        assert_eq!(s(|b| push_duration_ms(b, 3_600_000)), "PT1H");
    }

    #[test]
    fn timestamps_match_jiff() {
        let t: jiff::Timestamp = "2020-02-25T18:52:21.2169889Z".parse().unwrap();
        let ticks = (t.as_nanosecond() / 100) as i64;
        assert_eq!(
            s(|b| push_timestamp(b, ticks, 7)),
            "2020-02-25T18:52:21.2169889Z"
        );
        assert_eq!(
            s(|b| push_timestamp(b, ticks, 3)),
            "2020-02-25T18:52:21.216Z"
        );
        assert_eq!(s(|b| push_timestamp(b, ticks, 0)), "2020-02-25T18:52:21Z");
        for secs in [
            0i64,
            951_782_400,
            1_767_600_000,
            4_102_444_800,
            1_709_164_800,
        ] {
            let t = jiff::Timestamp::from_second(secs).unwrap();
            assert_eq!(s(|b| push_timestamp(b, secs * TICKS, 7)), t.to_string());
        }
    }

    #[test]
    fn commas() {
        let mut j = Json::new();
        j.obj();
        j.k_int("a", 1);
        j.key("b");
        j.arr();
        j.int(1);
        j.obj();
        j.end_obj();
        j.end_arr();
        j.k_str("c", "x\"y");
        j.end_obj();
        assert_eq!(
            String::from_utf8(j.buf).unwrap(),
            r#"{"a":1,"b":[1,{}],"c":"x\"y"}"#
        );
    }
}
