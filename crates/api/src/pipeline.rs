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
            let parsed = !matches!(&result, Err(r) if r.malformed);
            Checked {
                location: item.location,
                kind: item.kind,
                result: result.map_err(|r| r.issues),
                parsed,
            }
        }
    }
}

/// Items below which [`check_all`] stays on the calling thread.
const PARALLEL_MIN: usize = 32;

/// [`check`]s every item, in parallel chunks on up to `available_parallelism` scoped threads (parsing and
/// validation are the CPU-heavy part of ingest); the results keep the input order.
pub fn check_all(items: Vec<RawItem>) -> Vec<Checked> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    check_all_with(items, workers)
}

/// [`check_all`] with an explicit number of worker threads.
pub fn check_all_with(items: Vec<RawItem>, workers: usize) -> Vec<Checked> {
    let workers = workers.clamp(1, 16);
    if workers == 1 || items.len() < PARALLEL_MIN {
        return items.into_iter().map(check).collect();
    }
    // Contiguous chunks of about equal size (in bytes, records vary a lot), checked concurrently.
    let total: usize = items.iter().map(item_len).sum();
    let share = total.div_ceil(workers).max(1);
    let mut chunks: Vec<Vec<RawItem>> = Vec::with_capacity(workers);
    let mut current = Vec::new();
    let mut bytes = 0;
    for item in items {
        bytes += item_len(&item);
        current.push(item);
        if bytes >= share && chunks.len() + 1 < workers {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
    }
    chunks.push(current);
    // All chunks but the last go to the long-lived workers, the last is checked here; results in order.
    // (Long-lived threads: fresh threads per batch made the allocator fault in new pages every time.)
    let last = chunks.pop().unwrap_or_default();
    let pending: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            submit(Box::new(move || {
                let _ = tx.send(chunk.into_iter().map(check).collect::<Vec<_>>());
            }));
            rx
        })
        .collect();
    let tail: Vec<Checked> = last.into_iter().map(check).collect();
    let mut out = Vec::with_capacity(tail.len() * (pending.len() + 1));
    for rx in pending {
        // A worker only drops the sender without sending if `check` panicked.
        out.extend(rx.recv().expect("an ingest check worker panicked"));
    }
    out.extend(tail);
    out
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the shared pool of check workers (`available_parallelism - 1` threads, started on first use).
fn submit(job: Job) {
    static POOL: std::sync::OnceLock<std::sync::mpsc::Sender<Job>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(2, 16)
            - 1;
        for i in 0..n {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("ingest-check-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panic drops the job's result sender; the caller reports it.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                });
        }
        tx
    });
    // No worker could be started: run it here.
    if let Err(std::sync::mpsc::SendError(job)) = pool.send(job) {
        job();
    }
}

fn item_len(item: &RawItem) -> usize {
    item.text.as_ref().map_or(1, String::len) + 64
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

#[cfg(test)]
mod tests {
    use super::*;
    use callrecords_model::reader::read_items;

    #[test]
    fn parallel_check_keeps_input_order_and_lines() {
        let mut text = String::new();
        for i in 0..500 {
            if i % 7 == 3 {
                text.push_str("{\"id\": broken\n");
            } else {
                text.push_str(&format!("{{\"id\":\"r{i}\",\"version\":{i}}}\n"));
            }
        }
        let mut items = Vec::new();
        read_items("t", text.as_bytes(), RecordKind::CallRecord, &mut |it| {
            items.push(it)
        })
        .unwrap();
        for workers in [1, 2, 3, 8] {
            let mut again = Vec::new();
            read_items("t", text.as_bytes(), RecordKind::CallRecord, &mut |it| {
                again.push(it)
            })
            .unwrap();
            let checked = check_all_with(again, workers);
            assert_eq!(checked.len(), 500);
            for (i, c) in checked.iter().enumerate() {
                assert_eq!(c.location.line, Some(i as u64 + 1));
                match &c.result {
                    Ok(p) => assert_eq!(p.value["id"], format!("r{i}")),
                    Err(_) => assert_eq!(i % 7, 3),
                }
            }
        }
        assert_eq!(items.len(), 500);
    }
}
