//! Parsing and validation, the CPU-heavy part of ingest: [`check`] one item, or [`check_all`] of a batch on
//! the one pool of check workers (long-lived threads, `available_parallelism - 1` of them, the calling thread
//! being the last worker), results in input order.

use std::sync::Arc;

use callrecords_model::reader::{Location, Prepared, RawItem, RecordKind, prepare};
use callrecords_model::validate::{Issue, Severity};
use callrecords_store::quality::QualityUpdate;

use crate::quality::Deriving;

/// What the check workers derive under, shared by them all.
pub(crate) type Derive = Option<Arc<Deriving>>;

/// One item after the reader and validation, before the store.
#[derive(Debug)]
pub(crate) struct Checked {
    /// Where it came from.
    pub(crate) location: Location,
    /// Its kind.
    pub(crate) kind: RecordKind,
    /// Ready to store, or why not.
    pub(crate) result: Result<Prepared, Vec<Issue>>,
    /// Whether the item was at least syntactically JSON (for telling a hopeless body from a partly bad one).
    pub(crate) parsed: bool,
    /// Its call-quality rows, for a valid call record when deriving (see [`crate::quality`]).
    pub(crate) quality: Option<QualityUpdate>,
}

/// Parses and validates one raw item, and derives its quality rows when `derive` says so (CPU-bound: call
/// it off the async runtime).
pub(crate) fn check(item: RawItem, derive: Option<&Deriving>) -> Checked {
    match item.text {
        Err(message) => Checked {
            location: item.location,
            kind: item.kind,
            result: Err(vec![Issue {
                path: String::new(),
                message,
                severity: Severity::Error,
            }]),
            parsed: false,
            quality: None,
        },
        Ok(text) => {
            let result = prepare(item.kind, text);
            let parsed = !matches!(&result, Err(r) if r.malformed);
            let quality = match (&result, derive, item.kind) {
                (Ok(p), Some(d), RecordKind::CallRecord) => crate::quality::derive(p, d),
                _ => None,
            };
            Checked {
                location: item.location,
                kind: item.kind,
                result: result.map_err(|r| r.issues),
                parsed,
                quality,
            }
        }
    }
}

/// Items below which [`check_all`] stays on the calling thread.
const PARALLEL_MIN: usize = 32;

/// [`check`]s every item, in parallel chunks on up to `available_parallelism` scoped threads (parsing and
/// validation are the CPU-heavy part of ingest); the results keep the input order.
pub(crate) fn check_all(items: Vec<RawItem>, derive: &Derive) -> Vec<Checked> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    check_all_with(items, workers, derive)
}

/// [`check_all`] with an explicit number of worker threads.
pub(crate) fn check_all_with(items: Vec<RawItem>, workers: usize, derive: &Derive) -> Vec<Checked> {
    let workers = workers.clamp(1, 16);
    let one = |item| check(item, derive.as_deref());
    if workers == 1 || items.len() < PARALLEL_MIN {
        return items.into_iter().map(one).collect();
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
            let derive = derive.clone();
            submit(Box::new(move || {
                let _ = tx.send(
                    chunk
                        .into_iter()
                        .map(|item| check(item, derive.as_deref()))
                        .collect::<Vec<_>>(),
                );
            }));
            rx
        })
        .collect();
    let tail: Vec<Checked> = last.into_iter().map(one).collect();
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
            let checked = check_all_with(again, workers, &None);
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
