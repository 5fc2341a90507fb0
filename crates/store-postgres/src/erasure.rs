//! Erasure on PostgreSQL: purging one record, redacting one user (see `callrecords_store::erasure` and
//! `docs/erasure.md`). A deleted or updated row stays in its table's pages as a dead tuple until VACUUM
//! reclaims it, so after an erasure the touched tables are vacuumed (outside the transaction). What VACUUM
//! cannot reach (WAL segments, replicas, base backups) is the operator's: see the docs.

use callrecords_store::erasure::{AuditEntry, ErasureReport, RedactedCopy, Redaction, redact_copy};
use callrecords_store::extract::{content_hash_in, log_row_hash};
use callrecords_store::{IncomingRecord, ReadScope, StoreError};

use crate::read::{execute, query, query_opt};
use crate::write::reserve;
use crate::{SqlResult, limit_i64, now_us, to_i64};

/// The records (tenant, id) and the log rows (seq) a redaction rewrites.
type Candidates = (Vec<(String, String)>, Vec<i64>);

/// Records rewritten per transaction (the feed lock is let go in between, so ingest goes on).
const BATCH: usize = 32;

/// The tables an erasure may leave dead tuples in.
const VACUUM: &str = "VACUUM record_versions, records, sessions, participants, record_participant_ids, \
                      log_rows, notifications, sync_inbox, quality_records, quality_streams, \
                      quality_sessions, quality_contributions";

async fn insert_audit<C: deadpool_postgres::GenericClient>(
    c: &C,
    a: &AuditEntry,
    r: &ErasureReport,
) -> Result<(), StoreError> {
    let (at, versions, log_rows, records) = (
        now_us(),
        to_i64(r.versions),
        to_i64(r.log_rows),
        to_i64(r.records.len() as u64),
    );
    execute(
        c,
        "INSERT INTO erasure_audit (at_us, actor, action, tenant, subject, versions, log_rows, records) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &at,
            &a.actor,
            &a.action,
            &a.tenant,
            &a.subject,
            &versions,
            &log_rows,
            &records,
        ],
    )
    .await?;
    Ok(())
}

async fn lock_feed(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), StoreError> {
    query(
        tx,
        "SELECT feed_seq FROM store_heads WHERE id = 1 FOR UPDATE",
        &[],
    )
    .await?;
    Ok(())
}

pub(crate) async fn vacuum(c: &deadpool_postgres::Object) -> Result<(), StoreError> {
    c.batch_execute(VACUUM).await.db()
}

