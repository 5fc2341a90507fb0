//! Reading records. A method that runs more than one statement runs them in one `REPEATABLE READ READ ONLY`
//! transaction, so what it returns is one snapshot; the statements of one read are sent together (pipelined)
//! where none needs another's answer.

use callrecords_store::extract::{splice_segments, view_of_stored_copy};
use callrecords_store::{
    Change, ChangeKind, ParticipantRow, PutOutcome, ReadScope, RecordHead, RecordList, RecordQuery,
    RecordRead, RecordView, SessionRow, StoreError, VersionInfo, Window,
};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::{SqlResult, limit_i64, to_i64, to_u64};

/// A query parameter.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

pub(crate) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Run a cached prepared statement.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let st = c.prepare_cached(sql).await.db()?;
    c.query(&st, params).await.db()
}

pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, StoreError> {
    let st = c.prepare_cached(sql).await.db()?;
    c.query_opt(&st, params).await.db()
}

pub(crate) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, StoreError> {
    let st = c.prepare_cached(sql).await.db()?;
    c.execute(&st, params).await.db()
}

/// A read-only transaction on one snapshot.
pub(crate) async fn snapshot(
    c: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    c.build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .db()
}

const HEAD_COLS: &str = "r.tenant, r.id, r.version, r.version_seq, r.head_json, r.session_count, \
                         r.participant_count, r.start_key, r.end_us, r.partial, r.rk";

fn head_from_row(r: &Row) -> (RecordHead, i64) {
    let start_key: i64 = r.get(7);
    (
        RecordHead {
            tenant: r.get(0),
            id: r.get(1),
            version: r.get(2),
            revision: r.get(3),
            json: r.get(4),
            session_count: to_u64(r.get(5)),
            participant_count: to_u64(r.get(6)),
            start_us: (start_key != i64::MIN).then_some(start_key),
            end_us: r.get(8),
            partial: r.get(9),
        },
        r.get(10),
    )
}

/// ` AND {column} = $n` for a tenant scope (pushing its parameter), nothing for every tenant.
pub(crate) fn scope_sql(scope: &ReadScope, column: &str, params: &mut Vec<Param>) -> String {
    match scope.tenant() {
        Some(t) => {
            params.push(Box::new(t.to_owned()));
            format!(" AND {column} = ${}", params.len())
        }
        None => String::new(),
    }
}

fn session_from_row(r: &Row, with_segments: bool) -> SessionRow {
    let ordinal: i64 = r.get(0);
    let json: String = r.get(1);
    let json = if with_segments {
        let at: Option<i64> = r.get(2);
        let segments: Option<String> = r.get(3);
        match (at, segments) {
            (Some(at), Some(seg)) => splice_segments(&json, &seg, usize::try_from(at).unwrap_or(0)),
            _ => json,
        }
    } else {
        json
    };
    SessionRow {
        ordinal: to_u64(ordinal),
        json,
    }
}

fn after_i64(w: &Window) -> i64 {
    w.after.map_or(-1, to_i64)
}

