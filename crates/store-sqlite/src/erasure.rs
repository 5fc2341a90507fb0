//! Erasure: purging one record, redacting one user (see `callrecords_store::erasure` and
//! `docs/erasure.md`). Every connection runs with `secure_delete=ON`, so deleted or rewritten content is
//! zeroed in the database file; after an erasure the WAL is checkpointed and truncated, so no old page
//! image stays in it either.

use std::collections::BTreeSet;

use callrecords_store::erasure::{
    AuditEntry, ErasureReport, RedactedCopy, Redaction, mentions, redact_copy,
};
use callrecords_store::extract::{content_hash_in, log_row_hash};
use callrecords_store::{IncomingRecord, ReadScope, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::encoding::{decode_raw, encode_raw_with, new_deflate};
use crate::write::{prepare_one, serve_version};
use crate::{SqlResult, lock, now_us, quality, to_i64, to_u64};

/// The records (tenant, id) and the log rows (seq) a redaction rewrites.
type Candidates = (Vec<(String, String)>, Vec<i64>);

/// Records rewritten per write transaction (the writer lock is let go in between, so ingest goes on).
const BATCH: usize = 32;

fn tenant_filter(scope: &ReadScope) -> Option<String> {
    scope.tenant().map(str::to_owned)
}

fn insert_audit(tx: &Connection, a: &AuditEntry, r: &ErasureReport) -> Result<i64, StoreError> {
    let at = now_us();
    tx.prepare_cached(
        "INSERT INTO erasure_audit (at_us, actor, action, tenant, subject, versions, log_rows, records) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .db()?
    .execute(params![
        at,
        a.actor,
        a.action,
        a.tenant,
        a.subject,
        to_i64(r.versions),
        to_i64(r.log_rows),
        to_i64(r.records.len() as u64)
    ])
    .db()?;
    Ok(at)
}

/// Copy every WAL page back and truncate the WAL file to zero bytes, retrying while readers hold old
/// snapshots (a running `serve`); an error when it never completes.
pub(crate) fn checkpoint_truncate(c: &Connection) -> Result<(), StoreError> {
    for attempt in 0..50 {
        let (busy, _log, _done): (i64, i64, i64) = c
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .db()?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20 + attempt * 10));
    }
    Err(StoreError::Busy(
        "the erasure is committed, but readers kept the WAL from being truncated; old page images may \
         remain in the -wal file until the next checkpoint"
            .into(),
    ))
}

pub(crate) fn purge(
    c: &mut Connection,
    scope: &ReadScope,
    id: &str,
    audit: &AuditEntry,
) -> Result<ErasureReport, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let tenant = tenant_filter(scope);
    let tenants: Vec<String> = {
        let mut stmt = tx
            .prepare(
                "SELECT tenant FROM record_versions WHERE record_id = ?1 AND (?2 IS NULL OR tenant = ?2) \
                 UNION SELECT tenant FROM records WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2) \
                 UNION SELECT tenant FROM quality_records WHERE record_id = ?1 AND (?2 IS NULL OR tenant = ?2) \
                 ORDER BY 1",
            )
            .db()?;
        stmt.query_map(params![id, tenant], |r| r.get(0))
            .db()?
            .collect::<Result<_, _>>()
            .db()?
    };
    let mut report = ErasureReport::default();
    for t in &tenants {
        let key = [(t.clone(), id.to_owned())];
        let gone = crate::retention::delete_records(&tx, &key)?;
        report.versions += gone.versions;
        if gone.records > 0 || gone.versions > 0 {
            report.records.extend(key);
        }
    }
    insert_audit(&tx, audit, &report)?;
    tx.commit().db()?;
    checkpoint_truncate(c)?;
    Ok(report)
}

/// The records with a stored copy that mentions the user, and the log rows that do (read from one
/// snapshot, without the writer lock).
pub(crate) fn candidates(
    c: &Connection,
    scope: &ReadScope,
    user_id: &str,
) -> Result<Candidates, StoreError> {
    let tenant = tenant_filter(scope);
    let tx = c.unchecked_transaction().db()?;
    let mut records = BTreeSet::new();
    {
        let mut stmt = tx
            .prepare(
                "SELECT tenant, record_id, raw_encoding, raw FROM record_versions \
                 WHERE ?1 IS NULL OR tenant = ?1",
            )
            .db()?;
        let mut rows = stmt.query(params![tenant]).db()?;
        while let Some(r) = rows.next().db()? {
            let raw = decode_raw(r.get(2).db()?, r.get(3).db()?)?;
            if mentions(&raw, user_id) {
                records.insert((r.get::<_, String>(0).db()?, r.get::<_, String>(1).db()?));
            }
        }
    }
    let log_rows: Vec<i64> = {
        // LIKE is case-insensitive for ASCII, as ids compare; `%` and `_` in an id are wildcards at worst
        // (more rows checked, each one exactly by `mentions`).
        let mut stmt = tx
            .prepare(
                "SELECT seq, raw FROM log_rows WHERE (?1 IS NULL OR tenant = ?1) AND raw LIKE ?2 \
                 ORDER BY seq",
            )
            .db()?;
        let like = format!("%{}%", user_id.trim());
        let mut out = Vec::new();
        let mut rows = stmt.query(params![tenant, like]).db()?;
        while let Some(r) = rows.next().db()? {
            let raw: String = r.get(1).db()?;
            if mentions(&raw, user_id) {
                out.push(r.get(0).db()?);
            }
        }
        out
    };
    tx.finish().db()?;
    Ok((records.into_iter().collect(), log_rows))
}

