//! Derived call-quality data: stream / session rows, each record's contributions and their sums per UTC
//! day of the records' start (`quality_daily`, schema 7), the building file and the derivation epoch. See
//! [`callrecords_store::quality`].
//!
//! A summary over a window adds the `quality_daily` rows of the days wholly inside it and, for the parts of
//! the window that do not start or end at midnight, the contributions of the records starting there: a
//! 30-day summary reads ~30 rows per group instead of one per record.

use std::collections::{BTreeMap, HashMap};

use callrecords_store::quality::{
    QualityContribution, QualityMeta, QualityUpdate, QualityWindow, StoredStream, StreamFilter,
};
use callrecords_store::{ReadScope, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};

use crate::{SqlResult, limit_i64};

fn encode_counts(c: &[u64]) -> Vec<u8> {
    c.iter().flat_map(|n| n.to_le_bytes()).collect()
}

fn decode_counts(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

fn add_into(acc: &mut Vec<u64>, c: &[u64]) {
    if acc.len() < c.len() {
        acc.resize(c.len(), 0);
    }
    for (a, n) in acc.iter_mut().zip(c) {
        *a += n;
    }
}

/// µs per UTC day.
const DAY_US: i64 = 86_400_000_000;
/// `quality_daily.day` of records without a `startDateTime`.
const NO_START: i64 = i64::MIN;

/// The UTC day (days since 1970-01-01) a record starting at `start_us` is summed under.
fn day_of(start_us: Option<i64>) -> i64 {
    start_us.map_or(NO_START, |s| s.div_euclid(DAY_US))
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A record's contributions as one blob: per contribution its key (length-prefixed UTF-8), its value
/// (0 for none, else 1 and the string) and its counters (how many, then each), all lengths and counters
/// as LEB128 varints (most counters are 0 or 1: a few dozen bytes per contribution).
fn encode_contributions(cs: &[QualityContribution]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cs.len() * 48);
    for c in cs {
        put_str(&mut out, &c.key);
        match &c.value {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                put_str(&mut out, v);
            }
        }
        put_varint(&mut out, c.counts.len() as u64);
        for n in &c.counts {
            put_varint(&mut out, *n);
        }
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn str(&mut self) -> Option<String> {
        let n = usize::try_from(self.varint()?).ok()?;
        if n > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(s.to_vec()).ok()
    }
}

/// The inverse of [`encode_contributions`]; only the contributions under `key` when given.
fn decode_contributions(
    b: &[u8],
    key: Option<&str>,
) -> Result<Vec<QualityContribution>, StoreError> {
    let bad = || StoreError::Backend("unreadable quality contributions".into());
    let mut r = Reader(b);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let k = r.str().ok_or_else(bad)?;
        let value = match r.0.split_first() {
            Some((0, rest)) => {
                r.0 = rest;
                None
            }
            Some((1, rest)) => {
                r.0 = rest;
                Some(r.str().ok_or_else(bad)?)
            }
            _ => return Err(bad()),
        };
        let n = r.varint().ok_or_else(bad)?;
        let mut counts = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(256));
        for _ in 0..n {
            counts.push(r.varint().ok_or_else(bad)?);
        }
        if key.is_none_or(|want| want == k) {
            out.push(QualityContribution {
                key: k,
                value,
                counts,
            });
        }
    }
    Ok(out)
}

pub(crate) fn meta(c: &Connection) -> Result<QualityMeta, StoreError> {
    c.prepare_cached("SELECT epoch, buildings FROM quality_meta WHERE id = 1")
        .db()?
        .query_row([], |r| {
            Ok(QualityMeta {
                epoch: r.get(0)?,
                buildings: r.get(1)?,
            })
        })
        .db()
}

fn delete_rows(tx: &Connection, tenant: &str, id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM quality_streams WHERE tenant = ?1 AND record_id = ?2")
        .db()?
        .execute(params![tenant, id])
        .db()?;
    Ok(())
}

