#![forbid(unsafe_code)]
//! The embedded SQLite backend of [`callrecords_store::Store`].
//!
//! One file, `DIR/callrecords.db`, in WAL mode with `synchronous=FULL`: a put is durable when it
//! returns. One writer connection behind a mutex (batches are one `BEGIN IMMEDIATE` transaction
//! each), a small pool of reader connections, and every SQLite call on a blocking thread. Other
//! processes (`callrecords import` while `callrecords serve` runs) may open the same file: SQLite's
//! file locks plus a busy timeout serialise the writers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use callrecords_store::index::{
    RecordIndex, SplitRecord, canonical_json, content_hash_in, hash128, index_record,
    parse_timestamp_us, splice_segments, split_record_raw,
};
use callrecords_store::{
    IncomingLogRow, IncomingRecord, LogKind, LogOutcome, LogQuery, ParticipantRow, PutOutcome,
    RecordHead, RecordQuery, SessionRow, Store, StoreError, VersionInfo,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};

mod generation;

/// The migrations, applied in order; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_init.sql")];

/// The database file name inside the data directory.
pub const DB_FILE: &str = "callrecords.db";

/// How long a connection waits for another writer's lock before giving up with `Busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Reader connections kept open between calls.
const MAX_IDLE_READERS: usize = 4;

/// Raw JSON encodings in `record_versions.raw_encoding`.
const RAW_PLAIN: i64 = 0;
const RAW_DEFLATE: i64 = 1;

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    compress: bool,
    /// `data_generation`: a connection of its own watching `PRAGMA data_version`.
    generation: generation::Generation,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Busy(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

trait SqlResult<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> SqlResult<T> for Result<T, rusqlite::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(map_err)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
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
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .db()?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Apply the pending migrations in one transaction; refuse a database newer than this code.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
    for sql in &MIGRATIONS[applied..] {
        tx.execute_batch(sql).db()?;
    }
    if applied < known {
        tx.pragma_update(None, "user_version", known as i64).db()?;
    }
    tx.commit().db()
}

/// The stored form of a raw JSON text: deflated with `deflate` (reset first and reused across records: setting
/// one up costs about as much as compressing a small record), or as is.
fn encode_raw_with(
    raw: &str,
    compress: bool,
    deflate: &mut flate2::Compress,
) -> Result<(i64, Vec<u8>), StoreError> {
    if !compress {
        return Ok((RAW_PLAIN, raw.as_bytes().to_vec()));
    }
    deflate.reset();
    let input = raw.as_bytes();
    let mut out = Vec::with_capacity(input.len() / 3 + 64);
    loop {
        let consumed = usize::try_from(deflate.total_in()).unwrap_or(usize::MAX);
        let status = deflate
            .compress_vec(
                input.get(consumed..).unwrap_or_default(),
                &mut out,
                flate2::FlushCompress::Finish,
            )
            .map_err(|e| StoreError::Backend(format!("compress: {e}")))?;
        match status {
            flate2::Status::StreamEnd => return Ok((RAW_DEFLATE, out)),
            _ => out.reserve(out.capacity().max(1024)),
        }
    }
}

fn decode_raw(encoding: i64, bytes: Vec<u8>) -> Result<String, StoreError> {
    let bytes = match encoding {
        RAW_PLAIN => bytes,
        RAW_DEFLATE => {
            let mut out = Vec::with_capacity(bytes.len() * 4);
            flate2::read::DeflateDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .map_err(|e| StoreError::Backend(format!("decompress: {e}")))?;
            out
        }
        other => {
            return Err(StoreError::Backend(format!("unknown raw encoding {other}")));
        }
    };
    String::from_utf8(bytes).map_err(|e| StoreError::Backend(format!("raw not UTF-8: {e}")))
}

