//! PSTN / direct routing / SMS / blocked-users / dial-out rows: stored idempotently by content (and, for
//! dial-out rows, the period they cover), per tenant. One statement per batch.

use callrecords_store::extract::{log_row_hash, parse_timestamp_us};
use callrecords_store::{IncomingLogRow, LogKind, LogOutcome, LogQuery, ReadScope, StoreError};
use deadpool_postgres::GenericClient;

use crate::read::{Param, execute, query, refs};
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

/// Store the rows; the outcomes in order, and whether anything was written.
pub(crate) async fn put_log_rows(
    c: &mut deadpool_postgres::Object,
    tenant: &str,
    kind: LogKind,
    rows: Vec<IncomingLogRow>,
    period: Option<(i64, i64)>,
) -> Result<(Vec<LogOutcome>, bool), StoreError> {
    let received_us = now_us();
    let mut ords = Vec::with_capacity(rows.len());
    let mut times = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    let mut raws = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        ords.push(to_i64(i as u64));
        times.push(
            kind.time_property()
                .and_then(|p| row.value.get(p))
                .and_then(|v| v.as_str())
                .and_then(parse_timestamp_us),
        );
        hashes.push(log_row_hash(&row.value, period).to_vec());
        raws.push(row.raw.as_str());
    }
    let tx = c.transaction().await.db()?;
    // In input order (WITH ORDINALITY), so insertion order follows the input; the rows inserted are
    // returned, the others were duplicates (already stored, or earlier in this batch).
    let inserted = query(
        &tx,
        "INSERT INTO log_rows (tenant, kind, time_us, period_from_us, period_to_us, content_hash, \
         received_us, raw) \
         SELECT $1, $2, u.t, $3, $4, u.h, $5, u.raw \
         FROM unnest($6::bigint[], $7::bigint[], $8::bytea[], $9::text[]) AS u(ord, t, h, raw) \
         ORDER BY u.ord \
         ON CONFLICT (tenant, kind, content_hash) DO NOTHING RETURNING content_hash",
        &[
            &tenant,
            &kind.cli_name(),
            &period.map(|p| p.0),
            &period.map(|p| p.1),
            &received_us,
            &ords,
            &times,
            &hashes,
            &raws,
        ],
    )
    .await?;
    let mut fresh: std::collections::HashSet<Vec<u8>> =
        inserted.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect();
    let wrote = !fresh.is_empty();
    if wrote {
        execute(
            &tx,
            "UPDATE store_heads SET writes = writes + 1 WHERE id = 2",
            &[],
        )
        .await?;
    }
    tx.commit().await.db()?;
    // The first row with a fresh hash was stored; any later one with the same hash is a duplicate.
    let out = hashes
        .iter()
        .map(|h| {
            if fresh.remove(h) {
                LogOutcome::Stored
            } else {
                LogOutcome::Duplicate
            }
        })
        .collect();
    Ok((out, wrote))
}

pub(crate) async fn query_log_rows<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    kind: LogKind,
    q: &LogQuery,
) -> Result<Vec<String>, StoreError> {
    let (filter, order) = match (kind.time_property().is_some(), q.to_inclusive) {
        (true, true) => (
            "kind = $1 AND time_us >= $2 AND time_us <= $3",
            "time_us, seq",
        ),
        (true, false) => (
            "kind = $1 AND time_us >= $2 AND time_us < $3",
            "time_us, seq",
        ),
        (false, _) => (
            "kind = $1 AND period_from_us >= $2 AND period_to_us <= $3",
            "period_from_us, seq",
        ),
    };
    let mut params: Vec<Param> = vec![
        Box::new(kind.cli_name().to_owned()),
        Box::new(q.from_us),
        Box::new(q.to_us),
        Box::new(limit_i64(q.limit)),
        Box::new(to_i64(q.skip)),
    ];
    let scope = crate::read::scope_sql(scope, "tenant", &mut params);
    let sql = format!(
        "SELECT raw FROM log_rows WHERE {filter}{scope} ORDER BY {order} LIMIT $4 OFFSET $5"
    );
    let rows = query(c, &sql, &refs(&params)).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