/// Rewrite every copy of one record, rebuild its served rows from the rewritten served copy, drop its
/// derived rows. Returns the copies rewritten.
fn redact_record(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    id: &str,
    r: &Redaction,
    compress: bool,
    deflate: &mut flate2::Compress,
) -> Result<u64, StoreError> {
    let p = r.pseudonym(tenant);
    let copies: Vec<(i64, i64, Vec<u8>, bool)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT seq, raw_encoding, raw, partial FROM record_versions \
                 WHERE tenant = ?1 AND record_id = ?2 ORDER BY seq",
            )
            .db()?;
        stmt.query_map(params![tenant, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .db()?
        .collect::<Result<_, _>>()
        .db()?
    };
    let served: Option<(i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT rk, version_seq, received_us FROM records WHERE tenant = ?1 AND id = ?2",
        )
        .db()?
        .query_row(params![tenant, id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .db()?;
    let mut scratch = Vec::new();
    let mut rewritten = 0u64;
    for (seq, enc, bytes, partial) in copies {
        let raw = decode_raw(enc, bytes)?;
        let Some(copy) = redact_copy(&raw, &r.user_id, &p) else {
            continue;
        };
        let RedactedCopy {
            raw: new_raw,
            value,
        } =
            copy.map_err(|e| StoreError::Backend(format!("redacted copy {seq} is not JSON: {e}")))?;
        let hash = content_hash_in(&value, &mut scratch).to_vec();
        let (enc, stored) = encode_raw_with(&new_raw, compress, deflate)?;
        tx.prepare_cached(
            "UPDATE record_versions SET content_hash = ?2, raw_encoding = ?3, raw = ?4 WHERE seq = ?1",
        )
        .db()?
        .execute(params![seq, hash, enc, stored])
        .db()?;
        rewritten += 1;
        if let Some((rk, version_seq, received_us)) = served
            && version_seq == seq
        {
            let prepared = prepare_one(
                0,
                IncomingRecord {
                    raw: new_raw,
                    value,
                    partial,
                },
                compress,
                &mut scratch,
                deflate,
            )?;
            serve_version(tx, tenant, &prepared, seq, received_us, Some(rk))?;
        }
    }
    quality::forget_records(tx, &[(tenant.to_owned(), id.to_owned())])?;
    Ok(rewritten)
}

fn redact_log_row(tx: &Connection, seq: i64, r: &Redaction) -> Result<bool, StoreError> {
    let row: Option<(String, String, Option<i64>, Option<i64>)> = tx
        .prepare_cached(
            "SELECT tenant, raw, period_from_us, period_to_us FROM log_rows WHERE seq = ?1",
        )
        .db()?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()
        .db()?;
    let Some((tenant, raw, from, to)) = row else {
        return Ok(false);
    };
    let Some(copy) = redact_copy(&raw, &r.user_id, &r.pseudonym(&tenant)) else {
        return Ok(false);
    };
    let RedactedCopy {
        raw: new_raw,
        value,
    } =
        copy.map_err(|e| StoreError::Backend(format!("redacted log row {seq} is not JSON: {e}")))?;
    let hash = log_row_hash(&value, from.zip(to));
    let n = tx
        .prepare_cached("UPDATE OR IGNORE log_rows SET raw = ?2, content_hash = ?3 WHERE seq = ?1")
        .db()?
        .execute(params![seq, new_raw, hash.as_slice()])
        .db()?;
    if n == 0 {
        // Its redacted form is already stored (another row of the same content): this one goes.
        tx.prepare_cached("DELETE FROM log_rows WHERE seq = ?1")
            .db()?
            .execute([seq])
            .db()?;
    }
    Ok(true)
}

/// The writing half of a redaction: `BATCH` records per transaction, the log rows, then the audit entry.
pub(crate) fn redact(
    writer: &std::sync::Mutex<Connection>,
    compress: bool,
    records: Vec<(String, String)>,
    log_rows: Vec<i64>,
    r: &Redaction,
    audit: &AuditEntry,
) -> Result<ErasureReport, StoreError> {
    let mut report = ErasureReport::default();
    let mut deflate = new_deflate();
    for chunk in records.chunks(BATCH) {
        let mut c = lock(writer);
        let tx = c
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        for (tenant, id) in chunk {
            report.versions += redact_record(&tx, tenant, id, r, compress, &mut deflate)?;
            report.records.push((tenant.clone(), id.clone()));
        }
        tx.commit().db()?;
    }
    let mut c = lock(writer);
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    for seq in log_rows {
        if redact_log_row(&tx, seq, r)? {
            report.log_rows += 1;
        }
    }
    insert_audit(&tx, audit, &report)?;
    tx.commit().db()?;
    checkpoint_truncate(&c)?;
    Ok(report)
}

pub(crate) fn audit_log(c: &Connection, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = c
        .prepare_cached(
            "SELECT at_us, actor, action, tenant, subject, versions, log_rows, records \
             FROM erasure_audit ORDER BY seq DESC LIMIT ?1",
        )
        .db()?;
    stmt.query_map([crate::limit_i64(limit)], |r| {
        Ok(AuditEntry {
            at_us: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            tenant: r.get(3)?,
            subject: r.get(4)?,
            versions: to_u64(r.get(5)?),
            log_rows: to_u64(r.get(6)?),
            records: to_u64(r.get(7)?),
        })
    })
    .db()?
    .collect::<Result<_, _>>()
    .db()
}
