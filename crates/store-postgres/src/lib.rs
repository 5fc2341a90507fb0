#![forbid(unsafe_code)]
//! The PostgreSQL backend of [`callrecords_store::Store`] (PostgreSQL ≥ 15), for several `serve` nodes on one
//! database.
//!
//! tokio-postgres behind a deadpool-postgres pool; TLS via rustls when the URL says `sslmode=require`
//! (`disable` and `prefer` connect in the clear). The schema lives in the connection's `search_path`
//! (`options=-csearch_path%3D…` in the URL, or [`PgOptions::schema`]), created if missing, and is brought up to
//! date by versioned migrations ([`migrate`]). Only the subset of SQL that Citus, YugabyteDB and CockroachDB
//! also speak is used as the rule: row locks, `ON CONFLICT`, `FOR UPDATE SKIP LOCKED`, transaction-level
//! advisory locks for the migrations only, no `LISTEN/NOTIFY`, no session-level advisory locks.
//!
//! | module | owns |
//! |---|---|
//! | [`migrate`] | the migrations |
//! | `write` | record batches (the version rules applied; change-feed positions in commit order) |
//! | `read` | record reads, version history, the change feed |
//! | `log_rows` | PSTN / direct routing / SMS / blocked-users / dial-out rows |
//! | `notifications` | consumer cursors, subscriptions, the outbox, sync state, leases |
//! | `generation` | `data_generation` (a shared counter, and a poll of the write heads for other nodes) |
//!
//! Change-feed order: every record batch locks row 1 of `store_heads` (`SELECT … FOR UPDATE`) first and
//! assigns feed positions from its counter, so a position is never lower than one committed before it: a
//! reader that saved cursor `c` never skips a copy committed later with a position ≤ `c`. The price is one
//! record-writing transaction at a time across all nodes (as SQLite's single writer); reads, log rows, the
//! outbox and subscriptions do not wait for it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callrecords_store::{
    AttemptResult, Change, CreateSubscription, IncomingLogRow, IncomingRecord, LogKind, LogOutcome,
    LogQuery, NewNotification, Notification, ParticipantRow, PutOutcome, ReadScope, RecordList,
    RecordQuery, RecordRead, RecordView, SessionRow, Store, StoreError, SubscriptionRow,
    SyncInboxItem, SyncStateRow, VersionInfo,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

mod erasure;
mod generation;
mod log_rows;
pub mod migrate;
mod notifications;
mod quality;
mod read;
mod retention;
mod write;

pub use migrate::SCHEMA_VERSION;

/// Connections kept by the pool (per process).
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How often other nodes' writes are looked for ([`Store::data_generation`]): the bound on how long a response
/// cached on this node can outlive a write committed by another node.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long a caller waits for a pooled connection before the store answers `Busy`.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// Whether a `--database-url` / `CALLRECORDS_DATABASE_URL` value names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// How to open a [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/dbname?sslmode=…` (libpq's URL or key=value form).
    pub url: String,
    /// The schema to keep the tables in (created if missing); `None` uses the connection's `search_path`.
    pub schema: Option<String>,
    pub pool_size: usize,
    /// See [`DEFAULT_POLL_INTERVAL`].
    pub poll_interval: Duration,
    /// The connections' `application_name` (default `callrecords`, unless the URL names one).
    pub application_name: Option<String>,
}

impl PgOptions {
    /// The defaults for `url`.
    pub fn new(url: &str) -> Self {
        PgOptions {
            url: url.to_owned(),
            schema: None,
            pool_size: DEFAULT_POOL_SIZE,
            poll_interval: DEFAULT_POLL_INTERVAL,
            application_name: None,
        }
    }
}

/// The PostgreSQL store. Cheap to clone (one pool).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    generation: generation::Generation,
    /// Where the data lives, for messages (no password).
    display: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.inner.display)
            .finish_non_exhaustive()
    }
}