/// A stored copy that is not the served one (for a nextLink issued while it was served).
async fn view_from_history<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    id: &str,
    revision: i64,
    read: &RecordRead,
) -> Result<Option<RecordView>, StoreError> {
    let mut params: Vec<Param> = vec![Box::new(revision), Box::new(id.to_owned())];
    let scope = scope_sql(scope, "tenant", &mut params);
    let row = query_opt(
        c,
        &format!(
            "SELECT tenant, version, partial, raw FROM record_versions \
             WHERE seq = $1 AND record_id = $2{scope}"
        ),
        &refs(&params),
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let raw: Vec<u8> = row.get(3);
    let raw = String::from_utf8(raw)
        .map_err(|e| StoreError::Backend(format!("stored copy {revision} is not UTF-8: {e}")))?;
    view_of_stored_copy(row.get(0), id, row.get(1), revision, row.get(2), &raw, read).map(Some)
}

/// One statement (so one snapshot, one round trip): the served head, and the sessions and participants
/// windows as arrays from correlated subqueries on the same key.
pub(crate) async fn read_record(
    c: &deadpool_postgres::Object,
    scope: &ReadScope,
    id: &str,
    read: &RecordRead,
) -> Result<Option<RecordView>, StoreError> {
    let mut params: Vec<Param> = vec![Box::new(id.to_owned())];
    let sc = scope_sql(scope, "r.tenant", &mut params);
    let with_segments = read.with_segments;
    let mut window = |w: &Window, table: &str, cols: &[&str]| -> String {
        params.push(Box::new(after_i64(w)));
        let a = params.len();
        params.push(Box::new(limit_i64(w.limit)));
        let l = params.len();
        cols.iter()
            .map(|col| {
                format!(
                    ", ARRAY(SELECT x.{col} FROM {table} x WHERE x.rk = r.rk AND x.ordinal > ${a} \
                     ORDER BY x.ordinal LIMIT ${l})"
                )
            })
            .collect()
    };
    let mut extra = String::new();
    if let Some(w) = &read.sessions {
        let cols: &[&str] = if with_segments {
            &["ordinal", "json", "segments_at", "segments"]
        } else {
            &["ordinal", "json"]
        };
        extra.push_str(&window(w, "sessions", cols));
    }
    if let Some(w) = &read.participants {
        extra.push_str(&window(w, "participants", &["ordinal", "json"]));
    }
    let sql = format!(
        "SELECT {HEAD_COLS}{extra} FROM records r WHERE r.id = $1{sc} ORDER BY r.tenant LIMIT 1"
    );
    let row = query_opt(c, &sql, &refs(&params)).await?;
    let head = row.as_ref().map(|r| head_from_row(r).0);
    match (head, read.pin) {
        (Some(head), pin) if pin.is_none_or(|p| p == head.revision) => {
            let Some(r) = row else { return Ok(None) };
            let mut col = 11;
            let mut sessions = Vec::new();
            if read.sessions.is_some() {
                let ords: Vec<i64> = r.get(col);
                let jsons: Vec<String> = r.get(col + 1);
                col += 2;
                let (ats, segs): (Vec<Option<i64>>, Vec<Option<String>>) = if with_segments {
                    let v = (r.get(col), r.get(col + 1));
                    col += 2;
                    v
                } else {
                    (Vec::new(), Vec::new())
                };
                for (i, (o, json)) in ords.into_iter().zip(jsons).enumerate() {
                    let json = match (
                        ats.get(i).copied().flatten(),
                        segs.get(i).cloned().flatten(),
                    ) {
                        (Some(at), Some(seg)) if with_segments => {
                            splice_segments(&json, &seg, usize::try_from(at).unwrap_or(0))
                        }
                        _ => json,
                    };
                    sessions.push(SessionRow {
                        ordinal: to_u64(o),
                        json,
                    });
                }
            }
            let mut participants = Vec::new();
            if read.participants.is_some() {
                let ords: Vec<i64> = r.get(col);
                let jsons: Vec<String> = r.get(col + 1);
                participants = ords
                    .into_iter()
                    .zip(jsons)
                    .map(|(o, json)| ParticipantRow {
                        ordinal: to_u64(o),
                        json,
                    })
                    .collect();
            }
            Ok(Some(RecordView {
                head,
                sessions,
                participants,
            }))
        }
        // A stored copy never changes: read outside the head's snapshot.
        (_, Some(pin)) => view_from_history(c, scope, id, pin, read).await,
        (_, None) => Ok(None),
    }
}

pub(crate) async fn get_session<C: GenericClient>(
    c: &C,
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
    let mut params: Vec<Param> = vec![
        Box::new(record_id.to_owned()),
        Box::new(session_id.to_owned()),
    ];
    let scope = scope_sql(scope, "r.tenant", &mut params);
    let row = query_opt(
        c,
        &format!(
            "SELECT {cols} FROM records r JOIN sessions s ON s.rk = r.rk \
             WHERE r.id = $1 AND s.session_id = $2{scope} ORDER BY r.tenant, s.ordinal LIMIT 1"
        ),
        &refs(&params),
    )
    .await?;
    Ok(row.map(|r| session_from_row(&r, with_segments)))
}

pub(crate) async fn get_participant<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    record_id: &str,
    participant_id: &str,
) -> Result<Option<ParticipantRow>, StoreError> {
    let mut params: Vec<Param> = vec![
        Box::new(record_id.to_owned()),
        Box::new(participant_id.to_owned()),
    ];
    let scope = scope_sql(scope, "r.tenant", &mut params);
    let row = query_opt(
        c,
        &format!(
            "SELECT p.ordinal, p.json FROM records r JOIN participants p ON p.rk = r.rk \
             WHERE r.id = $1 AND p.participant_id = $2{scope} ORDER BY r.tenant, p.ordinal LIMIT 1"
        ),
        &refs(&params),
    )
    .await?;
    Ok(row.map(|r| ParticipantRow {
        ordinal: to_u64(r.get(0)),
        json: r.get(1),
    }))
}

