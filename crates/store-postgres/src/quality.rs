//! Derived call-quality data ([`callrecords_store::quality::QualityStore`]) on PostgreSQL: stream and session
//! rows, per-record counts and contributions (migration 0005). A summary sums the contributions of the
//! records in its window in one statement (`unnest … WITH ORDINALITY`, grouped by value and position).
//! Writers of derived rows serialise on the `quality_meta` row (`FOR UPDATE`), so an epoch bump (rebuild,
//! new building file) and a deriver on another node never interleave.

use std::collections::BTreeMap;

use callrecords_store::calls::{CallFilter, CallOrder, CallPage, CallRow};
use callrecords_store::quality::{
    GroupTotals, QualityMeta, QualityUpdate, QualityWindow, StoredStream, StreamFilter,
};
use callrecords_store::{ReadScope, StoreError};
use deadpool_postgres::GenericClient;

use crate::read::{Param, execute, query, query_opt, refs, scope_sql};
use crate::{SqlResult, limit_i64, to_u64};

pub(crate) async fn meta<C: GenericClient>(c: &C) -> Result<QualityMeta, StoreError> {
    let row = query_opt(
        c,
        "SELECT epoch, buildings FROM quality_meta WHERE id = 1",
        &[],
    )
    .await?
    .ok_or_else(|| StoreError::Backend("quality_meta has no row".into()))?;
    Ok(QualityMeta {
        epoch: row.get(0),
        buildings: row.get(1),
    })
}

fn counts_i64(c: &[u64]) -> Vec<i64> {
    c.iter()
        .map(|n| i64::try_from(*n).unwrap_or(i64::MAX))
        .collect()
}

/// Inside the caller's transaction (which holds the `quality_meta` row): each update whose version is at
/// least the stored one replaces its record's rows, counts and contributions.
pub(crate) async fn apply_updates<C: GenericClient>(
    tx: &C,
    updates: Vec<QualityUpdate>,
) -> Result<(), StoreError> {
    for u in updates {
        let stored = query_opt(
            tx,
            "SELECT version FROM quality_records WHERE tenant = $1 AND record_id = $2 FOR UPDATE",
            &[&u.tenant, &u.record_id],
        )
        .await?;
        if let Some(r) = stored {
            let v: i64 = r.get(0);
            if v > u.version {
                continue;
            }
            for sql in [
                "DELETE FROM quality_streams WHERE tenant = $1 AND record_id = $2",
                "DELETE FROM quality_sessions WHERE tenant = $1 AND record_id = $2",
                "DELETE FROM quality_contributions WHERE tenant = $1 AND record_id = $2",
            ] {
                execute(tx, sql, &[&u.tenant, &u.record_id]).await?;
            }
        }
        let poor = limit_i64(u.streams.iter().filter(|s| s.class == "poor").count());
        let failed = i64::try_from(u.failed_sessions).unwrap_or(i64::MAX);
        execute(
            tx,
            "INSERT INTO quality_records (tenant, record_id, version, start_us, stream_count, \
             poor_streams, failed_sessions) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant, record_id) DO UPDATE SET version = excluded.version, \
             start_us = excluded.start_us, stream_count = excluded.stream_count, \
             poor_streams = excluded.poor_streams, failed_sessions = excluded.failed_sessions",
            &[
                &u.tenant,
                &u.record_id,
                &u.version,
                &u.start_us,
                &limit_i64(u.streams.len()),
                &poor,
                &failed,
            ],
        )
        .await?;
        // One statement per table for all of a record's rows (arrays unnested in order).
        if !u.streams.is_empty() {
            let kinds: Vec<&str> = u.streams.iter().map(|s| s.kind.as_str()).collect();
            let classes: Vec<&str> = u.streams.iter().map(|s| s.class.as_str()).collect();
            let subnets: Vec<Option<&str>> =
                u.streams.iter().map(|s| s.subnet.as_deref()).collect();
            let buildings: Vec<bool> = u.streams.iter().map(|s| s.has_building).collect();
            let jsons: Vec<&str> = u.streams.iter().map(|s| s.json.as_str()).collect();
            execute(
                tx,
                "INSERT INTO quality_streams (tenant, record_id, start_us, kind, class, subnet, \
                 has_building, json) \
                 SELECT $1, $2, $3, k, c, s, b, j FROM unnest($4::text[], $5::text[], $6::text[], \
                 $7::boolean[], $8::text[]) WITH ORDINALITY AS u(k, c, s, b, j, o) ORDER BY o",
                &[
                    &u.tenant,
                    &u.record_id,
                    &u.start_us,
                    &kinds,
                    &classes,
                    &subnets,
                    &buildings,
                    &jsons,
                ],
            )
            .await?;
        }
        if !u.sessions.is_empty() {
            execute(
                tx,
                "INSERT INTO quality_sessions (tenant, record_id, ordinal, json) \
                 SELECT $1, $2, o - 1, j FROM unnest($3::text[]) WITH ORDINALITY AS u(j, o)",
                &[&u.tenant, &u.record_id, &u.sessions],
            )
            .await?;
        }
        for k in &u.contributions {
            execute(
                tx,
                "INSERT INTO quality_contributions (tenant, record_id, start_us, group_key, \
                 group_value, counts) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &u.tenant,
                    &u.record_id,
                    &u.start_us,
                    &k.key,
                    &k.value,
                    &counts_i64(&k.counts),
                ],
            )
            .await?;
        }
    }
    Ok(())
}