/// A record's stream and session rows as one blob: the stream count, the session count, then each row's
/// JSON (length-prefixed), all deflated together (the rows of one record repeat its call's slicers).
fn encode_rows(u: &QualityUpdate, deflate: &mut flate2::Compress) -> Result<Vec<u8>, StoreError> {
    let len: usize = u.streams.iter().map(|s| s.json.len() + 3).sum::<usize>()
        + u.sessions.iter().map(|s| s.len() + 3).sum::<usize>();
    let mut plain = Vec::with_capacity(len + 8);
    put_varint(&mut plain, u.streams.len() as u64);
    put_varint(&mut plain, u.sessions.len() as u64);
    for s in &u.streams {
        put_str(&mut plain, &s.json);
    }
    for s in &u.sessions {
        put_str(&mut plain, s);
    }
    crate::encoding::deflate_bytes(&plain, deflate)
}

/// The stream rows' JSON of a blob made by [`encode_rows`].
fn decode_stream_rows(blob: Vec<u8>) -> Result<Vec<String>, StoreError> {
    let bad = || StoreError::Backend("unreadable quality rows".into());
    let plain = crate::encoding::inflate_bytes(&blob)?;
    let mut r = Reader(&plain);
    let n = r.varint().ok_or_else(bad)?;
    let _sessions = r.varint().ok_or_else(bad)?;
    (0..n).map(|_| r.str().ok_or_else(bad)).collect()
}

/// Changes to `quality_daily` of one transaction: (group key, day, tenant, group value) → signed counters.
type Deltas = HashMap<(String, i64, String, Option<String>), Vec<i128>>;

fn add_delta(d: &mut Deltas, tenant: &str, day: i64, c: QualityContribution, sign: i128) {
    let acc = d
        .entry((c.key, day, tenant.to_owned(), c.value))
        .or_default();
    if acc.len() < c.counts.len() {
        acc.resize(c.counts.len(), 0);
    }
    for (a, n) in acc.iter_mut().zip(&c.counts) {
        *a += sign * i128::from(*n);
    }
}

