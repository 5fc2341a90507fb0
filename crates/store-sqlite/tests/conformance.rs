//! The conformance suite against a fresh temp-dir database per case, plus SQLite-specific tests.

use std::sync::Arc;

use callrecords_store::Store;
use callrecords_store_sqlite::SqliteStore;

async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (Arc::new(store), dir)
}

/// Another store on the same directory: what a second process (`import` beside `serve`) has.
async fn reopen(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir.path()).unwrap())
}

callrecords_store_conformance::conformance_tests!(fresh, reopen);

async fn fresh_uncompressed() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with_compression(dir.path(), false).unwrap();
    (Arc::new(store), dir)
}

async fn reopen_uncompressed(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open_with_compression(dir.path(), false).unwrap())
}

mod uncompressed {
    use super::*;
    callrecords_store_conformance::conformance_tests!(fresh_uncompressed, reopen_uncompressed);
}

// ---------------------------------------------------------------------------------------------
// SQLite-specific

use callrecords_store::{DEFAULT_TENANT, IncomingRecord, ReadScope, RecordRead, StoreError};
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
        store
            .put_records(DEFAULT_TENANT, vec![r, rec("keep", 2, 4)])
            .await
            .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let all = ReadScope::All;
    let head = store
        .read_record(&all, "keep", &RecordRead::default())
        .await
        .unwrap()
        .unwrap()
        .head;
    assert_eq!((head.version, head.session_count), (2, 4));
    assert_eq!(
        store.get_version(&all, "keep", 1).await.unwrap().unwrap(),
        raw
    );
    assert_eq!(store.list_versions(&all, "keep").await.unwrap().len(), 2);
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    assert!(dir.path().join("callrecords.db").exists());
}

#[tokio::test]
async fn migrations_are_idempotent_and_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            callrecords_store_sqlite::SCHEMA_VERSION
        );
        store
            .put_records(DEFAULT_TENANT, vec![rec("m", 1, 1)])
            .await
            .unwrap();
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

