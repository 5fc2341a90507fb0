//! Connections and the schema: how every connection is opened (WAL, `synchronous=FULL`), and the migrations,
//! applied in order in one transaction (`PRAGMA user_version` is the number applied).

use std::path::Path;
use std::time::Duration;

use callrecords_store::StoreError;
use callrecords_store::extract::content_hash_in;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use crate::SqlResult;
use crate::encoding::decode_raw;

/// How long a connection waits for another writer's lock before giving up with `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// A migration's step in Rust, run after its SQL inside the same transaction.
type RustStep = fn(&rusqlite::Transaction<'_>) -> Result<(), StoreError>;

/// One schema step: SQL, then (optionally) a step in Rust inside the same transaction.
struct Migration {
    sql: &'static str,
    then: Option<RustStep>,
}

/// The migrations, in order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: include_str!("../migrations/0001_init.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("../migrations/0002_tenants_and_change_feed.sql"),
        then: Some(rehash),
    },
    Migration {
        sql: include_str!("../migrations/0003_notifications.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("../migrations/0004_quality.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("../migrations/0005_sync_state.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("../migrations/0006_sync_inbox.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("../migrations/0007_quality_aggregates.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("../migrations/0008_erasure_audit.sql"),
        then: None,
    },
    Migration {
        sql: include_str!("../migrations/0009_retention.sql"),
        then: None,
    },
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .db()?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "could not enable WAL (journal_mode={mode})"
        )));
    }
    // mmap_size: pages of the database file are read through one shared mapping of the OS page cache
    // instead of being copied into each connection's own cache by read(2) (the WAL is still read
    // normally). Address space only; nothing is resident until read.
    // secure_delete: deleted and overwritten content is zeroed in the file, so an erasure (purge,
    // redact) leaves no readable copy in free pages or free space inside pages (docs/erasure.md).
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA mmap_size=1073741824; \
         PRAGMA secure_delete=ON;",
    )
    .db()?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Apply the pending migrations in one transaction; refuse a database newer than this code. Foreign keys are
/// off while a migration runs (a table may be rebuilt) and checked before the commit.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("PRAGMA foreign_keys=OFF").db()?;
    let result = migrate_in_transaction(conn);
    conn.execute_batch("PRAGMA foreign_keys=ON").db()?;
    result
}

fn migrate_in_transaction(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let applied: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .db()?;
    let known = MIGRATIONS.len();
    let applied = usize::try_from(applied)
        .map_err(|_| StoreError::Incompatible(format!("bad schema version {applied}")))?;
    if applied > known {
        return Err(StoreError::Incompatible(format!(
            "database schema version {applied} is newer than this program's ({known}); upgrade callrecords"
        )));
    }
    if applied == known {
        return Ok(());
    }
    for m in &MIGRATIONS[applied..] {
        tx.execute_batch(m.sql).db()?;
        if let Some(step) = m.then {
            step(&tx)?;
        }
    }
    let broken: Option<String> = tx
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .db()?;
    if let Some(table) = broken {
        return Err(StoreError::Backend(format!(
            "migration left a dangling reference in {table}"
        )));
    }
    tx.pragma_update(None, "user_version", known as i64).db()?;
    tx.commit().db()
}

/// Schema 2's Rust step: recompute every content hash with the tagged XXH3-128 function (schema 1 stored
/// untagged MurmurHash3), so that copies resent after the upgrade are still recognised as duplicates.
fn rehash(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    let mut buf = Vec::with_capacity(64 * 1024);
    let rows: Vec<(i64, i64, Vec<u8>)> = tx
        .prepare("SELECT seq, raw_encoding, raw FROM record_versions")
        .db()?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    for (seq, encoding, raw) in rows {
        let text = decode_raw(encoding, raw)?;
        let mut value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Backend(format!("version {seq} is not JSON: {e}")))?;
        callrecords_model::validate::strip_control_annotations(&mut value);
        let hash = content_hash_in(&value, &mut buf);
        tx.prepare_cached("UPDATE record_versions SET content_hash = ?2 WHERE seq = ?1")
            .db()?
            .execute(params![seq, hash.as_slice()])
            .db()?;
    }
    tx.execute_batch(
        "UPDATE records SET content_hash = \
         (SELECT v.content_hash FROM record_versions v WHERE v.seq = records.version_seq)",
    )
    .db()?;
    let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = tx
        .prepare("SELECT seq, raw, period_from_us, period_to_us FROM log_rows")
        .db()?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    for (seq, raw, from, to) in rows {
        let mut value: serde_json::Value = serde_json::from_str(&raw)
            .map_err(|e| StoreError::Backend(format!("log row {seq} is not JSON: {e}")))?;
        callrecords_model::validate::strip_control_annotations(&mut value);
        let hash = log_row_hash(&value, from.zip(to));
        tx.prepare_cached("UPDATE log_rows SET content_hash = ?2 WHERE seq = ?1")
            .db()?
            .execute(params![seq, hash.as_slice()])
            .db()?;
    }
    Ok(())
}

pub(crate) use callrecords_store::extract::log_row_hash;
