//! The ingest pipeline shared by `POST /ingest/...` and `callrecords import`: raw items from the reader →
//! parsed and validated → stored in batches → one outcome per item, and the tally.

use std::collections::BTreeMap;

use callrecords_model::reader::{Location, RawItem, RecordKind, prepare};
use callrecords_model::validate::Issue;
use callrecords_store::{IncomingLogRow, IncomingRecord, LogOutcome, Store, StoreError};
use serde::Serialize;

/// One item after the reader and validation, before the store.
#[derive(Debug)]
pub struct Checked {
    /// Where it came from.
    pub location: Location,
    /// Its kind.
    pub kind: RecordKind,
    /// Ready to store, or why not.
    pub result: Result<callrecords_model::reader::Prepared, Vec<Issue>>,
    /// Whether the item was at least syntactically JSON (for telling a hopeless body from a partly bad one).
    pub parsed: bool,
}

/// Parses and validates one raw item (CPU-bound: call it off the async runtime).
pub fn check(item: RawItem) -> Checked {
    match item.text {
        Err(message) => Checked {
            location: item.location,
            kind: item.kind,
            result: Err(vec![Issue {
                path: String::new(),
                message,
                severity: callrecords_model::validate::Severity::Error,
            }]),
            parsed: false,
        },
        Ok(text) => {
            let result = prepare(item.kind, text);
            let parsed = !matches!(&result, Err(e) if e.first().is_some_and(|i| i.message.starts_with("malformed JSON")));
            Checked {
                location: item.location,
                kind: item.kind,
                result,
                parsed,
            }
        }
    }
}

/// What happened to one item.
#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    /// `file:line[index]`.
    pub location: String,
    /// 1-based line (NDJSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 0-based index inside a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The record's id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The record's version (call records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `stored`, `duplicate`, `conflict`, `stale`, `partial` or `invalid`.
    pub outcome: &'static str,
    /// Why it is invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Warnings (kept anyway).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Counts per outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Items seen.
    pub received: u64,
    /// Per outcome.
    #[serde(flatten)]
    pub outcomes: BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Adds results.
    pub fn add(&mut self, results: &[ItemResult]) {
        for r in results {
            self.received += 1;
            *self.outcomes.entry(r.outcome).or_default() += 1;
        }
    }
    /// Items with that outcome.
    pub fn get(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }
}

fn base_result(location: &Location, outcome: &'static str) -> ItemResult {
    ItemResult {
        location: location.to_string(),
        line: location.line,
        index: location.index,
        id: None,
        version: None,
        outcome,
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Stores a batch of checked items of one kind (one transaction per kind) and returns one result per item,
/// in order. `period` (µs) is the period dial-out report rows cover.
pub async fn store_batch(
    store: &dyn Store,
    items: Vec<Checked>,
    period: Option<(i64, i64)>,
) -> Result<Vec<ItemResult>, StoreError> {
    let mut results: Vec<Option<ItemResult>> = Vec::with_capacity(items.len());
    let mut records: Vec<(usize, IncomingRecord)> = Vec::new();
    let mut rows: BTreeMap<callrecords_model::LogKind, Vec<(usize, IncomingLogRow)>> =
        BTreeMap::new();
    for (i, item) in items.into_iter().enumerate() {
        match item.result {
            Err(errors) => {
                let mut r = base_result(&item.location, "invalid");
                r.errors = errors.iter().map(ToString::to_string).collect();
                results.push(Some(r));
            }
            Ok(p) => {
                let mut r = base_result(&item.location, "stored");
                r.id = p
                    .value
                    .get("id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                r.warnings = p.warnings.iter().map(ToString::to_string).collect();
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
                results.push(Some(r));
            }
        }
    }
    if !records.is_empty() {
        let (idx, batch): (Vec<usize>, Vec<IncomingRecord>) = records.into_iter().unzip();
        let outcomes = store.put_records(batch).await?;
        for (i, o) in idx.into_iter().zip(outcomes) {
            if let Some(r) = results[i].as_mut() {
                r.outcome = o.as_str();
            }
        }
    }
    for (kind, list) in rows {
        if kind == callrecords_model::LogKind::PstnOnlineMeetingDialout && period.is_none() {
            for (i, _) in list {
                if let Some(r) = results[i].as_mut() {
                    r.outcome = "invalid";
                    r.errors.push("dial-out report rows carry no date: give the period they cover (--from/--to, or ?from=&to=)".into());
                }
            }
            continue;
        }
        let (idx, batch): (Vec<usize>, Vec<IncomingLogRow>) = list.into_iter().unzip();
        let outcomes = store.put_log_rows(kind, batch, period).await?;
        for (i, o) in idx.into_iter().zip(outcomes) {
            if let Some(r) = results[i].as_mut() {
                r.outcome = match o {
                    LogOutcome::Stored => "stored",
                    LogOutcome::Duplicate => "duplicate",
                };
            }
        }
    }
    Ok(results.into_iter().flatten().collect())
}
