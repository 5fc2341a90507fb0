//! Retention (`serve --retain`): deleting records with everything that belongs to them, and old log rows,
//! in bounded batches ([`callrecords_store::Store::purge_expired`]).
//!
//! [`delete_records`] is the one place that knows what belongs to a record; anything else that deletes
//! records (erasure of one record) goes through it.

use callrecords_store::{LogKind, PurgeCounts, StoreError};
use rusqlite::{Connection, TransactionBehavior, params};

use crate::{SqlResult, limit_i64};

/// Deletes the records `keys` (tenant, id) inside the caller's transaction: the served copy (its session,
/// participant and participant-id rows go with it: `ON DELETE CASCADE`), every stored version, the derived
/// quality rows and their share of the daily aggregates, the outbox entries and the sync inbox entries.
/// Keys that name no record are skipped.
pub(crate) fn delete_records(
    tx: &Connection,
    keys: &[(String, String)],
) -> Result<PurgeCounts, StoreError> {
    let mut out = PurgeCounts::default();
    for (tenant, id) in keys {
        // The served row first: it references its version row.
        out.records += tx
            .prepare_cached("DELETE FROM records WHERE tenant = ?1 AND id = ?2")
            .db()?
            .execute(params![tenant, id])
            .db()? as u64;
        out.versions += tx
            .prepare_cached("DELETE FROM record_versions WHERE tenant = ?1 AND record_id = ?2")
            .db()?
            .execute(params![tenant, id])
            .db()? as u64;
        out.notifications += tx
            .prepare_cached("DELETE FROM notifications WHERE tenant = ?1 AND record_id = ?2")
            .db()?
            .execute(params![tenant, id])
            .db()? as u64;
        tx.prepare_cached(
            "DELETE FROM sync_inbox WHERE tenant = ?1 AND kind = 'record' AND id = ?2",
        )
        .db()?
        .execute(params![tenant, id])
        .db()?;
    }
    out.quality_records = crate::quality::forget_records(tx, keys)?;
    Ok(out)
}

/// One batch of retention in one transaction (see the trait method).
pub(crate) fn purge_expired(
    c: &mut Connection,
    cutoff_us: i64,
    limit: usize,
) -> Result<PurgeCounts, StoreError> {
    let tx = c
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    // retention_key is the end, else the start, else i64::MIN (no date): those go by when received.
    let keys: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT tenant, id FROM records WHERE retention_key < ?1 \
             AND (retention_key > -9223372036854775808 OR received_us < ?1) \
             ORDER BY retention_key LIMIT ?2",
        )
        .db()?
        .query_map(params![cutoff_us, limit_i64(limit)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    let mut out = delete_records(&tx, &keys)?;
    // Derived rows whose record is gone: a deriver that read a record just before a batch purged it
    // writes them after. They start before the cut-off (a record starts before it ends), where few
    // derived rows are left once their records are purged.
    let orphans: Vec<(String, String)> = tx
        .prepare_cached(
            "SELECT q.tenant, q.record_id FROM quality_records q WHERE q.start_us < ?1 \
             AND NOT EXISTS (SELECT 1 FROM records r WHERE r.tenant = q.tenant AND r.id = q.record_id) \
             LIMIT ?2",
        )
        .db()?
        .query_map(params![cutoff_us, limit_i64(limit)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .db()?
        .collect::<Result<_, _>>()
        .db()?;
    out.quality_records += crate::quality::forget_records(&tx, &orphans)?;
    let mut left = limit;
    for kind in LogKind::ALL {
        if left == 0 {
            break;
        }
        let n = tx
            .prepare_cached(
                "DELETE FROM log_rows WHERE seq IN (SELECT seq FROM log_rows WHERE kind = ?1 \
                 AND CASE WHEN time_us IS NOT NULL THEN time_us \
                          ELSE coalesce(period_to_us, received_us) END < ?2 LIMIT ?3)",
            )
            .db()?
            .execute(params![kind.cli_name(), cutoff_us, limit_i64(left)])
            .db()?;
        left -= n.min(left);
        out.log_rows += n as u64;
    }
    tx.commit().db()?;
    Ok(out)
}
