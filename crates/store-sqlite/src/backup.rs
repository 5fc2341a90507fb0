//! Online backup and restore of the embedded store.
//!
//! A backup is `VACUUM INTO` run in one read transaction: a consistent snapshot of everything committed
//! when it began (every acknowledged write, since a put is durable when it returns), written while other
//! connections — `serve`, an `import` — keep reading and writing (WAL readers do not block writers). The
//! copy is written beside its destination as `FILE.partial`, checked (`PRAGMA integrity_check`, the schema
//! version), flushed to disk and only then renamed to `FILE`, so a file under the destination's name is
//! always a complete, checked backup.
//!
//! A restore checks the file the same way, moves an existing store aside (never deletes it), and puts a
//! copy in place with the same write-flush-rename steps; opening the restored store migrates it when it
//! was written by an older schema.

use std::fs::File;
use std::path::{Path, PathBuf};

use callrecords_store::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::connection::{SCHEMA_VERSION, open_connection};
use crate::{DB_FILE, SqlResult, SqliteStore};

/// What a checked backup file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version (`PRAGMA user_version`).
    pub schema_version: i64,
    /// Records (the served copy of each; every tenant).
    pub records: u64,
    /// Stored record versions.
    pub versions: u64,
    /// PSTN, direct-routing, SMS, blocked-user and dial-out rows.
    pub log_rows: u64,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{what} {}: {e}", path.display()))
}

/// `FILE.partial`, where a copy is written before it gets its name.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Flushes `path` and the directory that names it.
fn sync_file_and_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err("flush", path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Directories can be opened and fsynced on Unix; elsewhere this is best effort.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Checks that `path` is a sound callrecords store this code can open, and counts what it holds.
pub fn check_backup(path: &Path) -> Result<BackupSummary, StoreError> {
    let bytes = std::fs::metadata(path)
        .map_err(|e| io_err("read", path, e))?
        .len();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .db()?;
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| {
            StoreError::Backend(format!("{} is not a SQLite store: {e}", path.display()))
        })?;
    if check != "ok" {
        return Err(StoreError::Backend(format!(
            "{} fails SQLite's integrity check: {check}",
            path.display()
        )));
    }
    let schema_version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .db()?;
    if !(1..=SCHEMA_VERSION).contains(&schema_version) {
        return Err(StoreError::Backend(format!(
            "{} has schema version {schema_version}; this build reads 1 to {SCHEMA_VERSION}",
            path.display()
        )));
    }
    let count = |sql: &str| -> Result<u64, StoreError> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(|e| {
                StoreError::Backend(format!(
                    "{} is not a callrecords store: {e}",
                    path.display()
                ))
            })
    };
    Ok(BackupSummary {
        path: path.to_path_buf(),
        bytes,
        schema_version,
        records: count("SELECT count(*) FROM records")?,
        versions: count("SELECT count(*) FROM record_versions")?,
        log_rows: count("SELECT count(*) FROM log_rows")?,
    })
}

impl SqliteStore {
    /// Writes a consistent copy of the store to `out` (which must not exist) while the store stays in use,
    /// and returns what the checked copy holds.
    pub async fn backup_to(&self, out: &Path) -> Result<BackupSummary, StoreError> {
        if out.exists() {
            return Err(StoreError::Backend(format!(
                "{} exists; a backup never overwrites a file",
                out.display()
            )));
        }
        let out = out.to_path_buf();
        let partial = partial_path(&out);
        let source = self.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let _ = std::fs::remove_file(&partial);
            let target = partial.to_str().ok_or_else(|| {
                StoreError::Backend(format!("{} is not valid UTF-8", partial.display()))
            })?;
            // Its own connection: VACUUM INTO holds one read transaction for the whole copy.
            let conn = open_connection(&source)?;
            let copied = conn.execute("VACUUM INTO ?1", [target]).db();
            drop(conn);
            let summary = copied
                .and_then(|_| sync_file_and_dir(&partial))
                .and_then(|()| check_backup(&partial));
            match summary {
                Ok(summary) => {
                    std::fs::rename(&partial, &out).map_err(|e| io_err("rename to", &out, e))?;
                    sync_file_and_dir(&out)?;
                    Ok(BackupSummary {
                        path: out,
                        ..summary
                    })
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| StoreError::Backend(format!("backup task failed: {e}")))?
    }
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// What the restored store holds (as checked in the backup file).
    pub summary: BackupSummary,
    /// Where an existing store was moved (its database file), when there was one.
    pub moved_aside: Option<PathBuf>,
}

/// Puts the backup `file` in place as the store of `dir`. An existing store there is refused unless
/// `replace`, and then moved aside to `callrecords.db.before-restore-<unix seconds>` (with its WAL), not
/// deleted. No process may have the store of `dir` open meanwhile (stop `serve` first).
pub fn restore(file: &Path, dir: &Path, replace: bool) -> Result<Restored, StoreError> {
    let summary = check_backup(file)?;
    std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
    let db = dir.join(DB_FILE);
    let mut moved_aside = None;
    if db.exists() {
        if !replace {
            return Err(StoreError::Backend(format!(
                "{} already holds a store; pass --replace to move it aside and restore over it",
                dir.display()
            )));
        }
        let stamp = jiff::Timestamp::now().as_second();
        let aside = dir.join(format!("{DB_FILE}.before-restore-{stamp}"));
        for suffix in ["-wal", "-shm"] {
            let from = dir.join(format!("{DB_FILE}{suffix}"));
            if from.exists() {
                let to = dir.join(format!("{DB_FILE}.before-restore-{stamp}{suffix}"));
                std::fs::rename(&from, &to).map_err(|e| io_err("move aside", &from, e))?;
            }
        }
        std::fs::rename(&db, &aside).map_err(|e| io_err("move aside", &db, e))?;
        moved_aside = Some(aside);
    }
    let partial = partial_path(&db);
    std::fs::copy(file, &partial).map_err(|e| io_err("copy to", &partial, e))?;
    sync_file_and_dir(&partial)?;
    std::fs::rename(&partial, &db).map_err(|e| io_err("rename to", &db, e))?;
    sync_file_and_dir(&db)?;
    // Opening brings an older schema up to date, in one transaction.
    drop(SqliteStore::open(dir)?);
    Ok(Restored {
        summary,
        moved_aside,
    })
}