impl SqliteStore {
    /// Open (creating if needed) `dir/callrecords.db` and bring its schema up to date.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", dir.display())))?;
        let path = dir.join(DB_FILE);
        let mut writer = open_connection(&path)?;
        migrate(&mut writer)?;
        // Writer-only tuning, durability unchanged (WAL + synchronous=FULL): a bigger page cache for the
        // random-keyed indexes (ids, participant ids), checkpoints every 16 MB of WAL instead of 4 MB
        // (pages rewritten by consecutive batches are copied back once), and the WAL file truncated
        // back to 64 MB after a checkpoint so it does not stay large.
        writer
            .execute_batch(
                "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=4000; \
                 PRAGMA journal_size_limit=67108864;",
            )
            .db()?;
        let generation = generation::Generation::open(&path)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                compress: true,
                generation,
            }),
        })
    }

    /// Like [`SqliteStore::open`], choosing whether new raw JSON is deflated (reads handle both).
    pub fn open_with_compression(dir: &Path, compress: bool) -> Result<Self, StoreError> {
        let store = Self::open(dir)?;
        let inner = Arc::into_inner(store.inner)
            .ok_or_else(|| StoreError::Backend("store shared during open".into()))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner { compress, ..inner }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// `PRAGMA integrity_check`, `"ok"` when the file is sound.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        self.read(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).db())
            .await
    }

    /// The schema version (`PRAGMA user_version`).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            c.pragma_query_value(None, "user_version", |r| r.get(0))
                .db()
        })
        .await
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, bool) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.writer);
            f(&mut conn, inner.compress)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = lock(&inner.readers).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.path)?,
            };
            let out = f(&conn);
            let mut idle = lock(&inner.readers);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

struct Served {
    rk: i64,
    version: i64,
    partial: bool,
    hash: Vec<u8>,
}

const HEAD_COLS: &str = "r.id, r.version, r.head_json, r.session_count, r.participant_count, \
                         r.start_key, r.end_us, r.partial, r.received_us";

fn head_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordHead> {
    let start_key: i64 = r.get(5)?;
    Ok(RecordHead {
        id: r.get(0)?,
        version: r.get(1)?,
        json: r.get(2)?,
        session_count: to_u64(r.get(3)?),
        participant_count: to_u64(r.get(4)?),
        start_us: (start_key != i64::MIN).then_some(start_key),
        end_us: r.get(6)?,
        partial: r.get(7)?,
        received_at_us: r.get(8)?,
    })
}

/// A record with everything computed that needs no database: done on a helper thread while the writer
/// inserts the previous records of the batch, so hashing, splitting and compressing overlap the SQLite
/// work (and concurrent writers overlap their CPU work too). The parsed value is dropped once prepared.
struct Prepared {
    partial: bool,
    ix: RecordIndex,
    hash: Vec<u8>,
    raw_encoding: i64,
    raw: Vec<u8>,
    split: SplitRecord,
}

fn prepare_one(
    i: usize,
    rec: IncomingRecord,
    compress: bool,
    scratch: &mut Vec<u8>,
    deflate: &mut flate2::Compress,
) -> Result<Prepared, StoreError> {
    let ix = index_record(&rec.value).ok_or_else(|| {
        StoreError::InvalidInput(format!(
            "record #{i} is not an object with a string id and an integer version"
        ))
    })?;
    let hash = content_hash_in(&rec.value, scratch).to_vec();
    let split = split_record_raw(&rec.raw, &rec.value);
    let partial = rec.partial;
    // Free the parsed value here, off the writer thread.
    drop(rec.value);
    let (raw_encoding, raw) = encode_raw_with(&rec.raw, compress, deflate)?;
    Ok(Prepared {
        partial,
        ix,
        hash,
        raw_encoding,
        raw,
        split,
    })
}

/// Below this many records a batch is prepared inline rather than on a helper thread.
const PIPELINE_MIN: usize = 16;

type PrepareJob = Box<dyn FnOnce(&mut Vec<u8>, &mut flate2::Compress) + Send>;

/// Runs `job` on the long-lived preparer thread (started on first use; a fresh thread per batch made the
/// allocator fault in new pages every time). Falls back to running it here.
fn submit_prepare(job: PrepareJob) {
    static PREPARER: std::sync::OnceLock<std::sync::mpsc::Sender<PrepareJob>> =
        std::sync::OnceLock::new();
    let tx = PREPARER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<PrepareJob>();
        let _ = std::thread::Builder::new()
            .name("store-prepare".into())
            .spawn(move || {
                let mut scratch = Vec::with_capacity(64 * 1024);
                let mut deflate = flate2::Compress::new(flate2::Compression::fast(), false);
                for job in rx {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut scratch, &mut deflate)
                    }));
                }
            });
        tx
    });
    if let Err(std::sync::mpsc::SendError(job)) = tx.send(job) {
        job(
            &mut Vec::new(),
            &mut flate2::Compress::new(flate2::Compression::fast(), false),
        );
    }
}

