#![forbid(unsafe_code)]
//! The embedded SQLite backend of [`callrecords_store::Store`].
//!
//! One file, `DIR/callrecords.db`, in WAL mode with `synchronous=FULL`: a put is durable when it
//! returns. One writer connection behind a mutex (batches are one `BEGIN IMMEDIATE` transaction
//! each), a small pool of reader connections (each read that answers a request is one read
//! transaction: one snapshot), and every SQLite call on a blocking thread. Other processes
//! (`callrecords import` while `callrecords serve` runs) may open the same file: SQLite's file locks
//! plus a busy timeout serialise the writers.
//!
//! | module | owns |
//! |---|---|
//! | [`connection`] | opening connections, the migrations |
//! | [`backup`] | online backup (`VACUUM INTO`) and restore |
//! | `encoding` | the stored form of raw JSON (deflate) |
//! | `write` | preparing and writing record batches (the version rules applied) |
//! | `read` | record reads, version history, the change feed |
//! | `log_rows` | PSTN / direct routing / SMS / blocked-users / dial-out rows |
//! | `notifications` | consumer cursors, subscriptions, the notification outbox |
//! | `quality` | derived call-quality rows and counters, the building file |
//! | `erasure` | purging a record, redacting a user, the audit table |
//! | `generation` | `data_generation` (`PRAGMA data_version`) |
//! | `retention` | deleting records with all they own, and old log rows (`--retain`) |

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use callrecords_store::{
    AttemptResult, Change, CreateSubscription, IncomingLogRow, IncomingRecord, LogKind, LogOutcome,
    LogQuery, NewNotification, Notification, ParticipantRow, PutOutcome, ReadScope, RecordList,
    RecordQuery, RecordRead, RecordView, SessionRow, Store, StoreError, SubscriptionRow,
    SyncInboxItem, SyncStateRow, VersionInfo,
};
use rusqlite::{Connection, ErrorCode};

pub mod backup;
mod calls;
pub mod connection;
mod encoding;
mod erasure;
mod generation;
mod log_rows;
mod notifications;
mod quality;
mod read;
mod retention;
mod write;

pub use connection::SCHEMA_VERSION;
use connection::{migrate, open_connection};

/// The database file name inside the data directory.
pub const DB_FILE: &str = "callrecords.db";

/// Reads that run at once, each on a reader connection of its own; further reads wait for one to be free.
/// A fixed set of connections, kept open: opening one per read beyond a small idle pool (what this did
/// before) parsed the schema again and started from an empty page cache on every read under load.
fn max_readers() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    (cores * 4).clamp(4, 32)
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read that may run now ([`max_readers`]).
    read_slots: Arc<tokio::sync::Semaphore>,
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

