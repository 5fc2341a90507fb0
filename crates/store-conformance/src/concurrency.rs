//! Cases with concurrent writers and readers: several tasks on one handle, and two handles on the same data
//! (two processes on one SQLite file, two nodes on one PostgreSQL database).

use super::*;

/// A small record whose sessions all carry the record's version in their id (`s{version}-{i}`), so a
/// reader can tell whether a head and its sessions come from the same version.
pub(crate) fn versioned(id: &str, version: i64, sessions: usize) -> IncomingRecord {
    let value = json!({
        "id": id,
        "version": version,
        "startDateTime": "2024-03-01T10:00:00Z",
        "endDateTime": "2024-03-01T10:30:00.1234567Z",
        "organizer_v2": {"id": "org"},
        "participants_v2": (0..3).map(|i| json!({"id": format!("p{version}-{i}")})).collect::<Vec<Value>>(),
        "sessions": (0..sessions)
            .map(|i| json!({"id": format!("s{version}-{i}"), "segments": [{"id": format!("g{version}-{i}")}]}))
            .collect::<Vec<Value>>(),
    });
    IncomingRecord {
        raw: serde_json::to_string(&value).unwrap(),
        value,
        partial: false,
    }
}

/// Two handles write concurrently and each reads what it wrote while the other writes; both then see all.
pub async fn two_handles_both_write_and_read(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for (name, store) in [("a", a.clone()), ("b", b.clone())] {
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let batch = (0..10)
                    .map(|j| versioned(&format!("{name}-{i}-{j}"), 1, 5))
                    .collect();
                let out = put_records(&store, batch).await.unwrap();
                assert!(out.iter().all(|o| *o == PutOutcome::Stored));
                assert!(
                    get_record(&store, &format!("{name}-{i}-0"))
                        .await
                        .unwrap()
                        .is_some()
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count_records(&a, &query()).await.unwrap(), 800);
    assert_eq!(count_records(&b, &query()).await.unwrap(), 800);
    assert!(get_record(&a, "b-39-9").await.unwrap().is_some());
    assert!(get_record(&b, "a-39-9").await.unwrap().is_some());
}

/// Two handles race to store the same (id, version)s: exactly one copy of each is kept and served, the
/// other is a duplicate, and the change feed has one entry per record.
pub async fn two_handles_race_on_the_same_ids(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let start = a.changes_after(0, 1).await.unwrap().len();
    assert_eq!(start, 0);
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            let mut stored = 0;
            for i in 0..30 {
                let out = put_records(&store, vec![versioned(&format!("race-{i}"), 1, 2)])
                    .await
                    .unwrap();
                match out[0] {
                    PutOutcome::Stored => stored += 1,
                    PutOutcome::Duplicate => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            stored
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await.unwrap();
    }
    assert_eq!(stored, 30, "each (id, version) stored exactly once");
    for i in 0..30 {
        assert_eq!(
            list_versions(&b, &format!("race-{i}")).await.unwrap().len(),
            1
        );
    }
    let changes = all_changes(&a, 0).await;
    assert_eq!(changes.len(), 30);
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Created));
}

/// A commit through one handle is visible to the other's next read, and changes its `data_generation`.
pub async fn another_handle_sees_commits_and_generation(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let g0 = a.data_generation().unwrap();
    put_records(&b, vec![versioned("other", 1, 2)])
        .await
        .unwrap();
    let g1 = a.data_generation().unwrap();
    assert_ne!(g1, g0, "a write by another handle changes the generation");
    assert_eq!(a.data_generation().unwrap(), g1);
    assert_eq!(get_record(&a, "other").await.unwrap().unwrap().version, 1);
    put_records(&a, vec![versioned("own", 1, 2)]).await.unwrap();
    assert_ne!(a.data_generation().unwrap(), g1);
    assert_eq!(all_changes(&b, 0).await.len(), 2);
}

