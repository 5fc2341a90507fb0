//! Online backup and restore: a backup taken while another task writes holds every write acknowledged before
//! it began, is byte-exact, and restores into a store that opens and serves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use callrecords_store::{DEFAULT_TENANT, IncomingRecord, ReadScope, Store};
use callrecords_store_sqlite::SqliteStore;
use callrecords_store_sqlite::backup::{check_backup, restore};
use serde_json::json;

fn rec(n: usize) -> IncomingRecord {
    let value = json!({
        "id": format!("rec-{n:05}"),
        "version": 1,
        "startDateTime": "2024-03-01T10:00:00Z",
        "endDateTime": "2024-03-01T10:30:00Z",
        "participants_v2": [{"id": "p1"}],
        "sessions": [{"id": "s0", "segments": [{"id": "g"}]}],
        "unknownProperty": n,
    });
    IncomingRecord {
        raw: serde_json::to_string_pretty(&value).unwrap(),
        value,
        partial: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_writes_holds_every_acknowledged_record_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    // A writer that keeps committing one record per transaction; `acked` counts what returned.
    let writer = {
        let store = store.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            for n in 0..400 {
                store
                    .put_records(DEFAULT_TENANT, vec![rec(n)])
                    .await
                    .unwrap();
                acked.store(n + 1, Ordering::SeqCst);
            }
        })
    };
    while acked.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before = acked.load(Ordering::SeqCst);
    let out = dir.path().join("backup.db");
    let summary = store.backup_to(&out).await.unwrap();
    let after = acked.load(Ordering::SeqCst);
    writer.await.unwrap();
    // One file, nothing left beside it (no partial copy, no WAL or shared-memory file).
    let mut beside: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("backup"))
        .collect();
    beside.sort();
    assert_eq!(beside, ["backup.db"]);
    // Everything acknowledged before the backup began is in it; nothing beyond what was acknowledged
    // by its end (plus the one put in flight).
    let held = usize::try_from(summary.records).unwrap();
    assert!(
        held >= before && held <= after + 1,
        "{before} ≤ {held} ≤ {after}+1"
    );
    assert_eq!(summary.versions, summary.records);
    assert_eq!(check_backup(&out).unwrap().records, summary.records);

    // A second backup to the same name is refused, the first one untouched.
    assert!(store.backup_to(&out).await.is_err());

    let target = tempfile::tempdir().unwrap();
    let restored = restore(&out, target.path(), false).unwrap();
    assert_eq!(restored.moved_aside, None);
    let back = SqliteStore::open(target.path()).unwrap();
    assert_eq!(back.integrity_check().await.unwrap(), "ok");
    for n in 0..held {
        let id = format!("rec-{n:05}");
        let raw = back
            .get_version(&ReadScope::All, &id, 1)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} missing from the restored store"));
        assert_eq!(raw, rec(n).raw, "byte-exact raw JSON of {id}");
    }
    assert!(
        back.get_version(&ReadScope::All, &format!("rec-{held:05}"), 1)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn restore_refuses_an_existing_store_unless_told_and_then_keeps_it_aside() {
    let source = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(source.path()).unwrap();
    store
        .put_records(DEFAULT_TENANT, vec![rec(1)])
        .await
        .unwrap();
    let out = source.path().join("b.db");
    store.backup_to(&out).await.unwrap();

    let target = tempfile::tempdir().unwrap();
    let existing = SqliteStore::open(target.path()).unwrap();
    existing
        .put_records(DEFAULT_TENANT, vec![rec(2)])
        .await
        .unwrap();
    drop(existing);
    let refused = restore(&out, target.path(), false).unwrap_err();
    assert!(refused.to_string().contains("--replace"), "{refused}");

    let done = restore(&out, target.path(), true).unwrap();
    let aside = done.moved_aside.expect("the old store is moved aside");
    assert!(aside.exists());
    let back = SqliteStore::open(target.path()).unwrap();
    let all = ReadScope::All;
    assert!(
        back.get_version(&all, "rec-00001", 1)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        back.get_version(&all, "rec-00002", 1)
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just bytes").unwrap();
    assert!(check_backup(&junk).is_err());
    assert!(restore(&junk, &dir.path().join("data"), false).is_err());
    assert!(!dir.path().join("data").join("callrecords.db").exists());
    // An SQLite file that is not ours.
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x); PRAGMA user_version=1;")
        .unwrap();
    let e = check_backup(&other).unwrap_err();
    assert!(e.to_string().contains("not a callrecords store"), "{e}");
}
