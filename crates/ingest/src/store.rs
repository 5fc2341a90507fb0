//! Storing one batch of checked items: one transaction per kind, one [`ItemResult`] per item in input order.

use std::collections::BTreeMap;

use callrecords_model::LogKind;
use callrecords_model::reader::{Location, RecordKind};
use callrecords_model::validate::{Issue, Severity};
use callrecords_store::quality::{InlineQuality, QualityUpdate};
use callrecords_store::{IncomingLogRow, IncomingRecord, Store, StoreError};

use crate::check::Checked;
use crate::outcome::{ItemOutcome, ItemResult};

/// Why a dial-out report row without a period is refused.
const NO_PERIOD: &str =
    "dial-out report rows carry no date: give the period they cover (--from/--to, or ?from=&to=)";

fn result(location: Location, outcome: ItemOutcome) -> ItemResult {
    ItemResult {
        location,
        id: None,
        version: None,
        outcome,
        warnings: Vec::new(),
    }
}

/// Stores a batch of checked items (one transaction per kind) and returns one result per item, in order.
/// Everything is stored as `tenant`'s. `period` (µs) is the period dial-out report rows cover. A batch with nothing valid in it touches no store.
/// With `epoch` (deriving under that quality epoch), the records go with their derived quality rows.
pub(crate) async fn store_batch(
    store: &dyn Store,
    tenant: &str,
    items: Vec<Checked>,
    period: Option<(i64, i64)>,
    epoch: Option<i64>,
) -> Result<Vec<ItemResult>, StoreError> {
    let mut results: Vec<ItemResult> = Vec::with_capacity(items.len());
    let mut records: Vec<(usize, IncomingRecord)> = Vec::new();
    let mut derived: Vec<Option<QualityUpdate>> = Vec::new();
    let mut rows: BTreeMap<LogKind, Vec<(usize, IncomingLogRow)>> = BTreeMap::new();
    for (i, item) in items.into_iter().enumerate() {
        match item.result {
            Err(issues) => results.push(result(
                item.location,
                ItemOutcome::Invalid {
                    issues,
                    malformed: !item.parsed,
                },
            )),
            Ok(p) => {
                // `Stored` until the store says otherwise below.
                let mut r = result(item.location, ItemOutcome::Stored);
                r.id = p
                    .value
                    .get("id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                r.warnings = p.warnings;
                match item.kind {
                    RecordKind::CallRecord => {
                        r.version = p.value.get("version").and_then(serde_json::Value::as_i64);
                        records.push((
                            i,
                            IncomingRecord {
                                raw: p.raw,
                                value: p.value,
                                partial: p.partial,
                            },
                        ));
                        derived.push(item.quality);
                    }
                    RecordKind::Log(kind) => {
                        rows.entry(kind).or_default().push((
                            i,
                            IncomingLogRow {
                                raw: p.raw,
                                value: p.value,
                            },
                        ));
                    }
                }
                results.push(r);
            }
        }
    }
    if !records.is_empty() {
        let (idx, batch): (Vec<usize>, Vec<IncomingRecord>) = records.into_iter().unzip();
        let outcomes = match epoch {
            Some(epoch) => {
                let quality = InlineQuality {
                    epoch,
                    updates: derived,
                };
                store.put_records_deriving(tenant, batch, quality).await?.0
            }
            None => store.put_records(tenant, batch).await?,
        };
        assign(&mut results, idx, outcomes)?;
    }
    for (kind, list) in rows {
        if kind == LogKind::PstnOnlineMeetingDialout && period.is_none() {
            for (i, _) in list {
                results[i].outcome = ItemOutcome::Invalid {
                    issues: vec![Issue {
                        path: String::new(),
                        message: NO_PERIOD.into(),
                        severity: Severity::Error,
                    }],
                    malformed: false,
                };
            }
            continue;
        }
        let (idx, batch): (Vec<usize>, Vec<IncomingLogRow>) = list.into_iter().unzip();
        let outcomes = store.put_log_rows(tenant, kind, batch, period).await?;
        assign(&mut results, idx, outcomes)?;
    }
    Ok(results)
}

/// Puts the store's outcomes (one per item given, in order) into the results at `idx`.
fn assign<O: Into<ItemOutcome>>(
    results: &mut [ItemResult],
    idx: Vec<usize>,
    outcomes: Vec<O>,
) -> Result<(), StoreError> {
    if outcomes.len() != idx.len() {
        // Never report `stored` for an item the store said nothing about.
        return Err(StoreError::Backend(format!(
            "the store answered {} outcomes for {} items",
            outcomes.len(),
            idx.len()
        )));
    }
    for (i, o) in idx.into_iter().zip(outcomes) {
        results[i].outcome = o.into();
    }
    Ok(())
}
