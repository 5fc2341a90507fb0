//! The quality deriver: drains the change feed (consumer [`QUALITY_CONSUMER`]) into the store's derived
//! quality tables. For each served change it rebuilds the typed record from [`Store::read_record`] (all
//! sessions with segments, all participants), computes its CQD rows ([`callrecords_quality::record_rows`],
//! the building file applied) and contributions (overall and for every
//! [`callrecords_quality::GroupKey`]), and hands them to [`QualityStore::replace_quality`] together with
//! the cursor: the cursor only moves with the rows. The same functions derive at import
//! ([`callrecords_ingest::quality`]) when the deriver is caught up.
//!
//! Run by `serve` in the background ([`spawn`]) and before every analytics answer ([`catch_up`]), so
//! answers always include every record stored before the request.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use callrecords_ingest::quality::rows_of_record;
use callrecords_model::CallRecord;
use callrecords_quality::{BuildingMap, RecordRows};
use callrecords_store::quality::{QUALITY_CONSUMER, QualityStore, QualityUpdate};
use callrecords_store::{Change, ReadScope, RecordRead, RecordView, Store, StoreError, Window};
use serde_json::Value;

/// Changes read per transaction.
const BATCH: usize = 512;

/// One deriver at a time in this process (others on the same data are fenced by the epoch and the
/// version rule).
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn quality_of(store: &dyn Store) -> Result<&dyn QualityStore, StoreError> {
    store
        .quality()
        .ok_or_else(|| StoreError::InvalidInput("this store keeps no quality data".into()))
}

/// The whole record as Graph serves it: the head's JSON with `sessions` (and their segments) and
/// `participants_v2` put back.
pub fn record_value(view: &RecordView) -> Result<Value, StoreError> {
    let bad = |e: serde_json::Error| StoreError::Backend(format!("stored JSON unreadable: {e}"));
    let mut v: Value = serde_json::from_str(&view.head.json).map_err(bad)?;
    let parse = |rows: Vec<&str>| -> Result<Vec<Value>, StoreError> {
        rows.into_iter()
            .map(|j| serde_json::from_str(j).map_err(bad))
            .collect()
    };
    if let Value::Object(o) = &mut v {
        let s = parse(view.sessions.iter().map(|s| s.json.as_str()).collect())?;
        let p = parse(view.participants.iter().map(|s| s.json.as_str()).collect())?;
        o.insert("sessions".into(), Value::Array(s));
        o.insert("participants_v2".into(), Value::Array(p));
    }
    Ok(v)
}