/// The WHERE clause (after `WHERE`) and its parameters for a record query, and the ORDER BY columns.
fn record_filter(
    scope: &ReadScope,
    q: &RecordQuery,
    with_cursor: bool,
) -> (String, Vec<Param>, &'static str) {
    let mut sql = String::from("true");
    let mut params: Vec<Param> = Vec::new();
    let push = |params: &mut Vec<Param>, p: Param| {
        params.push(p);
        params.len()
    };
    let tenant = scope.tenant();
    if let Some(t) = tenant {
        let n = push(&mut params, Box::new(t.to_owned()));
        sql.push_str(&format!(" AND r.tenant = ${n}"));
    }
    // One lower bound on start_key (records without a start never match a start bound), left out when the
    // keyset cursor implies it, so the index range starts at the cursor.
    let lower = match q.start_lower {
        Some(b) if b.micros > i64::MIN && b.inclusive => Some((b.micros, true)),
        Some(b) => Some((b.micros, false)),
        None if q.start_upper.is_some() => Some((i64::MIN, false)),
        None => None,
    };
    let cursor = q.after.as_ref().filter(|_| with_cursor);
    let implied = |(micros, inclusive): (i64, bool)| {
        cursor.is_some_and(|c| c.start_us > micros || (c.start_us == micros && inclusive))
    };
    if let Some((micros, inclusive)) = lower.filter(|l| !implied(*l)) {
        let n = push(&mut params, Box::new(micros));
        sql.push_str(&if inclusive {
            format!(" AND r.start_key >= ${n}")
        } else {
            format!(" AND r.start_key > ${n}")
        });
    }
    if let Some(b) = q.start_upper {
        let n = push(&mut params, Box::new(b.micros));
        sql.push_str(&if b.inclusive {
            format!(" AND r.start_key <= ${n}")
        } else {
            format!(" AND r.start_key < ${n}")
        });
    }
    for ids in &q.participant_ids {
        if ids.is_empty() {
            sql.push_str(" AND false");
            continue;
        }
        let n = push(&mut params, Box::new(ids.clone()));
        sql.push_str(&format!(
            " AND r.rk IN (SELECT p.rk FROM record_participant_ids p \
             WHERE p.participant_id = ANY(${n}::text[]))"
        ));
    }
    if let Some(cutoff) = q.end_after_us {
        let n = push(&mut params, Box::new(cutoff));
        sql.push_str(&format!(" AND r.retention_key >= ${n}"));
    }
    if let Some(c) = cursor {
        let a = push(&mut params, Box::new(c.start_us));
        let b = push(&mut params, Box::new(c.id.clone()));
        if tenant.is_some() {
            sql.push_str(&format!(" AND (r.start_key, r.id) > (${a}, ${b})"));
        } else {
            let t = push(&mut params, Box::new(c.tenant.clone()));
            sql.push_str(&format!(
                " AND (r.start_key, r.id, r.tenant) > (${a}, ${b}, ${t})"
            ));
        }
    }
    let order = if tenant.is_some() {
        "r.start_key, r.id"
    } else {
        "r.start_key, r.id, r.tenant"
    };
    (sql, params, order)
}

pub(crate) async fn count<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    q: &RecordQuery,
) -> Result<u64, StoreError> {
    let (filter, params, _) = record_filter(scope, q, false);
    let sql = format!("SELECT count(*) FROM records r WHERE {filter}");
    let rows = query(c, &sql, &refs(&params)).await?;
    Ok(rows.first().map_or(0, |r| to_u64(r.get(0))))
}

pub(crate) async fn list_records(
    c: &mut deadpool_postgres::Object,
    scope: &ReadScope,
    q: &RecordQuery,
    with_count: bool,
) -> Result<RecordList, StoreError> {
    let (filter, mut params, order) = record_filter(scope, q, true);
    params.push(Box::new(limit_i64(q.limit)));
    let sql = format!(
        "SELECT {HEAD_COLS} FROM records r WHERE {filter} ORDER BY {order} LIMIT ${}",
        params.len()
    );
    if !with_count {
        let rows = query(&*c, &sql, &refs(&params)).await?;
        return Ok(RecordList {
            heads: rows.iter().map(|r| head_from_row(r).0).collect(),
            count: None,
        });
    }
    let tx = snapshot(c).await?;
    let params = refs(&params);
    let (rows, n) = tokio::join!(query(&tx, &sql, &params), count(&tx, scope, q));
    let (rows, n) = match (rows, n) {
        (Ok(r), Ok(n)) => (r, n),
        (r, n) => return Err(crate::first_cause([r.err(), n.err()])),
    };
    tx.commit().await.db()?;
    Ok(RecordList {
        heads: rows.iter().map(|r| head_from_row(r).0).collect(),
        count: Some(n),
    })
}

