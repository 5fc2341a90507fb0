//! The call list ([`callrecords_store::quality::QualityStore::quality_calls`]): `quality_records` joined to
//! the served `records`, with stream and session rows counted per record. The counts are computed only for
//! the page unless a filter or the order needs them for every record of the window.

use callrecords_store::ReadScope;
use callrecords_store::StoreError;
use callrecords_store::calls::{CallFilter, CallOrder, CallPage, CallRow};
use rusqlite::Connection;
use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;

use crate::{SqlResult, limit_i64};

// The per-record counts the deriver's transaction keeps on `quality_records` (schema 7).
const POOR: &str = "q.poor_streams";
const STREAMS: &str = "q.stream_count";
const FAILED: &str = "q.failed_sessions";

/// `%term%` for LIKE with `\` escaping the wildcards of the term.
fn like_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn calls(
    c: &Connection,
    scope: &ReadScope,
    f: &CallFilter,
) -> Result<CallPage, StoreError> {
    let mut p = Vec::new();
    let mut wh = crate::read::scope_sql(scope, "q.tenant", &mut p);
    if let Some(from) = f.window.from_us {
        p.push(SqlValue::Integer(from));
        wh.push_str(&format!(" AND q.start_us >= ?{}", p.len()));
    }
    if let Some(until) = f.window.until_us {
        p.push(SqlValue::Integer(until));
        wh.push_str(&format!(" AND q.start_us < ?{}", p.len()));
    }
    if let Some(t) = &f.call_type {
        p.push(SqlValue::Text(t.clone()));
        wh.push_str(&format!(" AND r.call_type = ?{}", p.len()));
    }
    if let Some(term) = f.search.as_deref().filter(|t| !t.is_empty()) {
        p.push(SqlValue::Text(term.to_owned()));
        let exact = p.len();
        p.push(SqlValue::Text(like_pattern(term)));
        let n = p.len();
        wh.push_str(&format!(
            " AND (r.id = ?{exact} OR r.head_json LIKE ?{n} ESCAPE '\\' \
             OR EXISTS (SELECT 1 FROM participants pp WHERE pp.rk = r.rk AND pp.json LIKE ?{n} ESCAPE '\\'))"
        ));
    }
    if f.poor_only {
        wh.push_str(&format!(" AND {POOR} > 0"));
    }
    if f.failed_only {
        wh.push_str(&format!(" AND {FAILED} > 0"));
    }
    let from =
        "FROM quality_records q JOIN records r ON r.tenant = q.tenant AND r.id = q.record_id";
    // Counting needs the served record only for the filters on its columns: every derived record is a
    // served one (the deriver writes rows only for records it read back, and served records stay).
    let count_from = if f.call_type.is_some() || f.search.as_deref().is_some_and(|t| !t.is_empty())
    {
        from
    } else {
        "FROM quality_records q"
    };
    let tx = c.unchecked_transaction().db()?;
    let total: i64 = tx
        .prepare_cached(&format!("SELECT count(*) {count_from} WHERE 1 = 1{wh}"))
        .db()?
        .query_row(params_from_iter(p.iter()), |r| r.get(0))
        .db()?;
    let key = match f.order {
        CallOrder::Start => "q.start_us".to_owned(),
        CallOrder::Duration => "(r.end_us - q.start_us)".to_owned(),
        CallOrder::Participants => "r.participant_count".to_owned(),
        CallOrder::PoorStreams => POOR.to_owned(),
    };
    let dir = if f.descending { "DESC" } else { "ASC" };
    p.push(SqlValue::Integer(limit_i64(f.limit)));
    let lim = p.len();
    p.push(SqlValue::Integer(limit_i64(f.skip)));
    let off = p.len();
    // The page's keys and counts first, then the served record's columns.
    // Nulls last both ways; descending needs no `IS NULL` term (SQLite sorts nulls first), so the newest
    // calls come straight from the `quality_records_by_start` index.
    let order = |t: &str| {
        let nulls = if f.descending {
            String::new()
        } else {
            format!("{t}k IS NULL, ")
        };
        format!("{nulls}{t}k {dir}, {t}record_id {dir}, {t}tenant {dir}")
    };
    let (inner, outer) = (order(""), order("q."));
    let sql = format!(
        "WITH page AS (SELECT q.tenant AS tenant, q.record_id AS record_id, q.start_us AS start_us, \
         r.rk AS rk, {key} AS k, {STREAMS} AS stream_count, {POOR} AS poor_streams, \
         {FAILED} AS failed_sessions {from} WHERE 1 = 1{wh} ORDER BY {inner} LIMIT ?{lim} OFFSET ?{off}) \
         SELECT q.tenant, q.record_id, r.version, q.start_us, r.end_us, r.call_type, r.modalities, \
         r.organizer_id, r.session_count, r.participant_count, {STREAMS}, {POOR}, {FAILED} \
         FROM page q JOIN records r ON r.rk = q.rk ORDER BY {outer}"
    );
    let rows = {
        let mut st = tx.prepare_cached(&sql).db()?;
        st.query_map(params_from_iter(p.iter()), |r| {
            let modalities: Option<String> = r.get(6)?;
            Ok(CallRow {
                tenant: r.get(0)?,
                id: r.get(1)?,
                version: r.get(2)?,
                start_us: r.get(3)?,
                end_us: r.get(4)?,
                call_type: r.get(5)?,
                modalities: modalities
                    .and_then(|m| serde_json::from_str(&m).ok())
                    .unwrap_or_default(),
                organizer_id: r.get(7)?,
                sessions: to_u64(r.get(8)?),
                participants: to_u64(r.get(9)?),
                streams: to_u64(r.get(10)?),
                poor_streams: to_u64(r.get(11)?),
                failed_sessions: to_u64(r.get(12)?),
            })
        })
        .db()?
        .collect::<rusqlite::Result<Vec<_>>>()
        .db()?
    };
    tx.finish().db()?;
    Ok(CallPage {
        rows,
        total: to_u64(total),
    })
}
