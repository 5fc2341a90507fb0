#![forbid(unsafe_code)]
//! Realistic synthetic Microsoft Graph call records (`microsoft.graph.callRecords`) and log rows.
//!
//! Records are written as NDJSON, one compact `callRecord` JSON object per line, generated lazily and
//! deterministically from a [`GenConfig`]: the same config and count always give the same bytes.
//! About 10 % of records are followed, later in the stream, by a later version of themselves (same `id`,
//! higher `version`, later `lastModifiedDateTime`, and data that was missing at first: streams, feedback).
//!
//! The JSON is emitted directly (no intermediate `serde_json::Value`) so that millions of records can be
//! generated quickly; [`call_records`] parses the same lines back for callers that want values.

pub mod enums;
mod json;
mod logs;
mod record;
mod rng;
mod users;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use callrecords_model::LogKind;
use rand::Rng;

use crate::json::Json;
use crate::record::RecordGen;

/// How big and how detailed the generated records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scale {
    /// Realistic mix: ~60 % peer-to-peer, heavy-tailed group calls (some with >1,000 sessions), every
    /// property Graph returns (explicit `null`s included).
    #[default]
    Full,
    /// For million-record stores: ~95 % peer-to-peer, no record over 60 sessions, fewer properties
    /// (no deprecated identity sets, no explicit nulls for absent metrics).
    Small,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Everything random derives from this.
    pub seed: u64,
    /// Start of the window the calls (and log rows) fall in. Never the clock.
    pub start: jiff::Timestamp,
    /// Length of the window in days (at least 1).
    pub days: u32,
    /// Tenant id written in identities; the user directory is derived from it.
    pub tenant_id: String,
    pub scale: Scale,
}

/// The tenant id used by default (the one in Microsoft's examples).
pub const DEFAULT_TENANT_ID: &str = "dc368399-474c-4d40-900c-6265431fd81f";

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 0,
            start: jiff::Timestamp::from_second(1_767_600_000)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH), // 2026-01-05T08:00:00Z
            days: 7,
            tenant_id: DEFAULT_TENANT_ID.to_string(),
            scale: Scale::Full,
        }
    }
}

/// Counters returned by the writers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Lines written (records including later versions, or log rows).
    pub lines: u64,
    /// Distinct call records (first versions) written.
    pub records: u64,
    /// Lines that are a later version (version ≥ 2) of an earlier line.
    pub later_versions: u64,
    /// Sessions across all written lines.
    pub sessions: u64,
    /// Bytes written, newlines included.
    pub bytes: u64,
    /// Size of the largest line, in bytes.
    pub max_line_bytes: u64,
}

/// The record stream: new records interleaved with later versions of earlier ones.
struct RecordStream {
    generator: RecordGen,
    sched: rng::R,
    next_index: u64,
    line: u64,
    /// (emit at line, record index, version)
    pending: BinaryHeap<Reverse<(u64, u64, u32)>>,
}

impl RecordStream {
    fn new(cfg: &GenConfig) -> Self {
        RecordStream {
            generator: RecordGen::new(cfg),
            sched: rng::rng_for(cfg.seed, 0x5343_4845, 0),
            next_index: 0,
            line: 0,
            pending: BinaryHeap::new(),
        }
    }

    /// Writes the next line (without its newline) into `j`; returns (version, sessions).
    fn next_line(&mut self, j: &mut Json) -> (u32, u64) {
        j.clear();
        let line = self.line;
        self.line += 1;
        let (index, version) = match self.pending.peek() {
            Some(Reverse((at, _, _))) if *at <= line => {
                let Some(Reverse((_, index, version))) = self.pending.pop() else {
                    unreachable!()
                };
                (index, version)
            }
            _ => {
                let index = self.next_index;
                self.next_index += 1;
                (index, 1)
            }
        };
        let info = self.generator.write(index, version, j);
        if version < info.final_version {
            let delay = self.sched.random_range(20..3000u64);
            self.pending
                .push(Reverse((line + delay, index, version + 1)));
        }
        (version, info.sessions)
    }
}