/// Read the served version of a record whole (`None` when absent).
pub async fn read_whole(
    store: &dyn Store,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<(RecordView, Value)>, StoreError> {
    let read = RecordRead {
        sessions: Some(Window::first(usize::MAX / 2)),
        with_segments: true,
        participants: Some(Window::first(usize::MAX / 2)),
        pin: None,
    };
    let Some(view) = store.read_record(scope, id, &read).await? else {
        return Ok(None);
    };
    let v = record_value(&view)?;
    Ok(Some((view, v)))
}

/// The whole record as JSON text: the head's text with `sessions` (segments spliced in) and
/// `participants_v2` appended as text (no `Value` in between); `None` when the head is not an object
/// text or already names one of them.
fn record_text(view: &RecordView) -> Option<String> {
    let head = view.head.json.trim_end();
    let body = head.strip_suffix('}')?.trim_end();
    if !body.starts_with('{') {
        return None;
    }
    let len = head.len()
        + view
            .sessions
            .iter()
            .map(|s| s.json.len() + 1)
            .sum::<usize>()
        + view
            .participants
            .iter()
            .map(|p| p.json.len() + 1)
            .sum::<usize>()
        + 48;
    let mut t = String::with_capacity(len);
    t.push_str(body);
    if body.len() > 1 {
        t.push(',');
    }
    let list = |t: &mut String, name: &str, rows: &mut dyn Iterator<Item = &str>| {
        t.push('"');
        t.push_str(name);
        t.push_str("\":[");
        for (i, r) in rows.enumerate() {
            if i > 0 {
                t.push(',');
            }
            t.push_str(r);
        }
        t.push(']');
    };
    list(
        &mut t,
        "sessions",
        &mut view.sessions.iter().map(|s| s.json.as_str()),
    );
    t.push(',');
    list(
        &mut t,
        "participants_v2",
        &mut view.participants.iter().map(|p| p.json.as_str()),
    );
    t.push('}');
    Some(t)
}

/// The rows of a record's served version read whole, buildings applied: the head with its sessions and
/// participants appended as text, parsed straight into the typed model; else (a head that does not parse
/// so, say one naming `sessions` itself) through [`record_value`].
pub fn rows_of_view(
    view: &RecordView,
    buildings: Option<&BuildingMap>,
) -> Result<RecordRows, StoreError> {
    if let Some(record) =
        record_text(view).and_then(|t| serde_json::from_str::<CallRecord>(&t).ok())
    {
        return Ok(rows_of_record(&record, view.head.version, buildings));
    }
    rows_of(view, record_value(view)?, buildings)
}

/// The served version of a record whole, without turning it into JSON values (`None` when absent).
pub async fn read_view(
    store: &dyn Store,
    scope: &ReadScope,
    id: &str,
) -> Result<Option<RecordView>, StoreError> {
    let read = RecordRead {
        sessions: Some(Window::first(usize::MAX / 2)),
        with_segments: true,
        participants: Some(Window::first(usize::MAX / 2)),
        pin: None,
    };
    store.read_record(scope, id, &read).await
}

/// The rows of a record's served version, buildings applied.
pub fn rows_of(
    view: &RecordView,
    value: Value,
    buildings: Option<&BuildingMap>,
) -> Result<RecordRows, StoreError> {
    let record: CallRecord = serde_json::from_value(value)
        .map_err(|e| StoreError::Backend(format!("stored record does not parse: {e}")))?;
    Ok(rows_of_record(&record, view.head.version, buildings))
}

/// What the store keeps for one record version (the same function the ingest derives with).
pub fn update_of(view: &RecordView, rows: &RecordRows) -> Result<QualityUpdate, StoreError> {
    callrecords_ingest::quality::quality_update(
        &view.head.tenant,
        &view.head.id,
        view.head.version,
        view.head.start_us,
        rows,
    )
    .map_err(|e| StoreError::Backend(format!("row not serializable: {e}")))
}

/// The building file in force (`None` when none was uploaded or it no longer parses).
pub fn buildings_of(text: Option<&str>) -> Option<BuildingMap> {
    text.and_then(|t| BuildingMap::parse(t).ok())
}

/// What the store keeps for the served changes of one batch (each record once). Records are read one
/// after the other; each one's rows are computed on the blocking pool while the next is read, so the
/// reading, the deriving (on every core) and the previous batch's write overlap. Updates keep feed order.
async fn derive_batch(
    store: &dyn Store,
    buildings: &Arc<Option<BuildingMap>>,
    changes: &[Change],
) -> Result<Vec<QualityUpdate>, StoreError> {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut pending = Vec::new();
    for c in changes.iter().filter(|c| c.kind.served()) {
        if !seen.insert((c.tenant.as_str(), c.record_id.as_str())) {
            continue;
        }
        let scope = ReadScope::Tenant(c.tenant.clone());
        let Some(view) = read_view(store, &scope, &c.record_id).await? else {
            continue;
        };
        let b = Arc::clone(buildings);
        pending.push(tokio::task::spawn_blocking(move || {
            update_of(&view, &rows_of_view(&view, b.as_ref().as_ref())?)
        }));
    }
    let mut updates = Vec::with_capacity(pending.len());
    for p in pending {
        updates.push(
            p.await
                .map_err(|e| StoreError::Backend(format!("quality derivation failed: {e}")))??,
        );
    }
    Ok(updates)
}

/// Drain the change feed into the quality tables; returns how many changes were read.
///
/// Batches are pipelined: while one batch's rows are written (on the store's writer thread), the next
/// batch is read and derived. The cursor still moves only with the rows of its batch, in feed order.
pub async fn catch_up(store: &dyn Store) -> Result<u64, StoreError> {
    let q = quality_of(store)?;
    let _guard = LOCK.lock().await;
    let mut read = 0u64;
    'epoch: loop {
        let meta = q.quality_meta().await?;
        let buildings = Arc::new(buildings_of(meta.buildings.as_deref()));
        let cursor = store.consumer_cursor(QUALITY_CONSUMER).await?;
        let mut changes = store.changes_after(cursor, BATCH).await?;
        let mut updates = derive_batch(store, &buildings, &changes).await?;
        loop {
            let Some(last) = changes.last().map(|c| c.cursor) else {
                return Ok(read);
            };
            read += changes.len() as u64;
            let write = q.replace_quality(meta.epoch, QUALITY_CONSUMER, last, updates);
            let next = async {
                let ch = store.changes_after(last, BATCH).await?;
                let up = derive_batch(store, &buildings, &ch).await?;
                Ok::<_, StoreError>((ch, up))
            };
            let (written, next) = tokio::join!(write, next);
            if !written? {
                continue 'epoch;
            }
            (changes, updates) = next?;
        }
    }
}

/// Throw every derived row away and derive again from the whole feed (`callrecords quality rebuild`).
pub async fn rebuild(store: &dyn Store) -> Result<u64, StoreError> {
    quality_of(store)?
        .reset_quality(QUALITY_CONSUMER, None)
        .await?;
    catch_up(store).await
}

/// Replace the building file (already validated) and derive again under it.
pub async fn put_buildings(store: &dyn Store, text: String) -> Result<u64, StoreError> {
    quality_of(store)?
        .reset_quality(QUALITY_CONSUMER, Some(text))
        .await?;
    catch_up(store).await
}

/// Run [`catch_up`] every `every` until the process ends (errors are logged and retried).
pub fn spawn(store: Arc<dyn Store>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if store.quality().is_some()
                && let Err(e) = catch_up(store.as_ref()).await
            {
                tracing::warn!("quality deriver: {e}");
            }
            tokio::time::sleep(every).await;
        }
    })
}
