//! Reading records: every method that answers a request runs its statements in one read transaction, so
//! what it returns is one snapshot (WAL readers see the database as of their first read).

use callrecords_store::extract::{splice_segments, view_of_stored_copy};
use callrecords_store::{
    Change, ChangeKind, ParticipantRow, PutOutcome, ReadScope, RecordHead, RecordList, RecordQuery,
    RecordRead, RecordView, SessionRow, StoreError, VersionInfo, Window,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};

use crate::encoding::decode_raw;
use crate::{SqlResult, limit_i64, to_i64, to_u64};

const HEAD_COLS: &str = "r.tenant, r.id, r.version, r.version_seq, r.head_json, r.session_count, \
                         r.participant_count, r.start_key, r.end_us, r.partial, r.rk";

/// A served head and its `rk` (the key of its session and participant rows).
fn head_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(RecordHead, i64)> {
    let start_key: i64 = r.get(7)?;
    Ok((
        RecordHead {
            tenant: r.get(0)?,
            id: r.get(1)?,
            version: r.get(2)?,
            revision: r.get(3)?,
            json: r.get(4)?,
            session_count: to_u64(r.get(5)?),
            participant_count: to_u64(r.get(6)?),
            start_us: (start_key != i64::MIN).then_some(start_key),
            end_us: r.get(8)?,
            partial: r.get(9)?,
        },
        r.get(10)?,
    ))
}

/// `AND r.tenant = ?n` for a tenant scope (pushing its parameter), nothing for every tenant.
pub(crate) fn scope_sql(scope: &ReadScope, column: &str, params: &mut Vec<SqlValue>) -> String {
    match scope.tenant() {
        Some(t) => {
            params.push(SqlValue::Text(t.to_owned()));
            format!(" AND {column} = ?{}", params.len())
        }
        None => String::new(),
    }
}

