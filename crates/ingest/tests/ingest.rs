//! The pipeline end to end over the SQLite store: outcomes in input order across batches and check workers,
//! batches cut by count and by bytes, dial-out periods, and a source that fails.

use std::path::Path;
use std::sync::Arc;

use callrecords_ingest::{
    Batch, BatchLimits, IngestError, IngestOptions, Ingestor, ItemOutcome, OutcomeKind,
};
use callrecords_model::LogKind;
use callrecords_model::reader::{Input, RawItem, RecordKind, read_items};
use callrecords_store::{ReadScope, RecordRead, Store};
use callrecords_store_sqlite::SqliteStore;

fn new_store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (dir, Arc::new(store))
}

fn items(text: &str, kind: RecordKind) -> Vec<RawItem> {
    let mut out = Vec::new();
    read_items("t", text.as_bytes(), kind, &mut |it| out.push(it)).unwrap();
    out
}

/// 500 NDJSON lines: broken JSON on lines where `i % 7 == 3`, JSON that fails validation where `i % 11 == 5`,
/// otherwise a fresh record `r{i}`.
fn mixed() -> String {
    let mut text = String::new();
    for i in 0..500 {
        if i % 7 == 3 {
            text.push_str("{\"id\": broken\n");
        } else if i % 11 == 5 {
            text.push_str(&format!(
                "{{\"id\":\"r{i}\",\"version\":1,\"sessions\":[{{\"modalities\":\"audio\"}}]}}\n"
            ));
        } else {
            text.push_str(&format!("{{\"id\":\"r{i}\",\"version\":{i}}}\n"));
        }
    }
    text
}

fn expected(i: usize, again: bool) -> OutcomeKind {
    if i % 7 == 3 || i % 11 == 5 {
        OutcomeKind::Invalid
    } else if again {
        OutcomeKind::Duplicate
    } else {
        OutcomeKind::Stored
    }
}

fn opts(limits: BatchLimits) -> IngestOptions {
    IngestOptions {
        limits,
        ..IngestOptions::new(RecordKind::CallRecord)
    }
}

#[tokio::test]
async fn outcomes_keep_input_order_across_batches_and_workers() {
    let text = mixed();
    for limits in [
        BatchLimits::default(),
        BatchLimits {
            max_records: 7,
            ..BatchLimits::default()
        },
        BatchLimits {
            max_records: 1000,
            max_bytes: 300,
        },
    ] {
        let (_dir, store) = new_store();
        let ingestor = Ingestor::new(store, opts(limits));
        for again in [false, true] {
            let mut batches: Vec<Batch> = Vec::new();
            let tally = ingestor
                .ingest_each(items(&text, RecordKind::CallRecord), |b| batches.push(b))
                .await
                .unwrap();
            assert_eq!(tally.received(), 500);
            let mut last_bytes = 0;
            let mut running = 0;
            for b in &batches {
                assert!(!b.results.is_empty());
                assert!(b.results.len() <= limits.max_records, "{limits:?}");
                assert!(b.bytes_read >= last_bytes);
                last_bytes = b.bytes_read;
                running += b.results.len() as u64;
                assert_eq!(b.tally.received(), running);
            }
            assert_eq!(last_bytes, text.len() as u64);
            let results: Vec<_> = batches.into_iter().flat_map(|b| b.results).collect();
            assert_eq!(results.len(), 500);
            for (i, r) in results.iter().enumerate() {
                assert_eq!(r.location.line, Some(i as u64 + 1), "{limits:?}");
                assert_eq!(r.outcome.kind(), expected(i, again), "line {}", i + 1);
                assert_eq!(r.outcome.is_malformed(), i % 7 == 3);
                // Only what validated carries its id.
                if r.outcome.is_invalid() {
                    assert_eq!(r.id, None);
                } else {
                    assert_eq!(r.id.as_deref(), Some(format!("r{i}").as_str()));
                    assert_eq!(r.version, Some(i as i64));
                }
                if i % 11 == 5 && i % 7 != 3 {
                    assert_eq!(
                        r.outcome.issues()[0].to_string(),
                        "sessions[0].modalities: expected an array, got \"audio\""
                    );
                }
            }
            let invalid = (0..500).filter(|i| i % 7 == 3 || i % 11 == 5).count() as u64;
            assert_eq!(tally.get(OutcomeKind::Invalid), invalid);
            let good = if again {
                OutcomeKind::Duplicate
            } else {
                OutcomeKind::Stored
            };
            assert_eq!(tally.get(good), 500 - invalid);
        }
    }
}