/// A quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let busy = [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::QUERY_CANCELED,
        ];
        let msg = format!("{} ({})", db.message(), code.code());
        if busy.contains(code) {
            return StoreError::Busy(msg);
        }
        // Class 22 (data exception): a value the database cannot hold (a NUL character in text, …).
        if code.code().starts_with("22") {
            return StoreError::InvalidInput(msg);
        }
        return StoreError::Backend(msg);
    }
    if e.is_closed() {
        return StoreError::Busy(format!("database connection lost: {e}"));
    }
    StoreError::Backend(with_causes(&e))
}

/// An error and its causes, `a: b: c` (tokio-postgres keeps the reason a TLS handshake or a connection
/// failed in the source).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// Of the errors of statements sent together (pipelined) in one transaction, the one that says what went
/// wrong: once one fails, the others only report that the transaction is aborted (25P02), in whatever
/// order they ran.
pub(crate) fn first_cause(errors: impl IntoIterator<Item = Option<StoreError>>) -> StoreError {
    let mut aborted = None;
    for e in errors.into_iter().flatten() {
        match &e {
            StoreError::Backend(m) if m.ends_with("(25P02)") => aborted = aborted.or(Some(e)),
            _ => return e,
        }
    }
    aborted.unwrap_or_else(|| StoreError::Backend("a pipelined statement failed".into()))
}

pub(crate) trait SqlResult<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> SqlResult<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(map_err)
    }
}

pub(crate) fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn tls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(StoreError::Backend(
            "sslmode=require but no CA certificates were found on this system".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl PgStore {
    /// Connect to `url` with the defaults ([`PgOptions::new`]) and bring the schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgOptions::new(url)).await
    }

    /// Connect as `opts` says and bring the schema up to date.
    pub async fn connect_with(opts: PgOptions) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(&opts.url)
            .map_err(|e| StoreError::InvalidInput(format!("bad database URL: {e}")))?;
        if let Some(name) = &opts.application_name {
            config.application_name(name);
        } else if config.get_application_name().is_none() {
            config.application_name("callrecords");
        }
        if let Some(schema) = &opts.schema {
            let mut options = config.get_options().unwrap_or_default().to_owned();
            if !options.is_empty() {
                options.push(' ');
            }
            // libpq's options: backslash escapes a space or a backslash.
            let path = quote_ident(schema)
                .replace('\\', "\\\\")
                .replace(' ', "\\ ");
            options.push_str(&format!("-c search_path={path}"));
            config.options(&options);
        }
        let display = format!(
            "{:?}:{:?}/{}{}",
            config.get_hosts(),
            config.get_ports(),
            config.get_dbname().unwrap_or(""),
            opts.schema
                .as_deref()
                .map(|s| format!(" schema {s}"))
                .unwrap_or_default()
        );
        let identity = format!(
            "{display}|{}|{}",
            config.get_user().unwrap_or(""),
            config.get_options().unwrap_or("")
        );
        let mgr_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.get_ssl_mode() == SslMode::Require {
            Manager::from_config(config, tls_connector()?, mgr_config)
        } else {
            Manager::from_config(config, tokio_postgres::NoTls, mgr_config)
        };
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))?;
        let writes: i64 = {
            let mut client = get(&pool).await?;
            migrate::migrate(&mut client, opts.schema.as_deref()).await?;
            client
                .query_one(
                    "SELECT coalesce(sum(writes), 0)::bigint FROM store_heads",
                    &[],
                )
                .await
                .db()?
                .get(0)
        };
        let generation =
            generation::Generation::start(identity, pool.clone(), opts.poll_interval, writes);
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                generation,
                display,
            }),
        })
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let c = self.client().await?;
        migrate::applied(&c).await
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        get(&self.inner.pool).await
    }

    /// Count a commit of this process (every handle on the same database in this process sees it at once).
    pub(crate) fn committed(&self) {
        self.inner.generation.bump();
    }
}