pub(crate) async fn purge(
    c: &mut deadpool_postgres::Object,
    scope: &ReadScope,
    id: &str,
    audit: &AuditEntry,
) -> Result<ErasureReport, StoreError> {
    let tenant = scope.tenant().map(str::to_owned);
    let tx = c.transaction().await.db()?;
    lock_feed(&tx).await?;
    let tenants: Vec<String> = query(
        &tx,
        "SELECT tenant FROM record_versions WHERE record_id = $1 AND ($2::text IS NULL OR tenant = $2) \
         UNION SELECT tenant FROM records WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) ORDER BY 1",
        &[&id, &tenant],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    let mut report = ErasureReport::default();
    for t in &tenants {
        let key = [(t.clone(), id.to_owned())];
        let gone = crate::retention::delete_records(&tx, &key).await?;
        report.versions += gone.versions;
        if gone.records > 0 || gone.versions > 0 {
            report.records.extend(key);
        }
    }
    insert_audit(&tx, audit, &report).await?;
    execute(
        &tx,
        "UPDATE store_heads SET writes = writes + 1 WHERE id = 1",
        &[],
    )
    .await?;
    tx.commit().await.db()?;
    Ok(report)
}

/// The records with a stored copy that mentions the user, and the log rows that do.
pub(crate) async fn candidates(
    c: &deadpool_postgres::Object,
    scope: &ReadScope,
    user_id: &str,
) -> Result<Candidates, StoreError> {
    let tenant = scope.tenant().map(str::to_owned);
    // strpos on lower-cased text: ids compare ASCII-case-insensitively and hold no LIKE wildcards to escape.
    let needle = user_id.trim().to_ascii_lowercase();
    let records = query(
        c,
        "SELECT DISTINCT tenant, record_id FROM record_versions \
         WHERE ($1::text IS NULL OR tenant = $1) AND strpos(lower(convert_from(raw, 'UTF8')), $2) > 0 \
         ORDER BY 1, 2",
        &[&tenant, &needle],
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let log_rows = query(
        c,
        "SELECT seq FROM log_rows WHERE ($1::text IS NULL OR tenant = $1) AND strpos(lower(raw), $2) > 0 \
         ORDER BY seq",
        &[&tenant, &needle],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    Ok((records, log_rows))
}

async fn redact_record(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    id: &str,
    r: &Redaction,
) -> Result<u64, StoreError> {
    let p = r.pseudonym(tenant);
    let copies = query(
        tx,
        "SELECT seq, raw, partial FROM record_versions WHERE tenant = $1 AND record_id = $2 ORDER BY seq",
        &[&tenant, &id],
    )
    .await?;
    let served = query_opt(
        tx,
        "SELECT rk, version_seq, received_us FROM records WHERE tenant = $1 AND id = $2",
        &[&tenant, &id],
    )
    .await?
    .map(|row| {
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
        )
    });
    let mut scratch = Vec::new();
    let mut rewritten = 0u64;
    for row in copies {
        let (seq, raw, partial): (i64, Vec<u8>, bool) = (row.get(0), row.get(1), row.get(2));
        let raw = String::from_utf8(raw)
            .map_err(|e| StoreError::Backend(format!("copy {seq} is not UTF-8: {e}")))?;
        let Some(copy) = redact_copy(&raw, &r.user_id, &p) else {
            continue;
        };
        let RedactedCopy {
            raw: new_raw,
            value,
        } =
            copy.map_err(|e| StoreError::Backend(format!("redacted copy {seq} is not JSON: {e}")))?;
        let hash = content_hash_in(&value, &mut scratch).to_vec();
        execute(
            tx,
            "UPDATE record_versions SET content_hash = $2, raw = $3 WHERE seq = $1",
            &[&seq, &hash, &new_raw.as_bytes()],
        )
        .await?;
        rewritten += 1;
        if let Some((rk, version_seq, received_us)) = served
            && version_seq == seq
        {
            let rec = IncomingRecord {
                raw: new_raw,
                value,
                partial,
            };
            reserve(tx, tenant, rk, version_seq, received_us, rec).await?;
        }
    }
    // Its derived quality rows hold the user's identity too: dropped, and derived again by the caller from
    // the rewritten record (as on SQLite).
    crate::retention::delete_quality(tx, &[(tenant.to_owned(), id.to_owned())]).await?;
    Ok(rewritten)
}

async fn redact_log_row(
    tx: &deadpool_postgres::Transaction<'_>,
    seq: i64,
    r: &Redaction,
) -> Result<bool, StoreError> {
    let Some(row) = query_opt(
        tx,
        "SELECT tenant, kind, raw, period_from_us, period_to_us FROM log_rows WHERE seq = $1",
        &[&seq],
    )
    .await?
    else {
        return Ok(false);
    };
    let (tenant, kind, raw): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    let period: Option<(i64, i64)> = row
        .get::<_, Option<i64>>(3)
        .zip(row.get::<_, Option<i64>>(4));
    let Some(copy) = redact_copy(&raw, &r.user_id, &r.pseudonym(&tenant)) else {
        return Ok(false);
    };
    let RedactedCopy {
        raw: new_raw,
        value,
    } =
        copy.map_err(|e| StoreError::Backend(format!("redacted log row {seq} is not JSON: {e}")))?;
    let hash = log_row_hash(&value, period).to_vec();
    let taken = query_opt(
        tx,
        "SELECT 1 FROM log_rows WHERE tenant = $1 AND kind = $2 AND content_hash = $3 AND seq <> $4",
        &[&tenant, &kind, &hash, &seq],
    )
    .await?
    .is_some();
    if taken {
        // Its redacted form is already stored (another row of the same content): this one goes.
        execute(tx, "DELETE FROM log_rows WHERE seq = $1", &[&seq]).await?;
    } else {
        execute(
            tx,
            "UPDATE log_rows SET raw = $2, content_hash = $3 WHERE seq = $1",
            &[&seq, &new_raw, &hash],
        )
        .await?;
    }
    Ok(true)
}

pub(crate) async fn redact(
    c: &mut deadpool_postgres::Object,
    scope: &ReadScope,
    r: &Redaction,
    audit: &AuditEntry,
) -> Result<ErasureReport, StoreError> {
    let (records, log_rows) = candidates(c, scope, &r.user_id).await?;
    let mut report = ErasureReport::default();
    for chunk in records.chunks(BATCH) {
        let tx = c.transaction().await.db()?;
        lock_feed(&tx).await?;
        for (tenant, id) in chunk {
            report.versions += redact_record(&tx, tenant, id, r).await?;
            report.records.push((tenant.clone(), id.clone()));
        }
        execute(
            &tx,
            "UPDATE store_heads SET writes = writes + 1 WHERE id = 1",
            &[],
        )
        .await?;
        tx.commit().await.db()?;
    }
    let tx = c.transaction().await.db()?;
    for seq in log_rows {
        if redact_log_row(&tx, seq, r).await? {
            report.log_rows += 1;
        }
    }
    insert_audit(&tx, audit, &report).await?;
    execute(
        &tx,
        "UPDATE store_heads SET writes = writes + 1 WHERE id = 2",
        &[],
    )
    .await?;
    tx.commit().await.db()?;
    Ok(report)
}

pub(crate) async fn audit_log(
    c: &deadpool_postgres::Object,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = query(
        c,
        "SELECT at_us, actor, action, tenant, subject, versions, log_rows, records \
         FROM erasure_audit ORDER BY seq DESC LIMIT $1",
        &[&limit_i64(limit)],
    )
    .await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            at_us: r.get(0),
            actor: r.get(1),
            action: r.get(2),
            tenant: r.get(3),
            subject: r.get(4),
            versions: n(r.get(5)),
            log_rows: n(r.get(6)),
            records: n(r.get(7)),
        })
        .collect())
}