/// Four tasks write batches on one handle, each also writing the same shared ids: exactly one copy of each
/// shared (id, version) is kept.
pub async fn concurrent_batches_store_each_version_once(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let batch = vec![
                    versioned(&format!("t{t}-{i}"), 1, 2),
                    versioned(&format!("shared-{i}"), 1, 2),
                ];
                let out = put_records(&store, batch).await.unwrap();
                assert_eq!(out[0], PutOutcome::Stored);
                let _ = page_sessions(&store, &format!("t{t}-{i}"), None, 60, true)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count_records(&store, &query()).await.unwrap(), 125);
    for i in 0..25 {
        assert_eq!(
            list_versions(&store, &format!("shared-{i}"))
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

/// The torn-read probe: one writer commits version after version of one record while four readers read it
/// with its sessions and participants; every answer's head, sessions and participants are of one version.
/// (Before snapshot reads, head and sessions came from two reads and some answers mixed two versions.)
pub async fn read_record_is_one_snapshot_under_writes(store: Arc<dyn Store>) {
    const VERSIONS: i64 = 150;
    put_records(&store, vec![versioned("torn", 1, 4)])
        .await
        .unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for v in 2..=VERSIONS {
                // Session counts vary, so a mix would also show in the counts.
                let n = 1 + (v as usize % 7);
                let out = put_records(&store, vec![versioned("torn", v, n)])
                    .await
                    .unwrap();
                assert_eq!(out[0], PutOutcome::Stored);
            }
        })
    };
    let mut readers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        readers.push(tokio::spawn(async move {
            let read = RecordRead {
                sessions: Some(Window::first(60)),
                with_segments: true,
                participants: Some(Window::first(130)),
                pin: None,
            };
            let (mut reads, mut torn) = (0u32, Vec::new());
            loop {
                let view = store
                    .read_record(&ALL, "torn", &read)
                    .await
                    .unwrap()
                    .unwrap();
                reads += 1;
                let v = view.head.version;
                let want = format!("\"s{v}-");
                let ok_sessions = view.sessions.len() as u64 == view.head.session_count
                    && view.sessions.iter().all(|s| s.json.contains(&want));
                let ok_participants = view
                    .participants
                    .iter()
                    .all(|p| p.json.contains(&format!("\"p{v}-")));
                if !(ok_sessions && ok_participants) {
                    torn.push(v);
                }
                if v == VERSIONS {
                    return (reads, torn);
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    writer.await.unwrap();
    for r in readers {
        let (reads, torn) = r.await.unwrap();
        assert!(reads > 0);
        assert!(
            torn.is_empty(),
            "{} of {reads} answers mixed versions (heads of versions {torn:?})",
            torn.len()
        );
    }
}

/// Writers on two handles commit batches concurrently while a reader follows the change feed with its cursor
/// (as a durable consumer does): the reader sees every stored copy exactly once and in increasing cursor
/// order — no copy that commits late with a low position is skipped.
pub async fn feed_reader_never_skips_concurrent_commits(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (b.clone(), done.clone());
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut seen = Vec::new();
            loop {
                // Read `done` before the page: an empty page read after every writer finished is the end.
                let finished = done.load(Ordering::SeqCst);
                let page = store.changes_after(cursor, 7).await.unwrap();
                if page.is_empty() {
                    if finished {
                        break seen;
                    }
                    tokio::task::yield_now().await;
                }
                for c in page {
                    assert!(
                        c.cursor > cursor,
                        "cursor went backwards: {} after {cursor}",
                        c.cursor
                    );
                    cursor = c.cursor;
                    seen.push(c.record_id);
                }
            }
        })
    };
    let writers: Vec<_> = [("a", a.clone()), ("b", b.clone())]
        .into_iter()
        .flat_map(|(name, store)| {
            (0..2).map(move |w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..30 {
                        let batch = (0..1 + (i % 4))
                            .map(|j| versioned(&format!("{name}{w}-{i}-{j}"), 1, 1 + j))
                            .collect();
                        put_records(&store, batch).await.unwrap();
                    }
                })
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = tokio::time::timeout(std::time::Duration::from_secs(120), reader)
        .await
        .expect("the reader finishes")
        .unwrap();
    let want: Vec<String> = all_changes(&a, 0)
        .await
        .into_iter()
        .map(|c| c.record_id)
        .collect();
    let expected: usize = (0..30).map(|i| 1 + (i % 4)).sum::<usize>() * 4;
    assert_eq!(want.len(), expected);
    assert_eq!(
        seen, want,
        "the reader saw the whole feed, in its final order"
    );
}
