//! Derived call-quality data: stream / session rows and pre-aggregated counters per record, the building
//! file and the derivation epoch (schema 4). See [`callrecords_store::quality`].

use std::collections::BTreeMap;

use callrecords_store::quality::{
    QualityMeta, QualityUpdate, QualityWindow, StoredStream, StreamFilter,
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

fn delete_record(tx: &Connection, tenant: &str, id: &str) -> Result<(), StoreError> {
    for table in [
        "quality_streams",
        "quality_sessions",
        "quality_contributions",
    ] {
        tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE tenant = ?1 AND record_id = ?2"
        ))
        .db()?
        .execute(params![tenant, id])
        .db()?;
    }
    Ok(())
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
    for u in updates {
        let stored: Option<i64> = tx
            .prepare_cached(
                "SELECT version FROM quality_records WHERE tenant = ?1 AND record_id = ?2",
            )
            .db()?
            .query_row(params![u.tenant, u.record_id], |r| r.get(0))
            .optional()
            .db()?;
        if stored.is_some_and(|v| v > u.version) {
            continue;
        }
        delete_record(&tx, &u.tenant, &u.record_id)?;
        tx.prepare_cached(
            "INSERT INTO quality_records (tenant, record_id, version, start_us) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant, record_id) DO UPDATE SET version = excluded.version, \
             start_us = excluded.start_us",
        )
        .db()?
        .execute(params![u.tenant, u.record_id, u.version, u.start_us])
        .db()?;
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO quality_streams (tenant, record_id, start_us, kind, class, subnet, \
                 has_building, json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .db()?;
        for s in &u.streams {
            ins.execute(params![
                u.tenant,
                u.record_id,
                u.start_us,
                s.kind,
                s.class,
                s.subnet,
                s.has_building,
                s.json
            ])
            .db()?;
        }
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO quality_sessions (tenant, record_id, start_us, json) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?;
        for s in &u.sessions {
            ins.execute(params![u.tenant, u.record_id, u.start_us, s])
                .db()?;
        }
        let mut ins = tx
            .prepare_cached(
                "INSERT INTO quality_contributions (group_key, start_us, tenant, record_id, \
                 group_value, counts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .db()?;
        for k in &u.contributions {
            ins.execute(params![
                k.key,
                u.start_us,
                u.tenant,
                u.record_id,
                k.value,
                encode_counts(&k.counts)
            ])
            .db()?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO consumer_cursors (consumer, cursor) VALUES (?1, ?2) \
         ON CONFLICT (consumer) DO UPDATE SET cursor = max(cursor, excluded.cursor)",
    )
    .db()?
    .execute(params![consumer, cursor])
    .db()?;
    tx.commit().db()?;
    Ok(true)
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
        "DELETE FROM quality_records; DELETE FROM quality_streams; \
         DELETE FROM quality_sessions; DELETE FROM quality_contributions; \
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

pub(crate) fn totals(
    c: &Connection,
    scope: &ReadScope,
    w: QualityWindow,
    key: &str,
) -> Result<callrecords_store::quality::GroupTotals, StoreError> {
    let mut p = vec![SqlValue::Text(key.to_owned())];
    let sql = format!(
        "SELECT group_value, counts FROM quality_contributions WHERE group_key = ?1{}",
        filters(scope, w, &mut p)
    );
    let mut out: BTreeMap<Option<String>, Vec<u64>> = BTreeMap::new();
    let mut st = c.prepare_cached(&sql).db()?;
    let mut rows = st.query(params_from_iter(p)).db()?;
    while let Some(r) = rows.next().db()? {
        let v: Option<String> = r.get(0).db()?;
        let b: Vec<u8> = r.get(1).db()?;
        add_into(out.entry(v).or_default(), &decode_counts(&b));
    }
    Ok(out.into_iter().collect())
}

pub(crate) fn streams(
    c: &Connection,
    scope: &ReadScope,
    f: &StreamFilter,
) -> Result<Vec<StoredStream>, StoreError> {
    let mut p = Vec::new();
    let mut sql = format!(
        "SELECT seq, tenant, json FROM quality_streams WHERE 1 = 1{}",
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
    let mut st = c.prepare_cached(&sql).db()?;
    st.query_map(params_from_iter(p), |r| {
        Ok(StoredStream {
            seq: r.get(0)?,
            tenant: r.get(1)?,
            json: r.get(2)?,
        })
    })
    .db()?
    .collect::<rusqlite::Result<_>>()
    .db()
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
