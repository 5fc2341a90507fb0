//! PSTN / direct routing / SMS / blocked-users / dial-out rows: stored idempotently by content (and, for
//! dial-out rows, the period they cover), per tenant.

use callrecords_store::extract::parse_timestamp_us;
use callrecords_store::{IncomingLogRow, LogKind, LogOutcome, LogQuery, ReadScope, StoreError};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, TransactionBehavior, params};

use crate::connection::log_row_hash;
use crate::{SqlResult, limit_i64, now_us, to_i64};

/// The period dial-out rows need, checked; `None` for the dated kinds.
pub(crate) fn check_period(
    kind: LogKind,
    period: Option<(i64, i64)>,
) -> Result<Option<(i64, i64)>, StoreError> {
    match (kind.time_property(), period) {
        (Some(_), _) => Ok(None),
        (None, Some((from, to))) if from <= to => Ok(Some((from, to))),
        (None, Some(_)) => Err(StoreError::InvalidInput(
            "dial-out report period ends before it starts".into(),
        )),
        (None, None) => Err(StoreError::InvalidInput(
            "dial-out report rows need the period they cover".into(),
        )),
    }
}

pub(crate) fn put_log_rows(
    c: &mut Connection,
    tenant: &str,
    kind: LogKind,
    rows: Vec<IncomingLogRow>,
    period: Option<(i64, i64)>,
) -> Result<Vec<LogOutcome>, StoreError> {
    let received_us = now_us();
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let mut out = Vec::with_capacity(rows.len());
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO log_rows (tenant, kind, time_us, period_from_us, period_to_us, \
                 content_hash, received_us, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (tenant, kind, content_hash) DO NOTHING",
            )
            .db()?;
        for row in rows {
            let time_us = kind
                .time_property()
                .and_then(|p| row.value.get(p))
                .and_then(|v| v.as_str())
                .and_then(parse_timestamp_us);
            let hash = log_row_hash(&row.value, period);
            let n = stmt
                .execute(params![
                    tenant,
                    kind.cli_name(),
                    time_us,
                    period.map(|p| p.0),
                    period.map(|p| p.1),
                    hash.as_slice(),
                    received_us,
                    row.raw
                ])
                .db()?;
            out.push(if n == 0 {
                LogOutcome::Duplicate
            } else {
                LogOutcome::Stored
            });
        }
    }
    tx.commit().db()?;
    Ok(out)
}

fn log_filter(kind: LogKind, q: &LogQuery) -> (&'static str, &'static str) {
    match (kind.time_property().is_some(), q.to_inclusive) {
        (true, true) => (
            "kind = ?1 AND time_us >= ?2 AND time_us <= ?3",
            "time_us, seq",
        ),
        (true, false) => (
            "kind = ?1 AND time_us >= ?2 AND time_us < ?3",
            "time_us, seq",
        ),
        (false, _) => (
            "kind = ?1 AND period_from_us >= ?2 AND period_to_us <= ?3",
            "period_from_us, seq",
        ),
    }
}

pub(crate) fn query_log_rows(
    c: &Connection,
    scope: &ReadScope,
    kind: LogKind,
    q: &LogQuery,
) -> Result<Vec<String>, StoreError> {
    let (filter, order) = log_filter(kind, q);
    let mut params = vec![
        SqlValue::Text(kind.cli_name().to_owned()),
        SqlValue::Integer(q.from_us),
        SqlValue::Integer(q.to_us),
        SqlValue::Integer(limit_i64(q.limit)),
        SqlValue::Integer(to_i64(q.skip)),
    ];
    let scope = match scope.tenant() {
        Some(t) => {
            params.push(SqlValue::Text(t.to_owned()));
            " AND tenant = ?6"
        }
        None => "",
    };
    let sql = format!(
        "SELECT raw FROM log_rows WHERE {filter}{scope} ORDER BY {order} LIMIT ?4 OFFSET ?5"
    );
    c.prepare_cached(&sql)
        .db()?
        .query_map(rusqlite::params_from_iter(params), |r| r.get(0))
        .db()?
        .collect::<rusqlite::Result<Vec<String>>>()
        .db()
}
