//! The conformance suite against a fresh temp-dir database per case, plus SQLite-specific tests.

use std::sync::Arc;

use callrecords_store::Store;
use callrecords_store_sqlite::SqliteStore;

async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (Arc::new(store), dir)
}

callrecords_store::conformance_tests!(fresh);

async fn fresh_uncompressed() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with_compression(dir.path(), false).unwrap();
    (Arc::new(store), dir)
}

mod uncompressed {
    use super::*;
    callrecords_store::conformance_tests!(fresh_uncompressed);
}

// ---------------------------------------------------------------------------------------------
// SQLite-specific

use callrecords_store::{IncomingRecord, PutOutcome, RecordQuery, StoreError};
use serde_json::{Value, json};

fn rec(id: &str, version: i64, sessions: usize) -> IncomingRecord {
    let value = json!({
        "id": id,
        "version": version,
        "startDateTime": "2024-03-01T10:00:00Z",
        "endDateTime": "2024-03-01T10:30:00.1234567Z",
        "organizer_v2": {"id": "org"},
        "participants_v2": [{"id": "p1"}, {"id": "p2"}],
        "sessions": (0..sessions).map(|i| json!({"id": format!("s{i}"), "segments": [{"id": "g"}]})).collect::<Vec<Value>>(),
    });
    IncomingRecord {
        raw: serde_json::to_string_pretty(&value).unwrap(),
        value,
        partial: false,
    }
}

#[tokio::test]
async fn reopen_after_drop_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let raw;
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let r = rec("keep", 1, 3);
        raw = r.raw.clone();
        store.put_records(vec![r, rec("keep", 2, 4)]).await.unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let head = store.get_record("keep").await.unwrap().unwrap();
    assert_eq!((head.version, head.session_count), (2, 4));
    assert_eq!(store.get_version("keep", 1).await.unwrap().unwrap(), raw);
    assert_eq!(store.list_versions("keep").await.unwrap().len(), 2);
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    assert!(dir.path().join("callrecords.db").exists());
}

#[tokio::test]
async fn migrations_are_idempotent_and_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().await.unwrap(), 1);
        store.put_records(vec![rec("m", 1, 1)]).await.unwrap();
    }
    {
        let conn = rusqlite::Connection::open(dir.path().join("callrecords.db")).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    match SqliteStore::open(dir.path()) {
        Err(StoreError::Incompatible(msg)) => assert!(msg.contains("99"), "{msg}"),
        other => panic!("expected Incompatible, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_directory_both_write_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let b = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for (name, store) in [("a", a.clone()), ("b", b.clone())] {
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                let batch = (0..10)
                    .map(|j| rec(&format!("{name}-{i}-{j}"), 1, 5))
                    .collect();
                let out = store.put_records(batch).await.unwrap();
                assert!(out.iter().all(|o| *o == PutOutcome::Stored));
                // Read while the other writes.
                assert!(
                    store
                        .get_record(&format!("{name}-{i}-0"))
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
    let q = RecordQuery {
        limit: 10,
        ..RecordQuery::default()
    };
    assert_eq!(a.count_records(&q).await.unwrap(), 800);
    assert_eq!(b.count_records(&q).await.unwrap(), 800);
    assert!(a.get_record("b-39-9").await.unwrap().is_some());
    assert_eq!(b.integrity_check().await.unwrap(), "ok");
}

#[tokio::test]
async fn session_page_is_an_index_range_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.put_records(vec![rec("plan", 1, 10)]).await.unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT s.ordinal, s.json FROM records r JOIN sessions s ON s.rk = r.rk \
             WHERE r.id = ?1 AND s.ordinal > ?2 ORDER BY s.ordinal LIMIT ?3",
        )
        .unwrap()
        .query_map(rusqlite::params!["plan", -1, 60], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join(" | ");
    assert!(plan.contains("SEARCH s USING INDEX"), "{plan}");
    assert!(plan.contains("ordinal>?"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT r.id FROM records r WHERE 1 AND (r.start_key > ?1 OR (r.start_key = ?1 AND r.id > ?2)) \
             ORDER BY r.start_key, r.id LIMIT 60",
        )
        .unwrap()
        .query_map(rusqlite::params![0, "x"], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join(" | ");
    assert!(plan.contains("records_by_start"), "{plan}");
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_on_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                // Every task also writes the same shared ids: exactly one Stored per (id, version).
                let batch = vec![
                    rec(&format!("t{t}-{i}"), 1, 2),
                    rec(&format!("shared-{i}"), 1, 2),
                ];
                let out = store.put_records(batch).await.unwrap();
                assert_eq!(out[0], PutOutcome::Stored);
                let _ = store
                    .page_sessions(&format!("t{t}-{i}"), None, 60, true)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let q = RecordQuery {
        limit: 1,
        ..RecordQuery::default()
    };
    assert_eq!(store.count_records(&q).await.unwrap(), 125);
    for i in 0..25 {
        assert_eq!(
            store
                .list_versions(&format!("shared-{i}"))
                .await
                .unwrap()
                .len(),
            1
        );
    }
}

/// A write through a second store on the same directory (as `callrecords import` beside `serve`)
/// changes the first store's `data_generation`, and so does the first store's own write.
#[tokio::test]
async fn generation_sees_writes_of_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let a = SqliteStore::open(dir.path()).unwrap();
    let b = SqliteStore::open(dir.path()).unwrap();
    let g0 = a.data_generation().unwrap();
    b.put_records(vec![rec("other", 1, 2)]).await.unwrap();
    let g1 = a.data_generation().unwrap();
    assert_ne!(g1, g0);
    assert_eq!(a.data_generation().unwrap(), g1);
    a.put_records(vec![rec("own", 1, 2)]).await.unwrap();
    assert_ne!(a.data_generation().unwrap(), g1);
}

/// The list query with a start window seeks the window: one lower bound on start_key, and the
/// keyset cursor as a row value.
#[tokio::test]
async fn filtered_list_seeks_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.put_records(vec![rec("plan", 1, 1)]).await.unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    for sql in [
        "SELECT r.id FROM records r WHERE 1 AND r.start_key >= ?1 AND r.start_key < ?2 \
         ORDER BY r.start_key, r.id LIMIT 61",
        "SELECT r.id FROM records r WHERE 1 AND r.start_key < ?2 AND (r.start_key, r.id) > (?1, 'x') \
         ORDER BY r.start_key, r.id LIMIT 61",
    ] {
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params![0, 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join(" | ");
        // The range starts at the window (or cursor), not at the first record.
        assert!(
            plan.contains("records_by_start (start_key>?")
                || plan.contains("records_by_start ((start_key,id)>(?,?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