/// Prepares `batch` on the preparer thread and writes it in one transaction as the records come in.
/// The writer lock is taken first, so the preparer only ever works for the lock holder (no deadlock
/// between concurrent batches).
fn put_pipelined(inner: &Inner, batch: Vec<IncomingRecord>) -> Result<Vec<PutOutcome>, StoreError> {
    let compress = inner.compress;
    let n = batch.len();
    if n < PIPELINE_MIN {
        let mut scratch = Vec::new();
        let mut deflate = flate2::Compress::new(flate2::Compression::fast(), false);
        let prepared = batch
            .into_iter()
            .enumerate()
            .map(|(i, rec)| prepare_one(i, rec, compress, &mut scratch, &mut deflate))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = lock(&inner.writer);
        return put_batch(&mut conn, n, prepared.into_iter().map(Ok));
    }
    let mut conn = lock(&inner.writer);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Prepared, StoreError>>(64);
    submit_prepare(Box::new(move |scratch, deflate| {
        for (i, rec) in batch.into_iter().enumerate() {
            let p = prepare_one(i, rec, compress, scratch, deflate);
            let failed = p.is_err();
            // The writer only hangs up after an error of its own.
            if tx.send(p).is_err() || failed {
                break;
            }
        }
    }));
    // A panic on the preparer ends `rx` early: put_batch then refuses to commit a partial batch.
    put_batch(&mut conn, n, rx.into_iter())
}

fn put_batch(
    conn: &mut Connection,
    n: usize,
    prepared: impl Iterator<Item = Result<Prepared, StoreError>>,
) -> Result<Vec<PutOutcome>, StoreError> {
    let received_us = now_us();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let mut outcomes = Vec::with_capacity(n);
    for p in prepared {
        let p = p?;
        let p = &p;
        let (ix, hash) = (&p.ix, &p.hash);
        let served: Option<Served> = tx
            .prepare_cached("SELECT rk, version, partial, content_hash FROM records WHERE id = ?1")
            .db()?
            .query_row([&ix.id], |r| {
                Ok(Served {
                    rk: r.get(0)?,
                    version: r.get(1)?,
                    partial: r.get(2)?,
                    hash: r.get(3)?,
                })
            })
            .optional()
            .db()?;
        let seen: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM record_versions \
                 WHERE record_id = ?1 AND version = ?2 AND content_hash = ?3)",
            )
            .db()?
            .query_row(params![ix.id, ix.version, hash], |r| r.get(0))
            .db()?;
        let completes_served = |s: &Served| s.version == ix.version && s.partial && !p.partial;
        let completes = served.as_ref().filter(|s| completes_served(s));
        if seen && completes.is_none() {
            outcomes.push(PutOutcome::Duplicate);
            continue;
        }
        // A complete copy of the served version, which had arrived partial: it becomes the served
        // copy. With the same content the served rows stay; only the flag and the pointer change.
        if let Some(s) = completes.filter(|s| s.hash == *hash) {
            let seq = insert_version(&tx, p, received_us, "stored")?;
            tx.prepare_cached(
                "UPDATE records SET partial = 0, version_seq = ?2, received_us = ?3 WHERE rk = ?1",
            )
            .db()?
            .execute(params![s.rk, seq, received_us])
            .db()?;
            outcomes.push(PutOutcome::Stored);
            continue;
        }
        let serve = match &served {
            None => true,
            Some(s) => ix.version > s.version || completes_served(s),
        };
        let outcome = if serve {
            if p.partial {
                PutOutcome::Partial
            } else {
                PutOutcome::Stored
            }
        } else if served.as_ref().is_some_and(|s| s.version == ix.version) {
            PutOutcome::Conflict
        } else {
            PutOutcome::Stale
        };
        let seq = insert_version(&tx, p, received_us, outcome.as_str())?;
        if serve {
            serve_version(&tx, p, seq, received_us, served.map(|s| s.rk))?;
        }
        outcomes.push(outcome);
    }
    if outcomes.len() != n {
        return Err(StoreError::Backend(
            "preparing the batch failed part-way; nothing was stored".into(),
        ));
    }
    tx.commit().db()?;
    Ok(outcomes)
}