pub(crate) async fn get(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    use deadpool_postgres::PoolError;
    pool.get().await.map_err(|e| match e {
        PoolError::Timeout(_) => StoreError::Busy("no database connection free".into()),
        PoolError::Backend(e) => match map_err(e) {
            // Cannot connect: the database is down or refuses us; retrying later may work.
            StoreError::Backend(m) => StoreError::Busy(format!("database unreachable: {m}")),
            other => other,
        },
        other => StoreError::Backend(format!("connection pool: {other}")),
    })
}

#[async_trait]
impl Store for PgStore {
    async fn put_records(
        &self,
        tenant: &str,
        batch: Vec<IncomingRecord>,
    ) -> Result<Vec<PutOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let prepared = write::prepare(batch).await?;
        let mut c = self.client().await?;
        let (outcomes, wrote) = write::put_batch(&mut c, tenant, prepared).await?;
        if wrote {
            self.committed();
        }
        Ok(outcomes)
    }

    async fn read_record(
        &self,
        scope: &ReadScope,
        id: &str,
        read: &RecordRead,
    ) -> Result<Option<RecordView>, StoreError> {
        let c = self.client().await?;
        read::read_record(&c, scope, id, read).await
    }

    async fn get_session(
        &self,
        scope: &ReadScope,
        record_id: &str,
        session_id: &str,
        with_segments: bool,
    ) -> Result<Option<SessionRow>, StoreError> {
        let c = self.client().await?;
        read::get_session(&c, scope, record_id, session_id, with_segments).await
    }

    async fn get_participant(
        &self,
        scope: &ReadScope,
        record_id: &str,
        participant_id: &str,
    ) -> Result<Option<ParticipantRow>, StoreError> {
        let c = self.client().await?;
        read::get_participant(&c, scope, record_id, participant_id).await
    }

    async fn list_records(
        &self,
        scope: &ReadScope,
        q: &RecordQuery,
        with_count: bool,
    ) -> Result<RecordList, StoreError> {
        let mut c = self.client().await?;
        read::list_records(&mut c, scope, q, with_count).await
    }

    async fn count_records(&self, scope: &ReadScope, q: &RecordQuery) -> Result<u64, StoreError> {
        let c = self.client().await?;
        read::count(&c, scope, q).await
    }

    async fn list_versions(
        &self,
        scope: &ReadScope,
        id: &str,
    ) -> Result<Vec<VersionInfo>, StoreError> {
        let mut c = self.client().await?;
        read::list_versions(&mut c, scope, id).await
    }

    async fn get_version(
        &self,
        scope: &ReadScope,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        read::get_version(&c, scope, id, version).await
    }

    async fn changes_after(&self, cursor: i64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let c = self.client().await?;
        read::changes_after(&c, cursor, limit).await
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
        let mut c = self.client().await?;
        let (out, wrote) = log_rows::put_log_rows(&mut c, tenant, kind, rows, period).await?;
        if wrote {
            self.committed();
        }
        Ok(out)
    }

    async fn query_log_rows(
        &self,
        scope: &ReadScope,
        kind: LogKind,
        q: &LogQuery,
    ) -> Result<Vec<String>, StoreError> {
        let c = self.client().await?;
        log_rows::query_log_rows(&c, scope, kind, q).await
    }

    fn data_generation(&self) -> Result<u64, StoreError> {
        Ok(self.inner.generation.current())
    }

    fn quality(&self) -> Option<&dyn callrecords_store::quality::QualityStore> {
        Some(self)
    }

    async fn consumer_cursor(&self, consumer: &str) -> Result<i64, StoreError> {
        let c = self.client().await?;
        notifications::consumer_cursor(&c, consumer).await
    }

    async fn set_consumer_cursor(&self, consumer: &str, cursor: i64) -> Result<(), StoreError> {
        let c = self.client().await?;
        notifications::save_cursor(&c, consumer, cursor).await
    }

    async fn sync_state(&self, tenant: &str) -> Result<Option<SyncStateRow>, StoreError> {
        let c = self.client().await?;
        notifications::sync_state(&c, tenant).await
    }

    async fn put_sync_state(&self, row: &SyncStateRow) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        notifications::put_sync_state(&mut c, row).await?;
        self.committed();
        Ok(())
    }

    async fn list_sync_states(&self, scope: &ReadScope) -> Result<Vec<SyncStateRow>, StoreError> {
        let c = self.client().await?;
        notifications::list_sync_states(&c, scope).await
    }

    async fn enqueue_sync_inbox(&self, items: Vec<SyncInboxItem>) -> Result<u64, StoreError> {
        let mut c = self.client().await?;
        let added = notifications::enqueue_sync_inbox(&mut c, &items).await?;
        self.committed();
        Ok(added)
    }

    async fn due_sync_inbox(
        &self,
        tenant: &str,
        now_us: i64,
        limit: usize,
    ) -> Result<Vec<SyncInboxItem>, StoreError> {
        let c = self.client().await?;
        notifications::due_sync_inbox(&c, tenant, now_us, limit).await
    }

    async fn count_sync_inbox(&self, tenant: &str) -> Result<u64, StoreError> {
        let c = self.client().await?;
        notifications::count_sync_inbox(&c, tenant).await
    }

    async fn finish_sync_inbox(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
        retry_at_us: Option<i64>,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        notifications::finish_sync_inbox(&c, tenant, kind, id, retry_at_us).await?;
        self.committed();
        Ok(())
    }

    async fn create_subscription(
        &self,
        sub: &SubscriptionRow,
        max_per_tenant: usize,
    ) -> Result<CreateSubscription, StoreError> {
        let mut c = self.client().await?;
        let out = notifications::create_subscription(&mut c, sub, max_per_tenant).await?;
        if out == CreateSubscription::Created {
            self.committed();
        }
        Ok(out)
    }

    async fn get_subscription(
        &self,
        scope: &ReadScope,
        id: &str,
    ) -> Result<Option<SubscriptionRow>, StoreError> {
        let c = self.client().await?;
        notifications::get_subscription(&c, scope, id).await
    }

    async fn list_subscriptions(
        &self,
        scope: &ReadScope,
    ) -> Result<Vec<SubscriptionRow>, StoreError> {
        let c = self.client().await?;
        notifications::list_subscriptions(&c, scope).await
    }

    async fn update_subscription(
        &self,
        scope: &ReadScope,
        sub: &SubscriptionRow,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let done = notifications::update_subscription(&mut c, scope, sub).await?;
        if done {
            self.committed();
        }
        Ok(done)
    }

    async fn delete_subscription(&self, scope: &ReadScope, id: &str) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let done = notifications::delete_subscription(&mut c, scope, id).await?;
        if done {
            self.committed();
        }
        Ok(done)
    }

    async fn enqueue_notifications(
        &self,
        consumer: &str,
        cursor: i64,
        batch: Vec<NewNotification>,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        notifications::enqueue_notifications(&mut c, consumer, cursor, batch).await
    }

    async fn claim_due_notifications(
        &self,
        now_us: i64,
        lease_us: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let c = self.client().await?;
        notifications::claim_due_notifications(&c, now_us, lease_us, limit).await
    }

    async fn finish_attempt(&self, seq: i64, attempt: &AttemptResult) -> Result<(), StoreError> {
        let c = self.client().await?;
        notifications::finish_attempt(&c, seq, attempt).await
    }

    async fn list_notifications(
        &self,
        scope: &ReadScope,
        subscription_id: &str,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let c = self.client().await?;
        notifications::list_notifications(&c, scope, subscription_id, limit).await
    }

    async fn outbox_depth(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT count(*) FROM notifications WHERE state = 'pending'",
                &[],
            )
            .await
            .db()?;
        Ok(to_u64(row.get::<_, i64>(0)))
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_us: i64,
        ttl_us: i64,
    ) -> Result<bool, StoreError> {
        let c = self.client().await?;
        notifications::try_lease(&c, name, holder, now_us, ttl_us).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        notifications::release_lease(&c, name, holder).await
    }

    async fn purge_record(
        &self,
        scope: &ReadScope,
        id: &str,
        audit: &callrecords_store::erasure::AuditEntry,
    ) -> Result<callrecords_store::erasure::ErasureReport, StoreError> {
        let mut c = self.client().await?;
        let report = erasure::purge(&mut c, scope, id, audit).await?;
        self.committed();
        erasure::vacuum(&c).await?;
        Ok(report)
    }

    async fn redact_user(
        &self,
        scope: &ReadScope,
        redaction: &callrecords_store::erasure::Redaction,
        audit: &callrecords_store::erasure::AuditEntry,
    ) -> Result<callrecords_store::erasure::ErasureReport, StoreError> {
        let mut c = self.client().await?;
        let report = erasure::redact(&mut c, scope, redaction, audit).await;
        // Some batches may have committed before an error.
        self.committed();
        let report = report?;
        erasure::vacuum(&c).await?;
        Ok(report)
    }

    async fn erasure_audit(
        &self,
        limit: usize,
    ) -> Result<Vec<callrecords_store::erasure::AuditEntry>, StoreError> {
        let c = self.client().await?;
        erasure::audit_log(&c, limit).await
    }

    async fn schema_status(&self) -> Result<callrecords_store::SchemaStatus, StoreError> {
        Ok(callrecords_store::SchemaStatus {
            found: self.schema_version().await?,
            expected: migrate::SCHEMA_VERSION,
        })
    }

    async fn purge_expired(
        &self,
        cutoff_us: i64,
        limit: usize,
    ) -> Result<callrecords_store::PurgeCounts, StoreError> {
        let mut c = self.client().await?;
        let out = retention::purge_expired(&mut c, cutoff_us, limit).await?;
        if !out.is_empty() {
            self.committed();
        }
        Ok(out)
    }

    async fn health(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.simple_query("SELECT 1").await.db().map(|_| ())
    }
}