/// The query plans of the statements reads use (the same text as `src/read.rs`).
fn plan(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> String {
    let rows: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params, |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join(" | ")
}

#[tokio::test]
async fn session_page_is_an_index_range_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .put_records(DEFAULT_TENANT, vec![rec("plan", 1, 10)])
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let p = plan(
        &conn,
        "SELECT ordinal, json FROM sessions WHERE rk = ?1 AND ordinal > ?2 ORDER BY ordinal LIMIT ?3",
        rusqlite::params![1, -1, 60],
    );
    assert!(p.contains("SEARCH sessions USING"), "{p}");
    assert!(p.contains("ordinal>?"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}

/// The list query with a start window seeks the window: one lower bound on start_key, and the keyset cursor
/// as a row value — for every tenant (records_by_start) and for one (records_by_tenant_start).
#[tokio::test]
async fn filtered_list_seeks_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store
        .put_records(DEFAULT_TENANT, vec![rec("plan", 1, 1)])
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    for (sql, index) in [
        (
            "SELECT r.id FROM records r WHERE 1 AND r.start_key >= ?1 AND r.start_key < ?2 \
             ORDER BY r.start_key, r.id, r.tenant LIMIT 61",
            "records_by_start (start_key>?",
        ),
        (
            "SELECT r.id FROM records r WHERE 1 AND r.start_key < ?2 \
             AND (r.start_key, r.id, r.tenant) > (?1, 'x', 't') \
             ORDER BY r.start_key, r.id, r.tenant LIMIT 61",
            "records_by_start ((start_key,id,tenant)>(?,?,?)",
        ),
        (
            "SELECT r.id FROM records r WHERE 1 AND r.tenant = 't' AND r.start_key >= ?1 \
             AND r.start_key < ?2 ORDER BY r.start_key, r.id LIMIT 61",
            "records_by_tenant_start (tenant=? AND start_key>?",
        ),
        (
            "SELECT r.id FROM records r WHERE 1 AND r.tenant = 't' AND r.start_key < ?2 \
             AND (r.start_key, r.id) > (?1, 'x') ORDER BY r.start_key, r.id LIMIT 61",
            "records_by_tenant_start (tenant=? AND (start_key,id)>(?,?)",
        ),
    ] {
        let p = plan(&conn, sql, rusqlite::params![0, 10]);
        assert!(p.contains(index), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }
}

/// A store written by release 0.1 (schema 1: no tenants, untagged MurmurHash3 content hashes), made by
/// `tests/fixtures/schema1/make.sh` with that release's binary, opens and migrates: every record and log row
/// reads back as it was imported, and importing the same files again stores nothing new (the hashes were
/// recomputed, so resent copies are still duplicates).
#[tokio::test]
async fn a_schema_1_store_migrates_and_keeps_everything() {
    use callrecords_store::{
        ChangeKind, IncomingLogRow, LogKind, LogOutcome, LogQuery, PutOutcome,
    };
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture.join("callrecords.db"),
        dir.path().join("callrecords.db"),
    )
    .unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        callrecords_store_sqlite::SCHEMA_VERSION
    );
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    let all = ReadScope::All;
    // records.ndjson, then later.ndjson: 3 newer versions, a conflicting copy and a stale one.
    let lines: Vec<String> = ["records.ndjson", "later.ndjson"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(fixture.join(f))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len(), 30);
    let mut first_copies: std::collections::HashSet<(String, i64)> = Default::default();
    let mut inputs: Vec<IncomingRecord> = Vec::new();
    let mut latest: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    for line in &lines {
        let value: Value = serde_json::from_str(line).unwrap();
        let id = value["id"].as_str().unwrap().to_owned();
        let version = value["version"].as_i64().unwrap();
        // Each version's (first) raw text is kept byte for byte.
        if first_copies.insert((id.clone(), version)) {
            let stored = store.get_version(&all, &id, version).await.unwrap();
            assert_eq!(stored.as_deref(), Some(line.as_str()));
        }
        if latest
            .get(&id)
            .is_none_or(|v| v["version"].as_i64().unwrap() < version)
        {
            latest.insert(id, value.clone());
        }
        inputs.push(IncomingRecord {
            raw: line.clone(),
            value,
            partial: false,
        });
    }
    for (id, want) in &latest {
        let read = RecordRead {
            sessions: Some(callrecords_store::Window::first(100_000)),
            with_segments: true,
            participants: Some(callrecords_store::Window::first(100_000)),
            pin: None,
        };
        let view = store.read_record(&all, id, &read).await.unwrap().unwrap();
        assert_eq!(view.head.tenant, DEFAULT_TENANT);
        let mut got: serde_json::Map<String, Value> =
            serde_json::from_str(&view.head.json).unwrap();
        let sessions: Vec<Value> = view
            .sessions
            .iter()
            .map(|s| serde_json::from_str(&s.json).unwrap())
            .collect();
        let participants: Vec<Value> = view
            .participants
            .iter()
            .map(|p| serde_json::from_str(&p.json).unwrap())
            .collect();
        if want.get("sessions").is_some() {
            got.insert("sessions".into(), Value::Array(sessions));
        }
        if want.get("participants_v2").is_some() {
            got.insert("participants_v2".into(), Value::Array(participants));
        }
        let mut want = want.clone();
        callrecords_model::validate::strip_control_annotations(&mut want);
        assert_eq!(Value::Object(got), want, "{id}");
    }
    // Resent copies are duplicates: the migration recomputed the hashes.
    let again = store.put_records(DEFAULT_TENANT, inputs).await.unwrap();
    assert!(
        again.iter().all(|o| *o == PutOutcome::Duplicate),
        "{again:?}"
    );
    // The change feed covers the old copies, with what they did.
    let changes = store.changes_after(0, 100_000).await.unwrap();
    assert_eq!(changes.len(), lines.len());
    let kinds = |k: ChangeKind| changes.iter().filter(|c| c.kind == k).count();
    assert_eq!(kinds(ChangeKind::Created), latest.len());
    assert_eq!(kinds(ChangeKind::Updated), 3);
    assert_eq!(kinds(ChangeKind::Conflict), 1);
    assert_eq!(kinds(ChangeKind::Stale), 1);
    // Log rows: read back, and duplicates when resent.
    let rows: Vec<String> = std::fs::read_to_string(fixture.join("pstn.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let q = LogQuery {
        from_us: i64::MIN,
        to_us: i64::MAX,
        to_inclusive: true,
        skip: 0,
        limit: 100_000,
    };
    let stored = store
        .query_log_rows(&all, LogKind::PstnCall, &q)
        .await
        .unwrap();
    assert_eq!(stored.len(), rows.len());
    let resent: Vec<IncomingLogRow> = rows
        .iter()
        .map(|r| IncomingLogRow {
            raw: r.clone(),
            value: serde_json::from_str(r).unwrap(),
        })
        .collect();
    let out = store
        .put_log_rows(DEFAULT_TENANT, LogKind::PstnCall, resent, None)
        .await
        .unwrap();
    assert!(out.iter().all(|o| *o == LogOutcome::Duplicate));
}

/// A schema-5 store with derived quality data (the per-record contribution rows of migration 4) opens as
/// schema 7 with its derived data thrown away, the epoch bumped and the deriver's cursor rewound, so the
/// next catch-up derives every record again; the records and other consumers' cursors stay.
#[tokio::test]
async fn a_schema_5_store_rebuilds_its_derived_quality_data() {
    use callrecords_store::quality::{OVERALL, QualityWindow};
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("callrecords.db")).unwrap();
        for sql in [
            include_str!("../migrations/0001_init.sql"),
            // 0002's Rust step (rehashing) has nothing to do on an empty database.
            include_str!("../migrations/0002_tenants_and_change_feed.sql"),
            include_str!("../migrations/0003_notifications.sql"),
            include_str!("../migrations/0004_quality.sql"),
            include_str!("../migrations/0005_sync_state.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO quality_records (tenant, record_id, version, start_us) VALUES ('t', 'a', 1, 5);
             INSERT INTO quality_streams (tenant, record_id, start_us, kind, class, subnet, has_building, json)
                 VALUES ('t', 'a', 5, 'audio', 'poor', NULL, 0, '{}');
             INSERT INTO quality_sessions (tenant, record_id, start_us, json) VALUES ('t', 'a', 5, '{}');
             INSERT INTO quality_contributions (group_key, start_us, tenant, record_id, group_value, counts)
                 VALUES ('', 5, 't', 'a', NULL, x'0100000000000000');
             INSERT INTO consumer_cursors (consumer, cursor) VALUES ('quality', 7), ('other', 3);
             PRAGMA user_version = 5;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        callrecords_store_sqlite::SCHEMA_VERSION
    );
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    assert_eq!(store.consumer_cursor("quality").await.unwrap(), 0);
    assert_eq!(store.consumer_cursor("other").await.unwrap(), 3);
    let q = store.quality().unwrap();
    assert_eq!(q.quality_meta().await.unwrap().epoch, 1);
    let all = ReadScope::All;
    assert!(
        q.quality_totals(&all, QualityWindow::default(), OVERALL)
            .await
            .unwrap()
            .is_empty()
    );
    let page = q
        .quality_calls(
            &all,
            &callrecords_store::calls::CallFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 0);
}