pub(crate) async fn replace(
    c: &mut deadpool_postgres::Object,
    epoch: i64,
    consumer: &str,
    cursor: i64,
    updates: Vec<QualityUpdate>,
) -> Result<bool, StoreError> {
    let tx = c.transaction().await.db()?;
    let current: i64 = query_opt(
        &tx,
        "SELECT epoch FROM quality_meta WHERE id = 1 FOR UPDATE",
        &[],
    )
    .await?
    .map_or(-1, |r| r.get(0));
    if current != epoch {
        return Ok(false);
    }
    apply_updates(&tx, updates).await?;
    crate::notifications::save_cursor(&tx, consumer, cursor).await?;
    tx.commit().await.db()?;
    Ok(true)
}

pub(crate) async fn reset(
    c: &mut deadpool_postgres::Object,
    consumer: &str,
    buildings: Option<String>,
) -> Result<QualityMeta, StoreError> {
    let tx = c.transaction().await.db()?;
    execute(
        &tx,
        "UPDATE quality_meta SET epoch = epoch + 1, buildings = coalesce($1, buildings) WHERE id = 1",
        &[&buildings],
    )
    .await?;
    tx.batch_execute(
        "DELETE FROM quality_records; DELETE FROM quality_streams; DELETE FROM quality_sessions; \
         DELETE FROM quality_contributions;",
    )
    .await
    .db()?;
    execute(
        &tx,
        "INSERT INTO consumer_cursors (consumer, cursor) VALUES ($1, 0) \
         ON CONFLICT (consumer) DO UPDATE SET cursor = 0",
        &[&consumer],
    )
    .await?;
    let m = meta(&tx).await?;
    tx.commit().await.db()?;
    Ok(m)
}

/// ` AND …` for scope and window on `{t}tenant` / `{t}start_us`, pushing their parameters.
fn filters(scope: &ReadScope, w: QualityWindow, t: &str, p: &mut Vec<Param>) -> String {
    let mut sql = scope_sql(scope, &format!("{t}tenant"), p);
    if let Some(f) = w.from_us {
        p.push(Box::new(f));
        sql.push_str(&format!(" AND {t}start_us >= ${}", p.len()));
    }
    if let Some(u) = w.until_us {
        p.push(Box::new(u));
        sql.push_str(&format!(" AND {t}start_us < ${}", p.len()));
    }
    sql
}

pub(crate) async fn totals<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    w: QualityWindow,
    key: &str,
) -> Result<GroupTotals, StoreError> {
    let mut p: Vec<Param> = vec![Box::new(key.to_owned())];
    let f = filters(scope, w, "c.", &mut p);
    let sql = format!(
        "SELECT c.group_value, u.i, sum(u.n)::bigint FROM quality_contributions c, \
         unnest(c.counts) WITH ORDINALITY AS u(n, i) WHERE c.group_key = $1{f} \
         GROUP BY c.group_value, u.i"
    );
    let mut out: BTreeMap<Option<String>, Vec<u64>> = BTreeMap::new();
    for r in query(c, &sql, &refs(&p)).await? {
        let value: Option<String> = r.get(0);
        let i = usize::try_from(r.get::<_, i64>(1) - 1).unwrap_or(0);
        let n = to_u64(r.get(2));
        let acc = out.entry(value).or_default();
        if acc.len() <= i {
            acc.resize(i + 1, 0);
        }
        acc[i] = n;
    }
    out.retain(|_, c| c.iter().any(|n| *n != 0));
    Ok(out.into_iter().collect())
}

pub(crate) async fn streams<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    f: &StreamFilter,
) -> Result<Vec<StoredStream>, StoreError> {
    let mut p: Vec<Param> = Vec::new();
    let mut sql = format!(
        "SELECT seq, tenant, json FROM quality_streams WHERE true{}",
        filters(scope, f.window, "", &mut p)
    );
    for (col, v) in [
        ("kind", &f.kind),
        ("class", &f.class),
        ("record_id", &f.record_id),
    ] {
        if let Some(v) = v {
            p.push(Box::new(v.clone()));
            sql.push_str(&format!(" AND {col} = ${}", p.len()));
        }
    }
    if let Some(a) = f.after {
        p.push(Box::new(a));
        sql.push_str(&format!(" AND seq > ${}", p.len()));
    }
    p.push(Box::new(limit_i64(f.limit)));
    sql.push_str(&format!(" ORDER BY seq LIMIT ${}", p.len()));
    Ok(query(c, &sql, &refs(&p))
        .await?
        .into_iter()
        .map(|r| StoredStream {
            seq: r.get(0),
            tenant: r.get(1),
            json: r.get(2),
        })
        .collect())
}