fn insert_version(
    tx: &rusqlite::Transaction<'_>,
    p: &Prepared,
    received_us: i64,
    outcome: &str,
) -> Result<i64, StoreError> {
    let ix = &p.ix;
    tx.prepare_cached(
        "INSERT INTO record_versions (record_id, version, last_modified, received_us, outcome, \
         partial, content_hash, raw_encoding, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .db()?
    .execute(params![
        ix.id,
        ix.version,
        ix.last_modified,
        received_us,
        outcome,
        p.partial,
        p.hash,
        p.raw_encoding,
        p.raw
    ])
    .db()?;
    Ok(tx.last_insert_rowid())
}

fn serve_version(
    tx: &rusqlite::Transaction<'_>,
    p: &Prepared,
    seq: i64,
    received_us: i64,
    existing: Option<i64>,
) -> Result<(), StoreError> {
    let (ix, hash, split) = (&p.ix, &p.hash, &p.split);
    let start_key = ix.start_us.unwrap_or(i64::MIN);
    let retention_key = ix.end_us.or(ix.start_us).unwrap_or(i64::MIN);
    let modalities = serde_json::to_string(&ix.modalities).unwrap_or_default();
    let tenant_ids = serde_json::to_string(&ix.tenant_ids).unwrap_or_default();
    let session_count = to_i64(split.sessions.len() as u64);
    let participant_count = to_i64(split.participants.len() as u64);
    if let Some(rk) = existing {
        for sql in [
            "DELETE FROM sessions WHERE rk = ?1",
            "DELETE FROM participants WHERE rk = ?1",
            "DELETE FROM record_participant_ids WHERE rk = ?1",
        ] {
            tx.prepare_cached(sql).db()?.execute([rk]).db()?;
        }
    }
    // One statement for a new record and for a newly served version of a known one (`rk` stays the same).
    let rk: i64 = tx
        .prepare_cached(
            "INSERT INTO records (id, version, version_seq, partial, content_hash, received_us, \
             last_modified, start_key, end_us, retention_key, call_type, modalities, \
             organizer_id, tenant_ids, session_count, participant_count, head_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
             version_seq = excluded.version_seq, partial = excluded.partial, \
             content_hash = excluded.content_hash, received_us = excluded.received_us, \
             last_modified = excluded.last_modified, start_key = excluded.start_key, \
             end_us = excluded.end_us, retention_key = excluded.retention_key, \
             call_type = excluded.call_type, modalities = excluded.modalities, \
             organizer_id = excluded.organizer_id, tenant_ids = excluded.tenant_ids, \
             session_count = excluded.session_count, \
             participant_count = excluded.participant_count, head_json = excluded.head_json \
             RETURNING rk",
        )
        .db()?
        .query_row(
            params![
                ix.id,
                ix.version,
                seq,
                p.partial,
                hash,
                received_us,
                ix.last_modified,
                start_key,
                ix.end_us,
                retention_key,
                ix.call_type,
                modalities,
                ix.organizer_id,
                tenant_ids,
                session_count,
                participant_count,
                split.head
            ],
            |row| row.get(0),
        )
        .db()?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO sessions (rk, ordinal, session_id, json, segments_at, segments) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .db()?;
        for (i, s) in split.sessions.iter().enumerate() {
            stmt.execute(params![
                rk,
                to_i64(i as u64),
                s.id,
                s.json,
                s.segments_at.map(|a| to_i64(a as u64)),
                s.segments
            ])
            .db()?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO participants (rk, ordinal, participant_id, json) VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?;
        for (i, p) in split.participants.iter().enumerate() {
            stmt.execute(params![rk, to_i64(i as u64), p.id, p.json])
                .db()?;
        }
    }
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO record_participant_ids (participant_id, rk) VALUES (?1, ?2)",
            )
            .db()?;
        for pid in &ix.participant_ids {
            stmt.execute(params![pid, rk]).db()?;
        }
    }
    Ok(())
}

fn session_from_row(r: &rusqlite::Row<'_>, with_segments: bool) -> rusqlite::Result<SessionRow> {
    let ordinal: i64 = r.get(0)?;
    let json: String = r.get(1)?;
    let json = if with_segments {
        let at: Option<i64> = r.get(2)?;
        let segments: Option<String> = r.get(3)?;
        match (at, segments) {
            (Some(at), Some(seg)) => splice_segments(&json, &seg, usize::try_from(at).unwrap_or(0)),
            _ => json,
        }
    } else {
        json
    };
    Ok(SessionRow {
        ordinal: to_u64(ordinal),
        json,
    })
}

