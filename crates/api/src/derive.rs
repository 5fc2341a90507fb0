//! The quality deriver: drains the change feed (consumer [`QUALITY_CONSUMER`]) into the store's derived
//! quality tables. For each served change it rebuilds the typed record from [`Store::read_record`] (all
//! sessions with segments, all participants), computes its CQD rows ([`callrecords_quality::record_rows`],
//! the building file applied) and contributions (overall and for every [`GroupKey`]), and hands them to
//! [`QualityStore::replace_quality`] together with the cursor: the cursor only moves with the rows.
//!
//! Run by `serve` in the background ([`spawn`]) and before every analytics answer ([`catch_up`]), so
//! answers always include every record stored before the request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use callrecords_model::CallRecord;
use callrecords_quality::{
    BuildingMap, GroupKey, RecordRows, grouped_contributions, record_contribution,
};
use callrecords_store::quality::{
    OVERALL, QUALITY_CONSUMER, QualityContribution, QualityStore, QualityStream, QualityUpdate,
};
use callrecords_store::{ReadScope, RecordRead, RecordView, Store, StoreError, Window};
use serde_json::Value;

/// Changes read per transaction.
const BATCH: usize = 256;

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

/// The rows of a record's served version, buildings applied.
pub fn rows_of(
    view: &RecordView,
    value: Value,
    buildings: Option<&BuildingMap>,
) -> Result<RecordRows, StoreError> {
    let record: CallRecord = serde_json::from_value(value)
        .map_err(|e| StoreError::Backend(format!("stored record does not parse: {e}")))?;
    let mut rows = callrecords_quality::record_rows(&record, view.head.version);
    if let Some(b) = buildings {
        b.apply_rows(&mut rows);
    }
    Ok(rows)
}

fn json_str(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What the store keeps for one record version.
pub fn update_of(view: &RecordView, rows: &RecordRows) -> Result<QualityUpdate, StoreError> {
    let ser = |e: serde_json::Error| StoreError::Backend(format!("row not serializable: {e}"));
    let mut streams = Vec::with_capacity(rows.streams.len());
    for r in &rows.streams {
        let e = &r.endpoint;
        streams.push(QualityStream {
            kind: r.kind.name().to_owned(),
            class: json_str(r.classification.class()),
            subnet: e.subnet.clone().or_else(|| e.ip_address.clone()),
            has_building: e.building.is_some(),
            json: serde_json::to_string(r).map_err(ser)?,
        });
    }
    let sessions = rows
        .sessions
        .iter()
        .map(|s| serde_json::to_string(s).map_err(ser))
        .collect::<Result<_, _>>()?;
    let mut contributions = vec![QualityContribution {
        key: OVERALL.into(),
        value: None,
        counts: record_contribution(rows).to_array().to_vec(),
    }];
    for key in GroupKey::ALL {
        for (value, c) in grouped_contributions(rows, key, None) {
            contributions.push(QualityContribution {
                key: key.name().into(),
                value,
                counts: c.to_array().to_vec(),
            });
        }
    }
    Ok(QualityUpdate {
        tenant: view.head.tenant.clone(),
        record_id: view.head.id.clone(),
        version: view.head.version,
        start_us: view.head.start_us,
        streams,
        sessions,
        failed_sessions: rows
            .sessions
            .iter()
            .filter(|s| s.failure_stage.is_some())
            .count() as u64,
        contributions,
    })
}

/// The building file in force (`None` when none was uploaded or it no longer parses).
pub fn buildings_of(text: Option<&str>) -> Option<BuildingMap> {
    text.and_then(|t| BuildingMap::parse(t).ok())
}

/// Drain the change feed into the quality tables; returns how many changes were read.
pub async fn catch_up(store: &dyn Store) -> Result<u64, StoreError> {
    let q = quality_of(store)?;
    let _guard = LOCK.lock().await;
    let mut read = 0u64;
    'epoch: loop {
        let meta = q.quality_meta().await?;
        let buildings = buildings_of(meta.buildings.as_deref());
        let mut cursor = store.consumer_cursor(QUALITY_CONSUMER).await?;
        loop {
            let changes = store.changes_after(cursor, BATCH).await?;
            let Some(last) = changes.last().map(|c| c.cursor) else {
                return Ok(read);
            };
            read += changes.len() as u64;
            let mut latest: HashMap<(String, String), ()> = HashMap::new();
            let mut updates = Vec::new();
            for c in changes.iter().filter(|c| c.kind.served()) {
                if latest
                    .insert((c.tenant.clone(), c.record_id.clone()), ())
                    .is_some()
                {
                    continue;
                }
                let scope = ReadScope::Tenant(c.tenant.clone());
                let Some((view, value)) = read_whole(store, &scope, &c.record_id).await? else {
                    continue;
                };
                let rows = rows_of(&view, value, buildings.as_ref())?;
                updates.push(update_of(&view, &rows)?);
            }
            if !q
                .replace_quality(meta.epoch, QUALITY_CONSUMER, last, updates)
                .await?
            {
                continue 'epoch;
            }
            cursor = last;
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