/// The served head of `id` in scope (the first tenant's when every tenant is in scope and several have it).
fn served_head(
    c: &Connection,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<(RecordHead, i64)>, StoreError> {
    let mut params = vec![SqlValue::Text(id.to_owned())];
    let scope = scope_sql(scope, "r.tenant", &mut params);
    c.prepare_cached(&format!(
        "SELECT {HEAD_COLS} FROM records r WHERE r.id = ?1{scope} ORDER BY r.tenant LIMIT 1"
    ))
    .db()?
    .query_row(rusqlite::params_from_iter(params), head_from_row)
    .optional()
    .db()
}

fn session_from_row(r: &rusqlite::Row<'_>, with_segments: bool) -> rusqlite::Result<SessionRow> {
    let ordinal: i64 = r.get(0)?;
    let json: String = r.get(1)?;
    let json = if with_segments {
        let at: Option<i64> = r.get(2)?;
        let segments: Option<String> = r.get(3)?;
        match (at, segments) {
            (Some(at), Some(seg)) => splice_segments(&json, &seg, usize::try_from(at).unwrap_or(0)),
            _ => json,
        }
    } else {
        json
    };
    Ok(SessionRow {
        ordinal: to_u64(ordinal),
        json,
    })
}

fn after_i64(w: &Window) -> i64 {
    w.after.map_or(-1, to_i64)
}

fn served_sessions(
    c: &Connection,
    rk: i64,
    w: &Window,
    with_segments: bool,
) -> Result<Vec<SessionRow>, StoreError> {
    let cols = if with_segments {
        "ordinal, json, segments_at, segments"
    } else {
        "ordinal, json"
    };
    c.prepare_cached(&format!(
        "SELECT {cols} FROM sessions WHERE rk = ?1 AND ordinal > ?2 ORDER BY ordinal LIMIT ?3"
    ))
    .db()?
    .query_map(params![rk, after_i64(w), limit_i64(w.limit)], |r| {
        session_from_row(r, with_segments)
    })
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}

fn served_participants(
    c: &Connection,
    rk: i64,
    w: &Window,
) -> Result<Vec<ParticipantRow>, StoreError> {
    c.prepare_cached(
        "SELECT ordinal, json FROM participants WHERE rk = ?1 AND ordinal > ?2 \
         ORDER BY ordinal LIMIT ?3",
    )
    .db()?
    .query_map(params![rk, after_i64(w), limit_i64(w.limit)], |r| {
        Ok(ParticipantRow {
            ordinal: to_u64(r.get(0)?),
            json: r.get(1)?,
        })
    })
    .db()?
    .collect::<rusqlite::Result<Vec<_>>>()
    .db()
}

/// A stored copy that is not the served one (for a nextLink issued while it was served).
fn view_from_history(
    c: &Connection,
    scope: &ReadScope,
    id: &str,
    revision: i64,
    read: &RecordRead,
) -> Result<Option<RecordView>, StoreError> {
    let mut params = vec![SqlValue::Integer(revision), SqlValue::Text(id.to_owned())];
    let scope = scope_sql(scope, "tenant", &mut params);
    let row: Option<(String, i64, bool, i64, Vec<u8>)> = c
        .prepare_cached(&format!(
            "SELECT tenant, version, partial, raw_encoding, raw FROM record_versions \
             WHERE seq = ?1 AND record_id = ?2{scope}"
        ))
        .db()?
        .query_row(rusqlite::params_from_iter(params), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()
        .db()?;
    let Some((tenant, version, partial, encoding, raw)) = row else {
        return Ok(None);
    };
    let raw = decode_raw(encoding, raw)?;
    view_of_stored_copy(tenant, id, version, revision, partial, &raw, read).map(Some)
}

pub(crate) fn read_record(
    c: &Connection,
    scope: &ReadScope,
    id: &str,
    read: &RecordRead,
) -> Result<Option<RecordView>, StoreError> {
    let tx = c.unchecked_transaction().db()?;
    let served = served_head(&tx, scope, id)?;
    let view = match (served, read.pin) {
        (Some((head, rk)), pin) if pin.is_none_or(|p| p == head.revision) => {
            let sessions = match &read.sessions {
                Some(w) => served_sessions(&tx, rk, w, read.with_segments)?,
                None => Vec::new(),
            };
            let participants = match &read.participants {
                Some(w) => served_participants(&tx, rk, w)?,
                None => Vec::new(),
            };
            Some(RecordView {
                head,
                sessions,
                participants,
            })
        }
        (_, Some(pin)) => view_from_history(&tx, scope, id, pin, read)?,
        (_, None) => None,
    };
    tx.finish().db()?;
    Ok(view)
}

pub(crate) fn get_session(
    c: &Connection,
    scope: &ReadScope,
    record_id: &str,
    session_id: &str,
    with_segments: bool,
) -> Result<Option<SessionRow>, StoreError> {
    let cols = if with_segments {
        "s.ordinal, s.json, s.segments_at, s.segments"
    } else {
        "s.ordinal, s.json"
    };
    let mut params = vec![
        SqlValue::Text(record_id.to_owned()),
        SqlValue::Text(session_id.to_owned()),
    ];
    let scope = scope_sql(scope, "r.tenant", &mut params);
    c.prepare_cached(&format!(
        "SELECT {cols} FROM records r JOIN sessions s ON s.rk = r.rk \
         WHERE r.id = ?1 AND s.session_id = ?2{scope} ORDER BY r.tenant, s.ordinal LIMIT 1"
    ))
    .db()?
    .query_row(rusqlite::params_from_iter(params), |r| {
        session_from_row(r, with_segments)
    })
    .optional()
    .db()
}

pub(crate) fn get_participant(
    c: &Connection,
    scope: &ReadScope,
    record_id: &str,
    participant_id: &str,
) -> Result<Option<ParticipantRow>, StoreError> {
    let mut params = vec![
        SqlValue::Text(record_id.to_owned()),
        SqlValue::Text(participant_id.to_owned()),
    ];
    let scope = scope_sql(scope, "r.tenant", &mut params);
    c.prepare_cached(&format!(
        "SELECT p.ordinal, p.json FROM records r JOIN participants p ON p.rk = r.rk \
         WHERE r.id = ?1 AND p.participant_id = ?2{scope} ORDER BY r.tenant, p.ordinal LIMIT 1"
    ))
    .db()?
    .query_row(rusqlite::params_from_iter(params), |r| {
        Ok(ParticipantRow {
            ordinal: to_u64(r.get(0)?),
            json: r.get(1)?,
        })
    })
    .optional()
    .db()
}

/// The WHERE clause (after `WHERE`) and its parameters for a record query, and the ORDER BY columns.
fn record_filter(
    scope: &ReadScope,
    q: &RecordQuery,
    with_cursor: bool,
) -> (String, Vec<SqlValue>, &'static str) {
    let mut sql = String::from("1");
    let mut params: Vec<SqlValue> = Vec::new();
    let tenant = scope.tenant();
    if let Some(t) = tenant {
        sql.push_str(" AND r.tenant = ?");
        params.push(SqlValue::Text(t.to_owned()));
    }
    // ONE lower bound on start_key: with two (`> MIN` for "has a start" and the filter's own),
    // SQLite uses only the first for its index range and scans every record before the window.
    // Records without a start (start_key = MIN) never match a start bound, so the lower bound is
    // the stricter of `> MIN` and the filter's.
    let lower = match q.start_lower {
        Some(b) if b.micros > i64::MIN && b.inclusive => Some((b.micros, true)),
        Some(b) => Some((b.micros, false)),
        None if q.start_upper.is_some() => Some((i64::MIN, false)),
        None => None,
    };
    // Likewise the keyset cursor is a lower bound: when it implies the filter's (start past it), leave the
    // filter's out so the index seek starts at the cursor.
    let cursor = q.after.as_ref().filter(|_| with_cursor);
    let implied = |(micros, inclusive): (i64, bool)| {
        cursor.is_some_and(|c| c.start_us > micros || (c.start_us == micros && inclusive))
    };
    if let Some((micros, inclusive)) = lower.filter(|l| !implied(*l)) {
        sql.push_str(if inclusive {
            " AND r.start_key >= ?"
        } else {
            " AND r.start_key > ?"
        });
        params.push(SqlValue::Integer(micros));
    }
    if let Some(b) = q.start_upper {
        sql.push_str(if b.inclusive {
            " AND r.start_key <= ?"
        } else {
            " AND r.start_key < ?"
        });
        params.push(SqlValue::Integer(b.micros));
    }
    for ids in &q.participant_ids {
        if ids.is_empty() {
            sql.push_str(" AND 0");
            continue;
        }
        sql.push_str(
            " AND r.rk IN (SELECT p.rk FROM record_participant_ids p WHERE p.participant_id IN (",
        );
        for (i, id) in ids.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ",?" });
            params.push(SqlValue::Text(id.clone()));
        }
        sql.push_str("))");
    }
    if let Some(cutoff) = q.end_after_us {
        sql.push_str(" AND r.retention_key >= ?");
        params.push(SqlValue::Integer(cutoff));
    }
    // Row values, so SQLite seeks the list index instead of scanning. Within one tenant ids are unique and
    // (start, id) orders; across tenants the tenant breaks ties (one call's record in two tenants).
    if let Some(c) = cursor {
        if tenant.is_some() {
            sql.push_str(" AND (r.start_key, r.id) > (?, ?)");
        } else {
            sql.push_str(" AND (r.start_key, r.id, r.tenant) > (?, ?, ?)");
        }
        params.push(SqlValue::Integer(c.start_us));
        params.push(SqlValue::Text(c.id.clone()));
        if tenant.is_none() {
            params.push(SqlValue::Text(c.tenant.clone()));
        }
    }
    let order = if tenant.is_some() {
        "r.start_key, r.id"
    } else {
        "r.start_key, r.id, r.tenant"
    };
    (sql, params, order)
}