pub(crate) async fn missing_subnets<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    w: QualityWindow,
    min: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut p: Vec<Param> = Vec::new();
    let f = filters(scope, w, "", &mut p);
    p.push(Box::new(i64::try_from(min).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT subnet, count(*) FROM quality_streams WHERE kind = 'audio' AND NOT has_building \
         AND subnet IS NOT NULL{f} GROUP BY subnet HAVING count(*) >= ${} \
         ORDER BY count(*) DESC, subnet",
        p.len()
    );
    Ok(query(c, &sql, &refs(&p))
        .await?
        .into_iter()
        .map(|r| (r.get(0), to_u64(r.get(1))))
        .collect())
}

/// `%term%` for (I)LIKE with `\` escaping the wildcards of the term.
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

pub(crate) async fn calls(
    c: &mut deadpool_postgres::Object,
    scope: &ReadScope,
    f: &CallFilter,
) -> Result<CallPage, StoreError> {
    let mut p: Vec<Param> = Vec::new();
    let mut wh = filters(scope, f.window, "q.", &mut p);
    if let Some(t) = &f.call_type {
        p.push(Box::new(t.clone()));
        wh.push_str(&format!(" AND r.call_type = ${}", p.len()));
    }
    if let Some(term) = f.search.as_deref().filter(|t| !t.is_empty()) {
        p.push(Box::new(term.to_owned()));
        let exact = p.len();
        p.push(Box::new(like_pattern(term)));
        let n = p.len();
        wh.push_str(&format!(
            " AND (r.id = ${exact} OR r.head_json ILIKE ${n} ESCAPE '\\' \
             OR EXISTS (SELECT 1 FROM participants pp WHERE pp.rk = r.rk \
             AND pp.json ILIKE ${n} ESCAPE '\\'))"
        ));
    }
    if f.poor_only {
        wh.push_str(" AND q.poor_streams > 0");
    }
    if f.failed_only {
        wh.push_str(" AND q.failed_sessions > 0");
    }
    let from =
        "FROM quality_records q JOIN records r ON r.tenant = q.tenant AND r.id = q.record_id";
    let key = match f.order {
        CallOrder::Start => "q.start_us",
        CallOrder::Duration => "(r.end_us - q.start_us)",
        CallOrder::Participants => "r.participant_count",
        CallOrder::PoorStreams => "q.poor_streams",
    };
    let dir = if f.descending { "DESC" } else { "ASC" };
    let count_sql = format!("SELECT count(*) {from} WHERE true{wh}");
    let count_params = refs(&p);
    let mut page_params = refs(&p);
    let (lim, off) = (limit_i64(f.limit), limit_i64(f.skip));
    page_params.push(&lim);
    page_params.push(&off);
    let page_sql = format!(
        "SELECT q.tenant, q.record_id, r.version, q.start_us, r.end_us, r.call_type, r.modalities, \
         r.organizer_id, r.session_count, r.participant_count, q.stream_count, q.poor_streams, \
         q.failed_sessions {from} WHERE true{wh} \
         ORDER BY {key} {dir} NULLS LAST, q.record_id {dir}, q.tenant {dir} \
         LIMIT ${} OFFSET ${}",
        p.len() + 1,
        p.len() + 2
    );
    let tx = crate::read::snapshot(c).await?;
    let total: i64 = query(&tx, &count_sql, &count_params)
        .await?
        .first()
        .map_or(0, |r| r.get(0));
    let rows = query(&tx, &page_sql, &page_params)
        .await?
        .into_iter()
        .map(|r| {
            let modalities: Option<String> = r.get(6);
            CallRow {
                tenant: r.get(0),
                id: r.get(1),
                version: r.get(2),
                start_us: r.get(3),
                end_us: r.get(4),
                call_type: r.get(5),
                modalities: modalities
                    .and_then(|m| serde_json::from_str(&m).ok())
                    .unwrap_or_default(),
                organizer_id: r.get(7),
                sessions: to_u64(r.get(8)),
                participants: to_u64(r.get(9)),
                streams: to_u64(r.get(10)),
                poor_streams: to_u64(r.get(11)),
                failed_sessions: to_u64(r.get(12)),
            }
        })
        .collect();
    tx.commit().await.db()?;
    Ok(CallPage {
        rows,
        total: to_u64(total),
    })
}