/// Writes `count` lines of call records as NDJSON to `out` (later versions included and counted).
///
/// Each record is serialized into a reused buffer and handed to `out` in one `write_all`, so wrap files
/// and stdout in a `BufWriter`.
pub fn write_call_records(
    cfg: &GenConfig,
    count: u64,
    out: &mut impl Write,
) -> io::Result<GenStats> {
    write_call_records_observed(cfg, count, out, |_| {})
}

/// What was written on one line (for progress reporting and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    pub version: u32,
    pub sessions: u64,
    /// Distinct participants (`participants_v2` entries).
    pub participants: u64,
    /// Bytes of the line, newline included.
    pub bytes: u64,
}

/// [`write_call_records`], calling `on_line` after each line is written.
pub fn write_call_records_observed(
    cfg: &GenConfig,
    count: u64,
    out: &mut impl Write,
    mut on_line: impl FnMut(&LineInfo),
) -> io::Result<GenStats> {
    let mut stream = RecordStream::new(cfg);
    let mut j = Json::new();
    j.buf.reserve(256 * 1024);
    let mut stats = GenStats::default();
    for _ in 0..count {
        let (version, sessions) = stream.next_line(&mut j);
        j.buf.push(b'\n');
        out.write_all(&j.buf)?;
        on_line(&LineInfo {
            version,
            sessions,
            participants: stream.generator.participants(),
            bytes: j.buf.len() as u64,
        });
        stats.lines += 1;
        if version == 1 {
            stats.records += 1;
        } else {
            stats.later_versions += 1;
        }
        stats.sessions += sessions;
        stats.bytes += j.buf.len() as u64;
        stats.max_line_bytes = stats.max_line_bytes.max(j.buf.len() as u64);
    }
    Ok(stats)
}

/// The same stream as [`write_call_records`], unbounded and lazy, parsed into values.
pub fn call_records(cfg: &GenConfig) -> impl Iterator<Item = serde_json::Value> + use<> {
    let mut stream = RecordStream::new(cfg);
    let mut j = Json::new();
    std::iter::from_fn(move || {
        stream.next_line(&mut j);
        Some(serde_json::from_slice(&j.buf).unwrap_or(serde_json::Value::Null))
    })
}

/// Writes `count` log rows of `kind` as NDJSON, shaped like the rows in the docs' examples for the
/// kind's function, dated within the config's window (the dial-out report has no date).
pub fn write_log_rows(
    cfg: &GenConfig,
    kind: LogKind,
    count: u64,
    out: &mut impl Write,
) -> io::Result<GenStats> {
    let mut g = logs::LogGen::new(cfg);
    let mut j = Json::new();
    let mut stats = GenStats::default();
    for i in 0..count {
        j.clear();
        g.write(kind, i, &mut j);
        j.buf.push(b'\n');
        out.write_all(&j.buf)?;
        stats.lines += 1;
        stats.bytes += j.buf.len() as u64;
        stats.max_line_bytes = stats.max_line_bytes.max(j.buf.len() as u64);
    }
    Ok(stats)
}

/// A time in `[start, start + days)`: uniform day (fewer at weekends), business-hours weighted time of day.
pub(crate) fn window_time(r: &mut rng::R, start: i64, span: i64) -> i64 {
    use crate::json::TICKS;
    let days = (span / (86_400 * TICKS)).max(1);
    let start_sod = (start / TICKS).rem_euclid(86_400);
    let mut day = r.random_range(0..days);
    let weekday = ((start / TICKS).div_euclid(86_400) + day + 3).rem_euclid(7); // 0 = Monday
    if weekday >= 5 && r.random_bool(0.75) {
        day = r.random_range(0..days);
    }
    let tod: f64 = if r.random_bool(0.82) {
        let c = if r.random_bool(0.5) { 10.0 } else { 14.5 };
        (c + 1.8 * rng::normal(r)).rem_euclid(24.0)
    } else {
        r.random::<f64>() * 24.0
    };
    let off = ((tod * 3600.0) as i64 - start_sod).rem_euclid(86_400);
    start + (day * 86_400 + off) * TICKS + r.random_range(0..TICKS)
}