fn count(c: &Connection, scope: &ReadScope, q: &RecordQuery) -> Result<u64, StoreError> {
    let (filter, params, _) = record_filter(scope, q, false);
    let sql = format!("SELECT count(*) FROM records r WHERE {filter}");
    let n: i64 = c
        .prepare_cached(&sql)
        .db()?
        .query_row(rusqlite::params_from_iter(params), |r| r.get(0))
        .db()?;
    Ok(to_u64(n))
}

pub(crate) fn list_records(
    c: &Connection,
    scope: &ReadScope,
    q: &RecordQuery,
    with_count: bool,
) -> Result<RecordList, StoreError> {
    let tx = c.unchecked_transaction().db()?;
    let (filter, mut params, order) = record_filter(scope, q, true);
    params.push(SqlValue::Integer(limit_i64(q.limit)));
    let sql = format!("SELECT {HEAD_COLS} FROM records r WHERE {filter} ORDER BY {order} LIMIT ?");
    let heads = tx
        .prepare_cached(&sql)
        .db()?
        .query_map(rusqlite::params_from_iter(params), |r| {
            head_from_row(r).map(|(h, _)| h)
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    let count = if with_count {
        Some(count(&tx, scope, q)?)
    } else {
        None
    };
    tx.finish().db()?;
    Ok(RecordList { heads, count })
}

pub(crate) fn count_records(
    c: &Connection,
    scope: &ReadScope,
    q: &RecordQuery,
) -> Result<u64, StoreError> {
    count(c, scope, q)
}

/// The tenant whose copies of `id` a scope reads: its own, or (every tenant) the first that has the id.
fn history_tenant(
    c: &Connection,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<String>, StoreError> {
    match scope.tenant() {
        Some(t) => Ok(Some(t.to_owned())),
        None => c
            .prepare_cached("SELECT min(tenant) FROM record_versions WHERE record_id = ?1")
            .db()?
            .query_row([id], |r| r.get(0))
            .db(),
    }
}

pub(crate) fn list_versions(
    c: &Connection,
    scope: &ReadScope,
    id: &str,
) -> Result<Vec<VersionInfo>, StoreError> {
    let tx = c.unchecked_transaction().db()?;
    let Some(tenant) = history_tenant(&tx, scope, id)? else {
        return Ok(Vec::new());
    };
    let versions = tx
        .prepare_cached(
            "SELECT v.version, v.seq, v.last_modified, v.received_us, v.outcome, \
             coalesce(r.version_seq = v.seq, 0) \
             FROM record_versions v LEFT JOIN records r ON r.tenant = v.tenant AND r.id = v.record_id \
             WHERE v.tenant = ?1 AND v.record_id = ?2 ORDER BY v.version, v.seq",
        )
        .db()?
        .query_map(params![tenant, id], |r| {
            let outcome: String = r.get(4)?;
            Ok(VersionInfo {
                version: r.get(0)?,
                revision: r.get(1)?,
                last_modified: r.get(2)?,
                received_at: callrecords_store::extract::format_timestamp_us(r.get(3)?),
                outcome: parse_outcome(&outcome),
                served: r.get(5)?,
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?;
    tx.finish().db()?;
    Ok(versions)
}

fn parse_outcome(s: &str) -> PutOutcome {
    match s {
        "partial" => PutOutcome::Partial,
        "conflict" => PutOutcome::Conflict,
        "stale" => PutOutcome::Stale,
        _ => PutOutcome::Stored,
    }
}

pub(crate) fn get_version(
    c: &Connection,
    scope: &ReadScope,
    id: &str,
    version: i64,
) -> Result<Option<String>, StoreError> {
    let tx = c.unchecked_transaction().db()?;
    let Some(tenant) = history_tenant(&tx, scope, id)? else {
        return Ok(None);
    };
    let row: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT raw_encoding, raw FROM record_versions \
             WHERE tenant = ?1 AND record_id = ?2 AND version = ?3 ORDER BY seq LIMIT 1",
        )
        .db()?
        .query_row(params![tenant, id, version], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()?;
    tx.finish().db()?;
    row.map(|(enc, raw)| decode_raw(enc, raw)).transpose()
}

pub(crate) fn changes_after(
    c: &Connection,
    cursor: i64,
    limit: usize,
) -> Result<Vec<Change>, StoreError> {
    c.prepare_cached(
        "SELECT seq, tenant, record_id, version, change_kind, partial, received_us \
         FROM record_versions WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )
    .db()?
    .query_map(params![cursor, limit_i64(limit)], |r| {
        let kind: String = r.get(4)?;
        Ok((
            Change {
                cursor: r.get(0)?,
                tenant: r.get(1)?,
                record_id: r.get(2)?,
                version: r.get(3)?,
                kind: ChangeKind::Created,
                partial: r.get(5)?,
                received_us: r.get(6)?,
            },
            kind,
        ))
    })
    .db()?
    .map(|row| {
        let (mut change, kind) = row.db()?;
        change.kind = ChangeKind::parse(&kind)
            .ok_or_else(|| StoreError::Backend(format!("unknown change kind {kind:?}")))?;
        Ok(change)
    })
    .collect()
}

/// Rows and bytes of `scope` ([`callrecords_store::Store::storage_size`]); the database's size
/// (`page_count × page_size`) only for every tenant.
pub(crate) fn storage_size(
    c: &Connection,
    scope: &ReadScope,
) -> Result<callrecords_store::StorageSize, StoreError> {
    let tx = c.unchecked_transaction().db()?;
    let mut p = Vec::new();
    let wh = scope_sql(scope, "tenant", &mut p);
    let (versions, raw_bytes): (i64, i64) = tx
        .prepare_cached(&format!(
            "SELECT count(*), coalesce(sum(length(raw)), 0) FROM record_versions WHERE 1 = 1{wh}"
        ))
        .db()?
        .query_row(rusqlite::params_from_iter(p.iter()), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .db()?;
    let records: i64 = tx
        .prepare_cached(&format!("SELECT count(*) FROM records WHERE 1 = 1{wh}"))
        .db()?
        .query_row(rusqlite::params_from_iter(p.iter()), |r| r.get(0))
        .db()?;
    let database_bytes = match scope {
        ReadScope::All => {
            let pages: i64 = tx.query_row("PRAGMA page_count", [], |r| r.get(0)).db()?;
            let size: i64 = tx.query_row("PRAGMA page_size", [], |r| r.get(0)).db()?;
            Some(to_u64(pages.saturating_mul(size)))
        }
        ReadScope::Tenant(_) => None,
    };
    drop(tx);
    Ok(callrecords_store::StorageSize {
        records: to_u64(records),
        versions: to_u64(versions),
        raw_bytes: to_u64(raw_bytes),
        database_bytes,
    })
}