/// Adds the deltas to `quality_daily`; a row whose counters all reach zero (no record contributes any
/// more) is deleted.
fn apply_deltas(tx: &Connection, deltas: Deltas) -> Result<(), StoreError> {
    for ((key, day, tenant, value), delta) in deltas {
        if delta.iter().all(|n| *n == 0) {
            continue;
        }
        let row: Option<(i64, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT rowid, counts FROM quality_daily WHERE group_key = ?1 AND day = ?2 \
                 AND tenant = ?3 AND group_value IS ?4",
            )
            .db()?
            .query_row(params![key, day, tenant, value], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .db()?;
        let (rowid, old) = match row {
            Some((id, b)) => (Some(id), decode_counts(&b)),
            None => (None, Vec::new()),
        };
        let len = old.len().max(delta.len());
        let mut sum = Vec::with_capacity(len);
        for i in 0..len {
            let n =
                i128::from(old.get(i).copied().unwrap_or(0)) + delta.get(i).copied().unwrap_or(0);
            sum.push(u64::try_from(n).map_err(|_| {
                StoreError::Backend(format!(
                    "quality counters of {key}/{value:?} on day {day} would become {n}"
                ))
            })?);
        }
        match (rowid, sum.iter().all(|n| *n == 0)) {
            (Some(id), true) => {
                tx.prepare_cached("DELETE FROM quality_daily WHERE rowid = ?1")
                    .db()?
                    .execute([id])
                    .db()?;
            }
            (Some(id), false) => {
                tx.prepare_cached("UPDATE quality_daily SET counts = ?2 WHERE rowid = ?1")
                    .db()?
                    .execute(params![id, encode_counts(&sum)])
                    .db()?;
            }
            (None, true) => {}
            (None, false) => {
                tx.prepare_cached(
                    "INSERT INTO quality_daily (group_key, day, tenant, group_value, counts) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .db()?
                .execute(params![key, day, tenant, value, encode_counts(&sum)])
                .db()?;
            }
        }
    }
    Ok(())
}

/// Removes the derived rows of `keys` (tenant, record id) and takes their contributions out of
/// `quality_daily`, inside the caller's transaction (retention, erasure). Returns how many records had
/// derived rows.
pub(crate) fn forget_records(
    tx: &Connection,
    keys: &[(String, String)],
) -> Result<u64, StoreError> {
    let mut deltas = Deltas::new();
    let mut n = 0;
    for (tenant, id) in keys {
        let stored: Option<(Option<i64>, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT start_us, contributions FROM quality_records \
                 WHERE tenant = ?1 AND record_id = ?2",
            )
            .db()?
            .query_row(params![tenant, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .db()?;
        let Some((start, blob)) = stored else {
            continue;
        };
        for old in decode_contributions(&blob, None)? {
            add_delta(&mut deltas, tenant, day_of(start), old, -1);
        }
        delete_rows(tx, tenant, id)?;
        tx.prepare_cached("DELETE FROM quality_records WHERE tenant = ?1 AND record_id = ?2")
            .db()?
            .execute(params![tenant, id])
            .db()?;
        n += 1;
    }
    apply_deltas(tx, deltas)?;
    Ok(n)
}

pub(crate) fn replace(
    c: &mut Connection,
    epoch: i64,
    consumer: &str,
    cursor: i64,
    updates: Vec<QualityUpdate>,
) -> Result<bool, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    if meta(&tx)?.epoch != epoch {
        return Ok(false);
    }
    apply_updates(&tx, updates)?;
    save_cursor(&tx, consumer, cursor)?;
    tx.commit().db()?;
    Ok(true)
}

/// Moves `consumer`'s cursor to `cursor` (forward only).
pub(crate) fn save_cursor(tx: &Connection, consumer: &str, cursor: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO consumer_cursors (consumer, cursor) VALUES (?1, ?2) \
         ON CONFLICT (consumer) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
    )
    .db()?
    .execute(params![consumer, cursor])
    .db()?;
    Ok(())
}

/// Whether the quality deriver is caught up under `epoch`: the epoch is current and its cursor is at
/// (or past) the last change of the feed. Read inside the writer's transaction.
pub(crate) fn caught_up(tx: &Connection, epoch: i64) -> Result<bool, StoreError> {
    if meta(tx)?.epoch != epoch {
        return Ok(false);
    }
    let head: i64 = tx
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM record_versions")
        .db()?
        .query_row([], |r| r.get(0))
        .db()?;
    let cursor =
        crate::notifications::consumer_cursor(tx, callrecords_store::quality::QUALITY_CONSUMER)?;
    Ok(cursor >= head)
}

/// Inside the caller's transaction: each update whose version is at least the one stored for its
/// record replaces the record's rows and contributions (the per-day sums follow), in order.
pub(crate) fn apply_updates(
    tx: &Connection,
    updates: impl IntoIterator<Item = QualityUpdate>,
) -> Result<(), StoreError> {
    let mut deltas = Deltas::new();
    let mut deflate = crate::encoding::new_deflate();
    for u in updates {
        let stored: Option<(i64, Option<i64>, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT version, start_us, contributions FROM quality_records \
                 WHERE tenant = ?1 AND record_id = ?2",
            )
            .db()?
            .query_row(params![u.tenant, u.record_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .db()?;
        if let Some((v, start, blob)) = stored {
            if v > u.version {
                continue;
            }
            for old in decode_contributions(&blob, None)? {
                add_delta(&mut deltas, &u.tenant, day_of(start), old, -1);
            }
            delete_rows(tx, &u.tenant, &u.record_id)?;
        }
        let poor = u.streams.iter().filter(|s| s.class == "poor").count();
        let rows = encode_rows(&u, &mut deflate)?;
        tx.prepare_cached(
            "INSERT INTO quality_records (tenant, record_id, version, start_us, stream_count, \
             poor_streams, failed_sessions, contributions, rows) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (tenant, record_id) DO UPDATE SET version = excluded.version, \
             start_us = excluded.start_us, stream_count = excluded.stream_count, \
             poor_streams = excluded.poor_streams, failed_sessions = excluded.failed_sessions, \
             contributions = excluded.contributions, rows = excluded.rows",
        )
        .db()?
        .execute(params![
            u.tenant,
            u.record_id,
            u.version,
            u.start_us,
            limit_i64(u.streams.len()),
            limit_i64(poor),
            i64::try_from(u.failed_sessions).unwrap_or(i64::MAX),
            encode_contributions(&u.contributions),
            rows
        ])
        .db()?;
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO quality_streams (tenant, record_id, start_us, kind, class, subnet, \
                 has_building, row) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .db()?;
        for (i, s) in u.streams.iter().enumerate() {
            ins.execute(params![
                u.tenant,
                u.record_id,
                u.start_us,
                s.kind,
                s.class,
                s.subnet,
                s.has_building,
                limit_i64(i)
            ])
            .db()?;
        }
        let day = day_of(u.start_us);
        for k in u.contributions {
            add_delta(&mut deltas, &u.tenant, day, k, 1);
        }
    }
    apply_deltas(tx, deltas)
}

pub(crate) fn reset(
    c: &mut Connection,
    consumer: &str,
    buildings: Option<String>,
) -> Result<QualityMeta, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    tx.execute_batch(
        "DELETE FROM quality_records; DELETE FROM quality_streams; DELETE FROM quality_daily; \
         UPDATE quality_meta SET epoch = epoch + 1 WHERE id = 1;",
    )
    .db()?;
    if let Some(b) = buildings {
        tx.execute("UPDATE quality_meta SET buildings = ?1 WHERE id = 1", [b])
            .db()?;
    }
    tx.execute(
        "INSERT INTO consumer_cursors (consumer, cursor) VALUES (?1, 0) \
         ON CONFLICT (consumer) DO UPDATE SET cursor = 0",
        [consumer],
    )
    .db()?;
    let m = meta(&tx)?;
    tx.commit().db()?;
    Ok(m)
}

/// ` AND …` for scope and window, pushing their parameters.
fn filters(scope: &ReadScope, w: QualityWindow, params: &mut Vec<SqlValue>) -> String {
    let mut sql = String::new();
    if let Some(t) = scope.tenant() {
        params.push(SqlValue::Text(t.to_owned()));
        sql.push_str(&format!(" AND tenant = ?{}", params.len()));
    }
    if let Some(f) = w.from_us {
        params.push(SqlValue::Integer(f));
        sql.push_str(&format!(" AND start_us >= ?{}", params.len()));
    }
    if let Some(u) = w.until_us {
        params.push(SqlValue::Integer(u));
        sql.push_str(&format!(" AND start_us < ?{}", params.len()));
    }
    sql
}

/// The days of a window summed from `quality_daily` (`[lo, hi)`, `None` for no such day) and the parts
/// of the window outside them (`[from, until)` ranges of record starts, summed from the records' own
/// contributions). An unbounded window is every day, records without a start included.
fn split_window(w: QualityWindow) -> (Option<(i64, i64)>, Vec<QualityWindow>) {
    if w.from_us.is_none() && w.until_us.is_none() {
        return (Some((NO_START, i64::MAX)), Vec::new());
    }
    // First day that starts at or after `from`; first day that does not end by `until`.
    let lo = w.from_us.map_or(NO_START + 1, |f| {
        f.div_euclid(DAY_US) + i64::from(f.rem_euclid(DAY_US) != 0)
    });
    let hi = w.until_us.map_or(i64::MAX, |u| u.div_euclid(DAY_US));
    if lo >= hi {
        return (None, vec![w]);
    }
    let mut edges = Vec::new();
    if let Some(f) = w.from_us
        && f < lo.saturating_mul(DAY_US)
    {
        edges.push(QualityWindow {
            from_us: Some(f),
            until_us: Some(lo.saturating_mul(DAY_US)),
        });
    }
    if let Some(u) = w.until_us
        && u > hi.saturating_mul(DAY_US)
    {
        edges.push(QualityWindow {
            from_us: Some(hi.saturating_mul(DAY_US)),
            until_us: Some(u),
        });
    }
    (Some((lo, hi)), edges)
}

pub(crate) fn totals(
    c: &Connection,
    scope: &ReadScope,
    w: QualityWindow,
    key: &str,
) -> Result<callrecords_store::quality::GroupTotals, StoreError> {
    let mut out: BTreeMap<Option<String>, Vec<u64>> = BTreeMap::new();
    let tx = c.unchecked_transaction().db()?;
    let (days, edges) = split_window(w);
    if let Some((lo, hi)) = days {
        let mut p = vec![
            SqlValue::Text(key.to_owned()),
            SqlValue::Integer(lo),
            SqlValue::Integer(hi),
        ];
        let mut sql = "SELECT group_value, counts FROM quality_daily WHERE group_key = ?1 \
                       AND day >= ?2 AND day < ?3"
            .to_owned();
        if let Some(t) = scope.tenant() {
            p.push(SqlValue::Text(t.to_owned()));
            sql.push_str(" AND tenant = ?4");
        }
        let mut st = tx.prepare_cached(&sql).db()?;
        let mut rows = st.query(params_from_iter(p)).db()?;
        while let Some(r) = rows.next().db()? {
            let v: Option<String> = r.get(0).db()?;
            let b: Vec<u8> = r.get(1).db()?;
            add_into(out.entry(v).or_default(), &decode_counts(&b));
        }
    }
    for edge in edges {
        let mut p = Vec::new();
        let sql = format!(
            "SELECT contributions FROM quality_records WHERE 1 = 1{}",
            filters(scope, edge, &mut p)
        );
        let mut st = tx.prepare_cached(&sql).db()?;
        let mut rows = st.query(params_from_iter(p)).db()?;
        while let Some(r) = rows.next().db()? {
            let b: Vec<u8> = r.get(0).db()?;
            for c in decode_contributions(&b, Some(key))? {
                add_into(out.entry(c.value).or_default(), &c.counts);
            }
        }
    }
    drop(tx);
    out.retain(|_, c| c.iter().any(|n| *n != 0));
    Ok(out.into_iter().collect())
}

pub(crate) fn streams(
    c: &Connection,
    scope: &ReadScope,
    f: &StreamFilter,
) -> Result<Vec<StoredStream>, StoreError> {
    let mut p = Vec::new();
    let mut sql = format!(
        "SELECT seq, tenant, record_id, row FROM quality_streams WHERE 1 = 1{}",
        filters(scope, f.window, &mut p)
    );
    for (col, v) in [
        ("kind", &f.kind),
        ("class", &f.class),
        ("record_id", &f.record_id),
    ] {
        if let Some(v) = v {
            p.push(SqlValue::Text(v.clone()));
            sql.push_str(&format!(" AND {col} = ?{}", p.len()));
        }
    }
    if let Some(a) = f.after {
        p.push(SqlValue::Integer(a));
        sql.push_str(&format!(" AND seq > ?{}", p.len()));
    }
    p.push(SqlValue::Integer(limit_i64(f.limit)));
    sql.push_str(&format!(" ORDER BY seq LIMIT ?{}", p.len()));
    let tx = c.unchecked_transaction().db()?;
    let found: Vec<(i64, String, String, i64)> = tx
        .prepare_cached(&sql)
        .db()?
        .query_map(params_from_iter(p), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    // Each record's rows are inflated once for the page.
    let mut blobs: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut out = Vec::with_capacity(found.len());
    for (seq, tenant, record_id, row) in found {
        let key = (tenant, record_id);
        if !blobs.contains_key(&key) {
            let blob: Vec<u8> = tx
                .prepare_cached(
                    "SELECT rows FROM quality_records WHERE tenant = ?1 AND record_id = ?2",
                )
                .db()?
                .query_row(params![key.0, key.1], |r| r.get(0))
                .db()?;
            blobs.insert(key.clone(), decode_stream_rows(blob)?);
        }
        let json = usize::try_from(row)
            .ok()
            .and_then(|i| blobs[&key].get(i).cloned())
            .ok_or_else(|| StoreError::Backend("stream row missing from its record".into()))?;
        out.push(StoredStream {
            seq,
            tenant: key.0,
            json,
        });
    }
    drop(tx);
    Ok(out)
}

pub(crate) fn missing_subnets(
    c: &Connection,
    scope: &ReadScope,
    w: QualityWindow,
    min: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut p = Vec::new();
    let f = filters(scope, w, &mut p);
    p.push(SqlValue::Integer(i64::try_from(min).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT subnet, count(*) AS n FROM quality_streams WHERE kind = 'audio' AND has_building = 0 \
         AND subnet IS NOT NULL{f} GROUP BY subnet HAVING n >= ?{} ORDER BY n DESC, subnet",
        p.len()
    );
    let mut st = c.prepare_cached(&sql).db()?;
    st.query_map(params_from_iter(p), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })
    .db()?
    .map(|r| r.map(|(s, n)| (s, u64::try_from(n).unwrap_or(0))))
    .collect::<rusqlite::Result<_>>()
    .db()
}