#[tokio::test]
async fn batches_are_cut_by_count_and_by_bytes() {
    let line = "{\"id\":\"x\",\"version\":1}"; // 23 bytes
    let text: String = (0..20).map(|_| format!("{line}\n")).collect();
    let sizes = |limits: BatchLimits| {
        let text = text.clone();
        async move {
            let (_dir, store) = new_store();
            let mut sizes = Vec::new();
            Ingestor::new(store, opts(limits))
                .ingest_each(items(&text, RecordKind::CallRecord), |b| {
                    sizes.push(b.results.len())
                })
                .await
                .unwrap();
            sizes
        }
    };
    let by_count = BatchLimits {
        max_records: 6,
        ..BatchLimits::default()
    };
    assert_eq!(sizes(by_count).await, [6, 6, 6, 2]);
    let by_bytes = BatchLimits {
        max_records: 1000,
        max_bytes: 4 * line.len(),
    };
    assert_eq!(sizes(by_bytes).await, [4, 4, 4, 4, 4]);
}

#[tokio::test]
async fn ingest_collects_every_result_and_the_tally() {
    let (_dir, store) = new_store();
    let ingestor = Ingestor::new(store, IngestOptions::new(RecordKind::CallRecord));
    let body = concat!(
        "{\"id\":\"a\",\"version\":1,\"startDateTime\":\"2026-01-05T10:00:00Z\"}\n",
        "{\"id\":\"a\",\"version\":1,\"startDateTime\":\"2026-01-05T10:00:00Z\"}\n",
        "{\"id\":\"a\",\"version\":2,\"startDateTime\":\"2026-01-05T10:00:00Z\"}\n",
        "{\"id\":\"a\",\"version\":1,\"startDateTime\":\"2026-01-05T11:00:00Z\"}\n",
    );
    let done = ingestor
        .ingest(items(body, RecordKind::CallRecord))
        .await
        .unwrap();
    let outcomes: Vec<_> = done.results.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [
            ItemOutcome::Stored,
            ItemOutcome::Duplicate,
            ItemOutcome::Stored,
            ItemOutcome::Stale
        ]
    );
    assert_eq!(done.results[2].version, Some(2));
    assert_eq!(
        done.tally.iter().collect::<Vec<_>>(),
        [
            (OutcomeKind::Duplicate, 1),
            (OutcomeKind::Stale, 1),
            (OutcomeKind::Stored, 2)
        ]
    );
    let empty = ingestor.ingest(Vec::new()).await.unwrap();
    assert!(empty.results.is_empty());
    assert_eq!(empty.tally.received(), 0);
}

/// Microsoft's dial-out report example, carried in the repository (`tests/fixtures/graph`, see its NOTICE).
fn dialout_page() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/graph/examples");
    std::fs::read_to_string(
        dir.join("beta__callrecords-callrecord-getpstnonlinemeetingdialoutreport__response-1.json"),
    )
    .unwrap()
}

#[tokio::test]
async fn dialout_rows_need_their_period() {
    let (_dir, store) = new_store();
    let page = dialout_page();
    let kind = RecordKind::Log(LogKind::PstnOnlineMeetingDialout);
    let without = Ingestor::new(store.clone(), IngestOptions::new(kind))
        .ingest(items(&page, kind))
        .await
        .unwrap();
    assert!(!without.results.is_empty());
    for r in &without.results {
        assert!(r.outcome.is_invalid() && !r.outcome.is_malformed());
        assert_eq!(
            r.outcome.issues()[0].to_string(),
            "dial-out report rows carry no date: give the period they cover (--from/--to, or ?from=&to=)"
        );
    }
    let period = Some((1_667_260_800_000_000, 1_669_852_800_000_000));
    let with = Ingestor::new(
        store,
        IngestOptions {
            period,
            ..IngestOptions::new(kind)
        },
    )
    .ingest(items(&page, kind))
    .await
    .unwrap();
    assert_eq!(
        with.tally.get(OutcomeKind::Stored),
        without.results.len() as u64
    );
}

#[tokio::test]
async fn a_failing_source_keeps_the_batches_before_it() {
    let (_dir, store) = new_store();
    let limits = BatchLimits {
        max_records: 3,
        ..BatchLimits::default()
    };
    let text: String = (0..10)
        .map(|i| format!("{{\"id\":\"f{i}\",\"version\":1}}\n"))
        .collect();
    let raw = items(&text, RecordKind::CallRecord);
    let mut seen = 0;
    let err = Ingestor::new(store.clone(), opts(limits))
        .ingest_from(
            move |sink| {
                for item in raw {
                    sink.push(item);
                }
                Err(std::io::Error::other("disk on fire"))
            },
            |b| seen += b.results.len(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, IngestError::Read(_)), "{err:?}");
    assert_eq!(err.to_string(), "disk on fire");
    // Three full batches were stored and reported; the tenth record, in the batch being cut, was not.
    assert_eq!(seen, 9);
    let get = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .read_record(&ReadScope::All, id, &RecordRead::default())
                .await
                .unwrap()
        }
    };
    assert!(get("f8").await.is_some());
    assert!(get("f9").await.is_none());
}

