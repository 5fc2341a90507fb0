//! Retention (`serve --retain`): deleting records with everything that belongs to them, and old log rows,
//! in bounded batches ([`callrecords_store::Store::purge_expired`]). The same rules as the SQLite backend.
//!
//! [`delete_records`] is the one place that knows what belongs to a record; anything else that deletes
//! records (erasure of one record) goes through it.

use callrecords_store::{PurgeCounts, StoreError};
use deadpool_postgres::GenericClient;

use crate::read::{execute, query};
use crate::{SqlResult, limit_i64};

/// Deletes the records `keys` (tenant, id) inside the caller's transaction (which holds row 1 of
/// `store_heads`, so no record batch runs meanwhile): the served row and its session, participant and
/// participant-id rows, every stored version, the derived quality rows, the outbox entries and the sync inbox
/// entries. Keys that name no record are skipped.
pub(crate) async fn delete_records<C: GenericClient>(
    tx: &C,
    keys: &[(String, String)],
) -> Result<PurgeCounts, StoreError> {
    let mut out = PurgeCounts::default();
    if keys.is_empty() {
        return Ok(out);
    }
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let k: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&tenants, &ids];
    let rks: Vec<i64> = query(
        tx,
        "SELECT r.rk FROM records r JOIN unnest($1::text[], $2::text[]) AS k(tenant, id) \
         ON r.tenant = k.tenant AND r.id = k.id",
        &k,
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect();
    for table in ["sessions", "participants", "record_participant_ids"] {
        execute(
            tx,
            &format!("DELETE FROM {table} WHERE rk = ANY($1::bigint[])"),
            &[&rks],
        )
        .await?;
    }
    out.records = execute(
        tx,
        "DELETE FROM records WHERE rk = ANY($1::bigint[])",
        &[&rks],
    )
    .await?;
    out.versions = execute(
        tx,
        "DELETE FROM record_versions v USING unnest($1::text[], $2::text[]) AS k(tenant, id) \
         WHERE v.tenant = k.tenant AND v.record_id = k.id",
        &k,
    )
    .await?;
    out.notifications = execute(
        tx,
        "DELETE FROM notifications n USING unnest($1::text[], $2::text[]) AS k(tenant, id) \
         WHERE n.tenant = k.tenant AND n.record_id = k.id",
        &k,
    )
    .await?;
    execute(
        tx,
        "DELETE FROM sync_inbox s USING unnest($1::text[], $2::text[]) AS k(tenant, id) \
         WHERE s.tenant = k.tenant AND s.kind = 'record' AND s.id = k.id",
        &k,
    )
    .await?;
    out.quality_records = delete_quality(tx, keys).await?;
    Ok(out)
}

/// Deletes the derived quality rows of the records `keys` (tenant, id); returns how many records had them.
/// Summaries add up the contributions of the records left, so nothing else needs adjusting.
pub(crate) async fn delete_quality<C: GenericClient>(
    tx: &C,
    keys: &[(String, String)],
) -> Result<u64, StoreError> {
    let tenants: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let k: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&tenants, &ids];
    for table in [
        "quality_streams",
        "quality_sessions",
        "quality_contributions",
    ] {
        execute(
            tx,
            &format!(
                "DELETE FROM {table} q USING unnest($1::text[], $2::text[]) AS k(tenant, id) \
                 WHERE q.tenant = k.tenant AND q.record_id = k.id"
            ),
            &k,
        )
        .await?;
    }
    execute(
        tx,
        "DELETE FROM quality_records q USING unnest($1::text[], $2::text[]) AS k(tenant, id) \
         WHERE q.tenant = k.tenant AND q.record_id = k.id",
        &k,
    )
    .await
}

/// One batch of retention in one transaction (see the trait method).
pub(crate) async fn purge_expired(
    c: &mut deadpool_postgres::Object,
    cutoff_us: i64,
    limit: usize,
) -> Result<PurgeCounts, StoreError> {
    let tx = c.transaction().await.db()?;
    // One record batch at a time across every node: a record cannot gain a version while it is purged.
    query(
        &tx,
        "SELECT feed_seq FROM store_heads WHERE id = 1 FOR UPDATE",
        &[],
    )
    .await?;
    let limit = limit_i64(limit);
    // retention_key is the end, else the start, else i64::MIN (no date): those go by when received.
    let keys: Vec<(String, String)> = query(
        &tx,
        "SELECT tenant, id FROM records WHERE retention_key < $1 \
         AND (retention_key > -9223372036854775808 OR received_us < $1) \
         ORDER BY retention_key LIMIT $2",
        &[&cutoff_us, &limit],
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let mut out = delete_records(&tx, &keys).await?;
    // Derived rows whose record is gone: a deriver that read a record just before a batch purged it
    // writes them after. They start before the cut-off (a record starts before it ends).
    let orphans: Vec<(String, String)> = query(
        &tx,
        "SELECT q.tenant, q.record_id FROM quality_records q WHERE q.start_us < $1 \
         AND NOT EXISTS (SELECT 1 FROM records r WHERE r.tenant = q.tenant AND r.id = q.record_id) \
         LIMIT $2",
        &[&cutoff_us, &limit],
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    out.quality_records += delete_quality(&tx, &orphans).await?;
    out.log_rows = execute(
        &tx,
        "DELETE FROM log_rows WHERE seq IN (SELECT seq FROM log_rows WHERE \
         CASE WHEN time_us IS NOT NULL THEN time_us ELSE coalesce(period_to_us, received_us) END < $1 \
         LIMIT $2)",
        &[&cutoff_us, &limit],
    )
    .await?;
    if !out.is_empty() {
        execute(
            &tx,
            "UPDATE store_heads SET writes = writes + 1 WHERE id = 1",
            &[],
        )
        .await?;
    }
    tx.commit().await.db()?;
    Ok(out)
}