/// The WHERE clause (after `WHERE`) and its parameters for a record query.
fn record_filter(q: &RecordQuery, with_cursor: bool) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("1");
    let mut params: Vec<SqlValue> = Vec::new();
    // ONE lower bound on start_key: with two (`> MIN` for "has a start" and the filter's own),
    // SQLite uses only the first for its index range and scans every record before the window.
    // Records without a start (start_key = MIN) never match a start bound, so the lower bound is
    // the stricter of `> MIN` and the filter's.
    let lower = match q.start_lower {
        Some(b) if b.micros > i64::MIN && b.inclusive => Some((b.micros, true)),
        Some(b) => Some((b.micros, false)),
        None if q.start_upper.is_some() => Some((i64::MIN, false)),
        None => None,
    };
    // Likewise the keyset cursor `(start_key, id) > (s, id)` is a lower bound: when it implies the
    // filter's (s past it), leave the filter's out so the index seek starts at the cursor.
    let cursor = q.after.as_ref().filter(|_| with_cursor);
    let implied = |(micros, inclusive): (i64, bool)| {
        cursor.is_some_and(|(s, _)| *s > micros || (*s == micros && inclusive))
    };
    if let Some((micros, inclusive)) = lower.filter(|l| !implied(*l)) {
        sql.push_str(if inclusive {
            " AND r.start_key >= ?"
        } else {
            " AND r.start_key > ?"
        });
        params.push(SqlValue::Integer(micros));
    }
    if let Some(b) = q.start_upper {
        sql.push_str(if b.inclusive {
            " AND r.start_key <= ?"
        } else {
            " AND r.start_key < ?"
        });
        params.push(SqlValue::Integer(b.micros));
    }
    for ids in &q.participant_ids {
        if ids.is_empty() {
            sql.push_str(" AND 0");
            continue;
        }
        sql.push_str(
            " AND r.rk IN (SELECT p.rk FROM record_participant_ids p WHERE p.participant_id IN (",
        );
        for (i, id) in ids.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ",?" });
            params.push(SqlValue::Text(id.clone()));
        }
        sql.push_str("))");
    }
    if let Some(cutoff) = q.end_after_us {
        sql.push_str(" AND r.retention_key >= ?");
        params.push(SqlValue::Integer(cutoff));
    }
    if let Some((start, id)) = cursor {
        // A row value, so SQLite seeks records_by_start (start_key, id) instead of scanning.
        sql.push_str(" AND (r.start_key, r.id) > (?, ?)");
        params.push(SqlValue::Integer(*start));
        params.push(SqlValue::Text(id.clone()));
    }
    (sql, params)
}