impl SqliteStore {
    /// Open (creating if needed) `dir/callrecords.db` and bring its schema up to date.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_compression(dir, true)
    }

    /// Like [`SqliteStore::open`], choosing whether new raw JSON is deflated (reads handle both).
    pub fn open_with_compression(dir: &Path, compress: bool) -> Result<Self, StoreError> {
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
                read_slots: Arc::new(tokio::sync::Semaphore::new(max_readers())),
                compress,
                generation,
            }),
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
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.writer);
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        // The permit moves into the blocking task: a caller that gives up waiting does not free the
        // slot while its read still runs.
        let slot = self
            .inner
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Backend(format!("store closed: {e}")))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let pooled = lock(&inner.readers).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.path)?,
            };
            let out = f(&conn);
            // A connection left inside a transaction (a failed read) is not reused. With at most
            // `max_readers()` reads at once, the idle list never holds more connections than that.
            if conn.is_autocommit() {
                lock(&inner.readers).push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn put_records(
        &self,
        tenant: &str,
        batch: Vec<IncomingRecord>,
    ) -> Result<Vec<PutOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.inner.clone();
        let tenant = tenant.to_owned();
        tokio::task::spawn_blocking(move || write::put_pipelined(&inner, &tenant, batch, None))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
            .map(|(outcomes, _)| outcomes)
    }

    async fn put_records_deriving(
        &self,
        tenant: &str,
        batch: Vec<IncomingRecord>,
        quality: callrecords_store::quality::InlineQuality,
    ) -> Result<(Vec<PutOutcome>, bool), StoreError> {
        if batch.is_empty() {
            return Ok((Vec::new(), false));
        }
        let inner = self.inner.clone();
        let tenant = tenant.to_owned();
        tokio::task::spawn_blocking(move || {
            write::put_pipelined(&inner, &tenant, batch, Some(quality))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    async fn read_record(
        &self,
        scope: &ReadScope,
        id: &str,
        read: &RecordRead,
    ) -> Result<Option<RecordView>, StoreError> {
        let (scope, id, read) = (scope.clone(), id.to_owned(), read.clone());
        self.read(move |c| read::read_record(c, &scope, &id, &read))
            .await
    }

    async fn get_session(
        &self,
        scope: &ReadScope,
        record_id: &str,
        session_id: &str,
        with_segments: bool,
    ) -> Result<Option<SessionRow>, StoreError> {
        let (scope, id, sid) = (scope.clone(), record_id.to_owned(), session_id.to_owned());
        self.read(move |c| read::get_session(c, &scope, &id, &sid, with_segments))
            .await
    }

    async fn get_participant(
        &self,
        scope: &ReadScope,
        record_id: &str,
        participant_id: &str,
    ) -> Result<Option<ParticipantRow>, StoreError> {
        let (scope, id, pid) = (
            scope.clone(),
            record_id.to_owned(),
            participant_id.to_owned(),
        );
        self.read(move |c| read::get_participant(c, &scope, &id, &pid))
            .await
    }

    async fn list_records(
        &self,
        scope: &ReadScope,
        q: &RecordQuery,
        with_count: bool,
    ) -> Result<RecordList, StoreError> {
        let (scope, q) = (scope.clone(), q.clone());
        self.read(move |c| read::list_records(c, &scope, &q, with_count))
            .await
    }

    async fn count_records(&self, scope: &ReadScope, q: &RecordQuery) -> Result<u64, StoreError> {
        let (scope, q) = (scope.clone(), q.clone());
        self.read(move |c| read::count_records(c, &scope, &q)).await
    }

    async fn list_versions(
        &self,
        scope: &ReadScope,
        id: &str,
    ) -> Result<Vec<VersionInfo>, StoreError> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.read(move |c| read::list_versions(c, &scope, &id))
            .await
    }

    async fn get_version(
        &self,
        scope: &ReadScope,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, StoreError> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.read(move |c| read::get_version(c, &scope, &id, version))
            .await
    }

    async fn changes_after(&self, cursor: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        self.read(move |c| read::changes_after(c, cursor, limit))
            .await
    }

    async fn put_log_rows(
        &self,
        tenant: &str,
        kind: LogKind,
        rows: Vec<IncomingLogRow>,
        period: Option<(i64, i64)>,
    ) -> Result<Vec<LogOutcome>, StoreError> {
        let period = log_rows::check_period(kind, period)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let tenant = tenant.to_owned();
        self.write(move |c| log_rows::put_log_rows(c, &tenant, kind, rows, period))
            .await
    }

    async fn query_log_rows(
        &self,
        scope: &ReadScope,
        kind: LogKind,
        q: &LogQuery,
    ) -> Result<Vec<String>, StoreError> {
        let (scope, q) = (scope.clone(), *q);
        self.read(move |c| log_rows::query_log_rows(c, &scope, kind, &q))
            .await
    }

    fn data_generation(&self) -> Result<u64, StoreError> {
        self.inner.generation.current()
    }

    async fn consumer_cursor(&self, consumer: &str) -> Result<i64, StoreError> {
        let consumer = consumer.to_owned();
        self.read(move |c| notifications::consumer_cursor(c, &consumer))
            .await
    }

    async fn set_consumer_cursor(&self, consumer: &str, cursor: i64) -> Result<(), StoreError> {
        let consumer = consumer.to_owned();
        self.write(move |c| notifications::set_consumer_cursor(c, &consumer, cursor))
            .await
    }

    async fn sync_state(&self, tenant: &str) -> Result<Option<SyncStateRow>, StoreError> {
        let tenant = tenant.to_owned();
        self.read(move |c| notifications::sync_state(c, &tenant))
            .await
    }

    async fn put_sync_state(&self, row: &SyncStateRow) -> Result<(), StoreError> {
        let row = row.clone();
        self.write(move |c| notifications::put_sync_state(c, &row))
            .await
    }

    async fn list_sync_states(&self, scope: &ReadScope) -> Result<Vec<SyncStateRow>, StoreError> {
        let scope = scope.clone();
        self.read(move |c| notifications::list_sync_states(c, &scope))
            .await
    }

    async fn enqueue_sync_inbox(&self, items: Vec<SyncInboxItem>) -> Result<u64, StoreError> {
        if items.is_empty() {
            return Ok(0);
        }
        self.write(move |c| notifications::enqueue_sync_inbox(c, &items))
            .await
    }

    async fn due_sync_inbox(
        &self,
        tenant: &str,
        now_us: i64,
        limit: usize,
    ) -> Result<Vec<SyncInboxItem>, StoreError> {
        let tenant = tenant.to_owned();
        self.read(move |c| notifications::due_sync_inbox(c, &tenant, now_us, limit))
            .await
    }

    async fn count_sync_inbox(&self, tenant: &str) -> Result<u64, StoreError> {
        let tenant = tenant.to_owned();
        self.read(move |c| notifications::count_sync_inbox(c, &tenant))
            .await
    }

    async fn finish_sync_inbox(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
        retry_at_us: Option<i64>,
    ) -> Result<(), StoreError> {
        let (tenant, kind, id) = (tenant.to_owned(), kind.to_owned(), id.to_owned());
        self.write(move |c| notifications::finish_sync_inbox(c, &tenant, &kind, &id, retry_at_us))
            .await
    }

    async fn create_subscription(
        &self,
        sub: &SubscriptionRow,
        max_per_tenant: usize,
    ) -> Result<CreateSubscription, StoreError> {
        let sub = sub.clone();
        self.write(move |c| notifications::create_subscription(c, &sub, max_per_tenant))
            .await
    }

    async fn get_subscription(
        &self,
        scope: &ReadScope,
        id: &str,
    ) -> Result<Option<SubscriptionRow>, StoreError> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.read(move |c| notifications::get_subscription(c, &scope, &id))
            .await
    }

    async fn list_subscriptions(
        &self,
        scope: &ReadScope,
    ) -> Result<Vec<SubscriptionRow>, StoreError> {
        let scope = scope.clone();
        self.read(move |c| notifications::list_subscriptions(c, &scope))
            .await
    }

    async fn update_subscription(
        &self,
        scope: &ReadScope,
        sub: &SubscriptionRow,
    ) -> Result<bool, StoreError> {
        let (scope, sub) = (scope.clone(), sub.clone());
        self.write(move |c| notifications::update_subscription(c, &scope, &sub))
            .await
    }

    async fn delete_subscription(&self, scope: &ReadScope, id: &str) -> Result<bool, StoreError> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.write(move |c| notifications::delete_subscription(c, &scope, &id))
            .await
    }

    async fn enqueue_notifications(
        &self,
        consumer: &str,
        cursor: i64,
        batch: Vec<NewNotification>,
    ) -> Result<(), StoreError> {
        let consumer = consumer.to_owned();
        self.write(move |c| notifications::enqueue_notifications(c, &consumer, cursor, batch))
            .await
    }

    async fn claim_due_notifications(
        &self,
        now_us: i64,
        lease_us: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        self.write(move |c| notifications::claim_due_notifications(c, now_us, lease_us, limit))
            .await
    }

    async fn finish_attempt(&self, seq: i64, attempt: &AttemptResult) -> Result<(), StoreError> {
        let attempt = attempt.clone();
        self.write(move |c| notifications::finish_attempt(c, seq, &attempt))
            .await
    }

    async fn list_notifications(
        &self,
        scope: &ReadScope,
        subscription_id: &str,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let (scope, id) = (scope.clone(), subscription_id.to_owned());
        self.read(move |c| notifications::list_notifications(c, &scope, &id, limit))
            .await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT count(*) FROM notifications WHERE state = 'pending'")
                .db()?
                .query_row([], |r| r.get::<_, i64>(0))
                .db()
                .map(to_u64)
        })
        .await
    }

    fn quality(&self) -> Option<&dyn callrecords_store::quality::QualityStore> {
        Some(self)
    }

    async fn storage_size(
        &self,
        scope: &ReadScope,
    ) -> Result<Option<callrecords_store::StorageSize>, StoreError> {
        let scope = scope.clone();
        self.read(move |c| read::storage_size(c, &scope).map(Some))
            .await
    }

    async fn purge_record(
        &self,
        scope: &ReadScope,
        id: &str,
        audit: &callrecords_store::erasure::AuditEntry,
    ) -> Result<callrecords_store::erasure::ErasureReport, StoreError> {
        let (scope, id, audit) = (scope.clone(), id.to_owned(), audit.clone());
        self.write(move |c| erasure::purge(c, &scope, &id, &audit))
            .await
    }

    async fn redact_user(
        &self,
        scope: &ReadScope,
        redaction: &callrecords_store::erasure::Redaction,
        audit: &callrecords_store::erasure::AuditEntry,
    ) -> Result<callrecords_store::erasure::ErasureReport, StoreError> {
        let s = scope.clone();
        let user = redaction.user_id.clone();
        let (records, log_rows) = self
            .read(move |c| erasure::candidates(c, &s, &user))
            .await?;
        let inner = self.inner.clone();
        let (r, audit) = (redaction.clone(), audit.clone());
        tokio::task::spawn_blocking(move || {
            erasure::redact(&inner.writer, inner.compress, records, log_rows, &r, &audit)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }

    async fn erasure_audit(
        &self,
        limit: usize,
    ) -> Result<Vec<callrecords_store::erasure::AuditEntry>, StoreError> {
        self.read(move |c| erasure::audit_log(c, limit)).await
    }

    async fn schema_status(&self) -> Result<callrecords_store::SchemaStatus, StoreError> {
        Ok(callrecords_store::SchemaStatus {
            found: self.schema_version().await?,
            expected: SCHEMA_VERSION,
        })
    }

    async fn purge_expired(
        &self,
        cutoff_us: i64,
        limit: usize,
    ) -> Result<callrecords_store::PurgeCounts, StoreError> {
        self.write(move |c| retention::purge_expired(c, cutoff_us, limit))
            .await
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

#[async_trait]
impl callrecords_store::quality::QualityStore for SqliteStore {
    async fn quality_meta(&self) -> Result<callrecords_store::quality::QualityMeta, StoreError> {
        self.read(quality::meta).await
    }

    async fn replace_quality(
        &self,
        epoch: i64,
        consumer: &str,
        cursor: i64,
        updates: Vec<callrecords_store::quality::QualityUpdate>,
    ) -> Result<bool, StoreError> {
        let consumer = consumer.to_owned();
        self.write(move |c| quality::replace(c, epoch, &consumer, cursor, updates))
            .await
    }

    async fn reset_quality(
        &self,
        consumer: &str,
        buildings: Option<String>,
    ) -> Result<callrecords_store::quality::QualityMeta, StoreError> {
        let consumer = consumer.to_owned();
        self.write(move |c| quality::reset(c, &consumer, buildings))
            .await
    }

    async fn quality_totals(
        &self,
        scope: &ReadScope,
        window: callrecords_store::quality::QualityWindow,
        key: &str,
    ) -> Result<callrecords_store::quality::GroupTotals, StoreError> {
        let (scope, key) = (scope.clone(), key.to_owned());
        self.read(move |c| quality::totals(c, &scope, window, &key))
            .await
    }

    async fn quality_streams(
        &self,
        scope: &ReadScope,
        filter: &callrecords_store::quality::StreamFilter,
    ) -> Result<Vec<callrecords_store::quality::StoredStream>, StoreError> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.read(move |c| quality::streams(c, &scope, &filter))
            .await
    }

    async fn quality_missing_subnets(
        &self,
        scope: &ReadScope,
        window: callrecords_store::quality::QualityWindow,
        min: u64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let scope = scope.clone();
        self.read(move |c| quality::missing_subnets(c, &scope, window, min))
            .await
    }

    async fn quality_calls(
        &self,
        scope: &ReadScope,
        filter: &callrecords_store::calls::CallFilter,
    ) -> Result<callrecords_store::calls::CallPage, StoreError> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.read(move |c| calls::calls(c, &scope, &filter)).await
    }
}