#[tokio::test]
async fn inputs_are_read_in_order_with_progress_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    std::fs::write(
        &a,
        "{\"id\":\"a1\",\"version\":1}\n{\"id\":\"a2\",\"version\":1}\n",
    )
    .unwrap();
    std::fs::write(&b, "{\"id\":\"b1\",\"version\":1}\nnot json\n").unwrap();
    let total = std::fs::metadata(&a).unwrap().len() + std::fs::metadata(&b).unwrap().len();
    let (_store_dir, store) = new_store();
    let limits = BatchLimits {
        max_records: 1,
        ..BatchLimits::default()
    };
    let mut seen = Vec::new();
    let tally = Ingestor::new(store, opts(limits))
        .ingest_inputs(
            vec![Input::File(a.clone()), Input::File(b.clone())],
            |batch| {
                for r in &batch.results {
                    seen.push((r.location.to_string(), r.outcome.kind(), batch.bytes_read));
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(tally.received(), 4);
    assert_eq!(tally.get(OutcomeKind::Invalid), 1);
    let names: Vec<_> = seen.iter().map(|s| s.0.clone()).collect();
    assert_eq!(
        names,
        [
            format!("{}:1", a.display()),
            format!("{}:2", a.display()),
            format!("{}:1", b.display()),
            format!("{}:2", b.display())
        ]
    );
    assert!(seen.windows(2).all(|w| w[0].2 <= w[1].2));
    assert_eq!(seen[3].2, total);
    assert_eq!(seen[3].1, OutcomeKind::Invalid);
    // A missing input ends the ingest with a read error naming it.
    let (_store_dir, store) = new_store();
    let err = Ingestor::new(store, opts(limits))
        .ingest_inputs(vec![Input::File(dir.path().join("gone.ndjson"))], |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("gone.ndjson"), "{err}");
}

/// With quality derivation on (the default) and the deriver caught up, a batch's records arrive with their
/// quality rows: the cursor is at the feed head and the overall counters are the sum of the records' own
/// contributions (computed here from the typed model); with it off, the records only.
#[tokio::test]
async fn records_carry_their_quality_rows_when_the_deriver_is_caught_up() {
    use callrecords_store::quality::{OVERALL, QUALITY_CONSUMER, QualityWindow};
    let cfg = callrecords_synth::GenConfig {
        seed: 3,
        scale: callrecords_synth::Scale::Small,
        ..Default::default()
    };
    let records: Vec<serde_json::Value> = callrecords_synth::call_records(&cfg).take(120).collect();
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let mut want = callrecords_quality::Counts::default();
    let mut latest = std::collections::HashMap::new();
    for r in &records {
        let id = r["id"].as_str().unwrap().to_owned();
        let newer = latest
            .get(&id)
            .is_none_or(|o: &serde_json::Value| o["version"].as_i64() < r["version"].as_i64());
        if newer {
            latest.insert(id, r.clone());
        }
    }
    for r in latest.values() {
        let typed: callrecords_model::CallRecord = serde_json::from_value(r.clone()).unwrap();
        let rows = callrecords_quality::record_rows(&typed, r["version"].as_i64().unwrap());
        want += &callrecords_quality::record_contribution(&rows);
    }
    for derive in [true, false] {
        let (_dir, store) = new_store();
        let opts = IngestOptions {
            derive_quality: derive,
            ..opts(BatchLimits {
                max_records: 25,
                ..BatchLimits::default()
            })
        };
        let done = Ingestor::new(store.clone(), opts)
            .ingest(items(&text, RecordKind::CallRecord))
            .await
            .unwrap();
        assert_eq!(done.tally.get(OutcomeKind::Invalid), 0);
        let head = store
            .changes_after(0, 10_000)
            .await
            .unwrap()
            .last()
            .unwrap()
            .cursor;
        let cursor = store.consumer_cursor(QUALITY_CONSUMER).await.unwrap();
        let totals = store
            .quality()
            .unwrap()
            .quality_totals(&ReadScope::All, QualityWindow::default(), OVERALL)
            .await
            .unwrap();
        if derive {
            assert_eq!(cursor, head);
            assert_eq!(totals.len(), 1);
            assert_eq!(totals[0].1, want.to_array().to_vec());
        } else {
            assert_eq!(cursor, 0);
            assert!(totals.is_empty());
        }
    }
}