fn log_filter(kind: LogKind, q: &LogQuery) -> (&'static str, &'static str) {
    match (kind.time_property().is_some(), q.to_inclusive) {
        (true, true) => (
            "kind = ?1 AND time_us >= ?2 AND time_us <= ?3",
            "time_us, seq",
        ),
        (true, false) => (
            "kind = ?1 AND time_us >= ?2 AND time_us < ?3",
            "time_us, seq",
        ),
        (false, _) => (
            "kind = ?1 AND period_from_us >= ?2 AND period_to_us <= ?3",
            "period_from_us, seq",
        ),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_records(&self, batch: Vec<IncomingRecord>) -> Result<Vec<PutOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || put_pipelined(&inner, batch))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    async fn get_record(&self, id: &str) -> Result<Option<RecordHead>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {HEAD_COLS} FROM records r WHERE r.id = ?1"
            ))
            .db()?
            .query_row([id], head_from_row)
            .optional()
            .db()
        })
        .await
    }

    async fn page_sessions(
        &self,
        record_id: &str,
        after: Option<u64>,
        limit: usize,
        with_segments: bool,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let id = record_id.to_owned();
        self.read(move |c| {
            let cols = if with_segments {
                "s.ordinal, s.json, s.segments_at, s.segments"
            } else {
                "s.ordinal, s.json"
            };
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {cols} FROM records r JOIN sessions s ON s.rk = r.rk \
                     WHERE r.id = ?1 AND s.ordinal > ?2 ORDER BY s.ordinal LIMIT ?3"
                ))
                .db()?;
            let after = after.map_or(-1, to_i64);
            stmt.query_map(params![id, after, limit_i64(limit)], |r| {
                session_from_row(r, with_segments)
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()
        })
        .await
    }

    async fn get_session(
        &self,
        record_id: &str,
        session_id: &str,
        with_segments: bool,
    ) -> Result<Option<SessionRow>, StoreError> {
        let (id, sid) = (record_id.to_owned(), session_id.to_owned());
        self.read(move |c| {
            let cols = if with_segments {
                "s.ordinal, s.json, s.segments_at, s.segments"
            } else {
                "s.ordinal, s.json"
            };
            c.prepare_cached(&format!(
                "SELECT {cols} FROM records r JOIN sessions s ON s.rk = r.rk \
                 WHERE r.id = ?1 AND s.session_id = ?2 ORDER BY s.ordinal LIMIT 1"
            ))
            .db()?
            .query_row(params![id, sid], |r| session_from_row(r, with_segments))
            .optional()
            .db()
        })
        .await
    }

    async fn page_participants(
        &self,
        record_id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParticipantRow>, StoreError> {
        let id = record_id.to_owned();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT p.ordinal, p.json FROM records r JOIN participants p ON p.rk = r.rk \
                     WHERE r.id = ?1 AND p.ordinal > ?2 ORDER BY p.ordinal LIMIT ?3",
                )
                .db()?;
            let after = after.map_or(-1, to_i64);
            stmt.query_map(params![id, after, limit_i64(limit)], |r| {
                Ok(ParticipantRow {
                    ordinal: to_u64(r.get(0)?),
                    json: r.get(1)?,
                })
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()
        })
        .await
    }

    async fn get_participant(
        &self,
        record_id: &str,
        participant_id: &str,
    ) -> Result<Option<ParticipantRow>, StoreError> {
        let (id, pid) = (record_id.to_owned(), participant_id.to_owned());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT p.ordinal, p.json FROM records r JOIN participants p ON p.rk = r.rk \
                 WHERE r.id = ?1 AND p.participant_id = ?2 ORDER BY p.ordinal LIMIT 1",
            )
            .db()?
            .query_row(params![id, pid], |r| {
                Ok(ParticipantRow {
                    ordinal: to_u64(r.get(0)?),
                    json: r.get(1)?,
                })
            })
            .optional()
            .db()
        })
        .await
    }

    async fn list_records(&self, q: &RecordQuery) -> Result<Vec<RecordHead>, StoreError> {
        let (filter, mut params) = record_filter(q, true);
        params.push(SqlValue::Integer(limit_i64(q.limit)));
        self.read(move |c| {
            let sql = format!(
                "SELECT {HEAD_COLS} FROM records r WHERE {filter} \
                 ORDER BY r.start_key, r.id LIMIT ?"
            );
            let mut stmt = c.prepare_cached(&sql).db()?;
            stmt.query_map(rusqlite::params_from_iter(params), head_from_row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()
        })
        .await
    }

    async fn count_records(&self, q: &RecordQuery) -> Result<u64, StoreError> {
        let (filter, params) = record_filter(q, false);
        self.read(move |c| {
            let sql = format!("SELECT count(*) FROM records r WHERE {filter}");
            let n: i64 = c
                .prepare_cached(&sql)
                .db()?
                .query_row(rusqlite::params_from_iter(params), |r| r.get(0))
                .db()?;
            Ok(to_u64(n))
        })
        .await
    }

    async fn list_versions(&self, id: &str) -> Result<Vec<VersionInfo>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT v.version, v.last_modified, v.received_us, v.outcome, \
                     coalesce(r.version_seq = v.seq, 0) \
                     FROM record_versions v LEFT JOIN records r ON r.id = v.record_id \
                     WHERE v.record_id = ?1 ORDER BY v.version, v.seq",
                )
                .db()?;
            stmt.query_map([id], |r| {
                Ok(VersionInfo {
                    version: r.get(0)?,
                    last_modified: r.get(1)?,
                    received_at: callrecords_store::index::format_timestamp_us(r.get(2)?),
                    outcome: r.get(3)?,
                    served: r.get(4)?,
                })
            })
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db()
        })
        .await
    }

    async fn get_version(&self, id: &str, version: i64) -> Result<Option<String>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            let row: Option<(i64, Vec<u8>)> = c
                .prepare_cached(
                    "SELECT raw_encoding, raw FROM record_versions \
                     WHERE record_id = ?1 AND version = ?2 ORDER BY seq LIMIT 1",
                )
                .db()?
                .query_row(params![id, version], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .db()?;
            row.map(|(enc, raw)| decode_raw(enc, raw)).transpose()
        })
        .await
    }

    async fn put_log_rows(
        &self,
        kind: LogKind,
        rows: Vec<IncomingLogRow>,
        period: Option<(i64, i64)>,
    ) -> Result<Vec<LogOutcome>, StoreError> {
        let period = match (kind.time_property(), period) {
            (Some(_), _) => None,
            (None, Some((from, to))) if from <= to => Some((from, to)),
            (None, Some(_)) => {
                return Err(StoreError::InvalidInput(
                    "dial-out report period ends before it starts".into(),
                ));
            }
            (None, None) => {
                return Err(StoreError::InvalidInput(
                    "dial-out report rows need the period they cover".into(),
                ));
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |c, _| {
            let received_us = now_us();
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .db()?;
            let mut out = Vec::with_capacity(rows.len());
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO log_rows (kind, time_us, period_from_us, period_to_us, \
                         content_hash, received_us, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                         ON CONFLICT (kind, content_hash) DO NOTHING",
                    )
                    .db()?;
                for row in rows {
                    let time_us = kind
                        .time_property()
                        .and_then(|p| row.value.get(p))
                        .and_then(|v| v.as_str())
                        .and_then(parse_timestamp_us);
                    let mut key = canonical_json(&row.value);
                    if let Some((from, to)) = period {
                        key.push_str(&format!("\u{0}{from}\u{0}{to}"));
                    }
                    let hash = hash128(key.as_bytes()).to_vec();
                    let n = stmt
                        .execute(params![
                            kind.cli_name(),
                            time_us,
                            period.map(|p| p.0),
                            period.map(|p| p.1),
                            hash,
                            received_us,
                            row.raw
                        ])
                        .db()?;
                    out.push(if n == 0 {
                        LogOutcome::Duplicate
                    } else {
                        LogOutcome::Stored
                    });
                }
            }
            tx.commit().db()?;
            Ok(out)
        })
        .await
    }

    async fn query_log_rows(&self, kind: LogKind, q: &LogQuery) -> Result<Vec<String>, StoreError> {
        let q = *q;
        self.read(move |c| {
            let (filter, order) = log_filter(kind, &q);
            let sql = format!(
                "SELECT raw FROM log_rows WHERE {filter} ORDER BY {order} LIMIT ?4 OFFSET ?5"
            );
            let mut stmt = c.prepare_cached(&sql).db()?;
            stmt.query_map(
                params![
                    kind.cli_name(),
                    q.from_us,
                    q.to_us,
                    limit_i64(q.limit),
                    to_i64(q.skip)
                ],
                |r| r.get(0),
            )
            .db()?
            .collect::<rusqlite::Result<Vec<String>>>()
            .db()
        })
        .await
    }

    async fn count_log_rows(&self, kind: LogKind, q: &LogQuery) -> Result<u64, StoreError> {
        let q = *q;
        self.read(move |c| {
            let (filter, _) = log_filter(kind, &q);
            let n: i64 = c
                .prepare_cached(&format!("SELECT count(*) FROM log_rows WHERE {filter}"))
                .db()?
                .query_row(params![kind.cli_name(), q.from_us, q.to_us], |r| r.get(0))
                .db()?;
            Ok(to_u64(n))
        })
        .await
    }

    fn data_generation(&self) -> Result<u64, StoreError> {
        self.inner.generation.current()
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .db()
            .map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_deflate_state_round_trips() {
        let mut d = flate2::Compress::new(flate2::Compression::fast(), false);
        let big: String = (0..200_000).map(|i| format!("{{\"n\":{i}}}")).collect();
        for text in ["", "{}", "{\"id\":\"é\"}", big.as_str(), "{\"a\":1}"] {
            let (enc, bytes) = encode_raw_with(text, true, &mut d).unwrap();
            assert_eq!(decode_raw(enc, bytes).unwrap(), text);
            let (enc, bytes) = encode_raw_with(text, false, &mut d).unwrap();
            assert_eq!(decode_raw(enc, bytes).unwrap(), text);
        }
    }
}