pub mod testing;

#[async_trait]
impl callrecords_store::quality::QualityStore for PgStore {
    async fn quality_meta(&self) -> Result<callrecords_store::quality::QualityMeta, StoreError> {
        let c = self.client().await?;
        quality::meta(&c).await
    }

    async fn replace_quality(
        &self,
        epoch: i64,
        consumer: &str,
        cursor: i64,
        updates: Vec<callrecords_store::quality::QualityUpdate>,
    ) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let done = quality::replace(&mut c, epoch, consumer, cursor, updates).await?;
        if done {
            self.committed();
        }
        Ok(done)
    }

    async fn reset_quality(
        &self,
        consumer: &str,
        buildings: Option<String>,
    ) -> Result<callrecords_store::quality::QualityMeta, StoreError> {
        let mut c = self.client().await?;
        let m = quality::reset(&mut c, consumer, buildings).await?;
        self.committed();
        Ok(m)
    }

    async fn quality_totals(
        &self,
        scope: &ReadScope,
        window: callrecords_store::quality::QualityWindow,
        key: &str,
    ) -> Result<callrecords_store::quality::GroupTotals, StoreError> {
        let c = self.client().await?;
        quality::totals(&c, scope, window, key).await
    }

    async fn quality_streams(
        &self,
        scope: &ReadScope,
        filter: &callrecords_store::quality::StreamFilter,
    ) -> Result<Vec<callrecords_store::quality::StoredStream>, StoreError> {
        let c = self.client().await?;
        quality::streams(&c, scope, filter).await
    }

    async fn quality_missing_subnets(
        &self,
        scope: &ReadScope,
        window: callrecords_store::quality::QualityWindow,
        min: u64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let c = self.client().await?;
        quality::missing_subnets(&c, scope, window, min).await
    }

    async fn quality_calls(
        &self,
        scope: &ReadScope,
        filter: &callrecords_store::calls::CallFilter,
    ) -> Result<callrecords_store::calls::CallPage, StoreError> {
        let mut c = self.client().await?;
        quality::calls(&mut c, scope, filter).await
    }
}
