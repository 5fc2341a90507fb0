//! Call-quality rows derived where the records are parsed anyway: the check workers compute each
//! record's CQD rows and contributions ([`callrecords_quality`]) from the value they just parsed, and the
//! store writes them in the import's own transaction when the quality deriver is caught up
//! ([`callrecords_store::Store::put_records_deriving`]). In every other case the deriver, which follows
//! the change feed, derives them from the stored record with the same functions ([`quality_update`]).

use callrecords_model::CallRecord;
use callrecords_model::reader::Prepared;
use callrecords_quality::{
    BuildingMap, GroupKey, RecordRows, grouped_contributions, record_contribution, record_rows,
};
use callrecords_store::quality::{OVERALL, QualityContribution, QualityStream, QualityUpdate};
use serde::Deserialize;

/// What the check workers derive under: the quality epoch and its building file.
#[derive(Debug)]
pub(crate) struct Deriving {
    pub(crate) epoch: i64,
    pub(crate) buildings: Option<BuildingMap>,
}

fn json_str(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A typed record's rows at `version`, the building file (when any) applied.
pub fn rows_of_record(
    record: &CallRecord,
    version: i64,
    buildings: Option<&BuildingMap>,
) -> RecordRows {
    let mut rows = record_rows(record, version);
    if let Some(b) = buildings {
        b.apply_rows(&mut rows);
    }
    rows
}

/// What the store keeps for one record version: its stream and session rows as JSON with the columns
/// reads filter on, and its contributions overall and under every [`GroupKey`].
pub fn quality_update(
    tenant: &str,
    record_id: &str,
    version: i64,
    start_us: Option<i64>,
    rows: &RecordRows,
) -> Result<QualityUpdate, serde_json::Error> {
    let mut streams = Vec::with_capacity(rows.streams.len());
    for r in &rows.streams {
        let e = &r.endpoint;
        streams.push(QualityStream {
            kind: r.kind.name().to_owned(),
            class: json_str(r.classification.class()),
            subnet: e.subnet.clone().or_else(|| e.ip_address.clone()),
            has_building: e.building.is_some(),
            json: serde_json::to_string(r)?,
        });
    }
    let sessions = rows
        .sessions
        .iter()
        .map(serde_json::to_string)
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
        tenant: tenant.to_owned(),
        record_id: record_id.to_owned(),
        version,
        start_us,
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

/// The update of a checked record (`None` when it does not parse into the typed model: the deriver
/// then meets it in the feed). Tenant and start are left for the store to fill in.
pub(crate) fn derive(p: &Prepared, d: &Deriving) -> Option<QualityUpdate> {
    let id = p.value.get("id")?.as_str()?;
    let version = p.value.get("version")?.as_i64()?;
    let record = CallRecord::deserialize(&p.value).ok()?;
    let rows = rows_of_record(&record, version, d.buildings.as_ref());
    quality_update("", id, version, None, &rows).ok()
}
