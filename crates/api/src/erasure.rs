//! Erasure requests, as `callrecords purge` / `callrecords redact` and the admin routes run them: the
//! store call, then (redaction) the derived quality rows of the records touched derived again from the
//! rewritten records, then the audit line in the log (target `callrecords::audit`; the store keeps the
//! same entry in its audit table). See `docs/erasure.md`.

use std::sync::Arc;

use callrecords_store::erasure::{AuditEntry, ErasureReport, Redaction};
use callrecords_store::quality::QUALITY_CONSUMER;
use callrecords_store::{ReadScope, Store, StoreError};

use crate::derive;

/// The pseudonym secret, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct PseudonymKey(pub Vec<u8>);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    /// Read a key file (surrounding whitespace trimmed; at least 16 bytes).
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let key = bytes.trim_ascii().to_vec();
        if key.len() < 16 {
            return Err(format!(
                "{}: a pseudonym key file must hold at least 16 bytes of secret",
                path.display()
            ));
        }
        Ok(PseudonymKey(key))
    }
}

fn entry(actor: &str, action: &str, scope: &ReadScope, subject: String) -> AuditEntry {
    AuditEntry {
        at_us: 0,
        actor: actor.to_owned(),
        action: action.to_owned(),
        tenant: scope.tenant().map(str::to_owned),
        subject,
        versions: 0,
        log_rows: 0,
        records: 0,
    }
}

fn log(e: &AuditEntry, r: &ErasureReport) {
    tracing::info!(
        target: "callrecords::audit",
        actor = %e.actor,
        action = %e.action,
        tenant = e.tenant.as_deref().unwrap_or("*"),
        subject = %e.subject,
        versions = r.versions,
        log_rows = r.log_rows,
        records = r.records.len(),
        "erasure done"
    );
}

/// Purge record `id` of the tenants in `scope` (every trace: see [`Store::purge_record`]).
pub async fn purge(
    store: &dyn Store,
    scope: &ReadScope,
    id: &str,
    actor: &str,
) -> Result<ErasureReport, StoreError> {
    let e = entry(actor, "purge", scope, id.to_owned());
    let r = store.purge_record(scope, id, &e).await?;
    log(&e, &r);
    Ok(r)
}

/// Redact `user_id` in the tenants of `scope` with pseudonyms keyed by `key`, then derive the quality rows
/// of the records touched again (their numbers come back as they were, under the pseudonym).
pub async fn redact(
    store: &dyn Store,
    scope: &ReadScope,
    user_id: &str,
    key: &[u8],
    actor: &str,
) -> Result<ErasureReport, StoreError> {
    if user_id.trim().is_empty() {
        return Err(StoreError::InvalidInput("the user id is empty".into()));
    }
    if key.is_empty() {
        return Err(StoreError::InvalidInput(
            "the pseudonym key is empty".into(),
        ));
    }
    let redaction = Redaction {
        user_id: user_id.trim().to_owned(),
        key: key.to_vec(),
    };
    let e = entry(actor, "redact", scope, redaction.audit_subject());
    let r = store.redact_user(scope, &redaction, &e).await?;
    rederive(store, &r.records).await?;
    log(&e, &r);
    Ok(r)
}

/// Derive the quality rows of `records` again from their served versions (no cursor moves).
pub async fn rederive(store: &dyn Store, records: &[(String, String)]) -> Result<(), StoreError> {
    let Some(q) = store.quality() else {
        return Ok(());
    };
    let meta = q.quality_meta().await?;
    let buildings = Arc::new(derive::buildings_of(meta.buildings.as_deref()));
    for chunk in records.chunks(256) {
        let mut updates = Vec::with_capacity(chunk.len());
        for (tenant, id) in chunk {
            let scope = ReadScope::Tenant(tenant.clone());
            let Some(view) = derive::read_view(store, &scope, id).await? else {
                continue;
            };
            let rows = derive::rows_of_view(&view, buildings.as_ref().as_ref())?;
            updates.push(derive::update_of(&view, &rows)?);
        }
        // Cursor 0: the consumer's cursor only moves forward, so it stays where the deriver left it. A
        // new epoch (a rebuild started meanwhile) refuses the write: the rebuild derives them anyway.
        if !q
            .replace_quality(meta.epoch, QUALITY_CONSUMER, 0, updates)
            .await?
        {
            return Ok(());
        }
    }
    Ok(())
}