/// The tenant whose copies of `id` a scope reads: its own, or (every tenant) the first that has the id.
async fn history_tenant<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<String>, StoreError> {
    match scope.tenant() {
        Some(t) => Ok(Some(t.to_owned())),
        None => {
            let rows = query(
                c,
                "SELECT min(tenant) FROM record_versions WHERE record_id = $1",
                &[&id],
            )
            .await?;
            Ok(rows.first().and_then(|r| r.get(0)))
        }
    }
}

pub(crate) async fn list_versions(
    c: &mut deadpool_postgres::Object,
    scope: &ReadScope,
    id: &str,
) -> Result<Vec<VersionInfo>, StoreError> {
    let tx = snapshot(c).await?;
    let Some(tenant) = history_tenant(&tx, scope, id).await? else {
        return Ok(Vec::new());
    };
    let rows = query(
        &tx,
        "SELECT v.version, v.seq, v.last_modified, v.received_us, v.outcome, \
         coalesce(r.version_seq = v.seq, false) \
         FROM record_versions v LEFT JOIN records r ON r.tenant = v.tenant AND r.id = v.record_id \
         WHERE v.tenant = $1 AND v.record_id = $2 ORDER BY v.version, v.seq",
        &[&tenant, &id],
    )
    .await?;
    tx.commit().await.db()?;
    Ok(rows
        .iter()
        .map(|r| {
            let outcome: String = r.get(4);
            VersionInfo {
                version: r.get(0),
                revision: r.get(1),
                last_modified: r.get(2),
                received_at: callrecords_store::extract::format_timestamp_us(r.get(3)),
                outcome: parse_outcome(&outcome),
                served: r.get(5),
            }
        })
        .collect())
}

fn parse_outcome(s: &str) -> PutOutcome {
    match s {
        "partial" => PutOutcome::Partial,
        "conflict" => PutOutcome::Conflict,
        "stale" => PutOutcome::Stale,
        _ => PutOutcome::Stored,
    }
}

pub(crate) async fn get_version<C: GenericClient>(
    c: &C,
    scope: &ReadScope,
    id: &str,
    version: i64,
) -> Result<Option<String>, StoreError> {
    // One statement: the tenant lookup is a subquery of the same snapshot.
    let mut params: Vec<Param> = vec![Box::new(id.to_owned()), Box::new(version)];
    let tenant = match scope.tenant() {
        Some(t) => {
            params.push(Box::new(t.to_owned()));
            "$3".to_owned()
        }
        None => "(SELECT min(tenant) FROM record_versions WHERE record_id = $1)".to_owned(),
    };
    let row = query_opt(
        c,
        &format!(
            "SELECT raw FROM record_versions WHERE tenant = {tenant} AND record_id = $1 \
             AND version = $2 ORDER BY seq LIMIT 1"
        ),
        &refs(&params),
    )
    .await?;
    row.map(|r| {
        String::from_utf8(r.get::<_, Vec<u8>>(0))
            .map_err(|e| StoreError::Backend(format!("stored raw JSON is not UTF-8: {e}")))
    })
    .transpose()
}

pub(crate) async fn changes_after<C: GenericClient>(
    c: &C,
    cursor: i64,
    limit: usize,
) -> Result<Vec<Change>, StoreError> {
    let rows = query(
        c,
        "SELECT seq, tenant, record_id, version, change_kind, partial, received_us \
         FROM record_versions WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&cursor, &limit_i64(limit)],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let kind: String = r.get(4);
            Ok(Change {
                cursor: r.get(0),
                tenant: r.get(1),
                record_id: r.get(2),
                version: r.get(3),
                kind: ChangeKind::parse(&kind)
                    .ok_or_else(|| StoreError::Backend(format!("unknown change kind {kind:?}")))?,
                partial: r.get(5),
                received_us: r.get(6),
            })
        })
        .collect()
}
