#![forbid(unsafe_code)]
//! The storage seam of `callrecords`: one trait ([`Store`]) with a method per use case, the
//! backend-neutral filter model ([`RecordQuery`], [`LogQuery`]), the version rules every backend
//! applies ([`rules`]), the change feed ([`Change`]), read scopes ([`ReadScope`]), and what every
//! backend extracts from a record before storing it ([`extract`]). The suite every backend passes is
//! the `callrecords-store-conformance` crate.

use std::fmt;

use async_trait::async_trait;
pub use callrecords_model::LogKind;
use serde_json::Value;

pub mod calls;
pub mod erasure;
pub mod extract;
mod outbox;
pub mod quality;
pub mod rules;

pub use outbox::{
    AttemptResult, CreateSubscription, DeliveryState, NewNotification, NextStep, Notification,
    NotificationKind, SubscriptionRow,
};

/// Everything a store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing addressed does not exist (most lookups return `Ok(None)` instead).
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller passed something the store cannot accept (bad id, missing version, bad period, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database is locked by another writer or overloaded; retrying later may succeed (HTTP 503).
    #[error("store busy: {0}")]
    Busy(String),
    /// The database is too new for this code, or was written by something else.
    #[error("incompatible database: {0}")]
    Incompatible(String),
    /// Any other backend failure (I/O, corruption, a bug).
    #[error("storage backend failure: {0}")]
    Backend(String),
}

/// A call record as received, ready to be stored.
#[derive(Debug, Clone)]
pub struct IncomingRecord {
    /// The record's JSON text exactly as received (kept byte for byte in the version history).
    pub raw: String,
    /// The parsed object, OData control annotations (`@odata.context`, `…@odata.nextLink`, …)
    /// already removed by the caller. It is an object with a string `id` and an integer `version`.
    pub value: Value,
    /// It arrived with `sessions@odata.nextLink` or `participants_v2@odata.nextLink`, so its
    /// sessions or participants are incomplete.
    pub partial: bool,
}

impl IncomingRecord {
    /// A record received as the text of `value` (what a test or a generator has as a value): control
    /// annotations stripped, `partial` when it carried a nested nextLink.
    pub fn from_value(mut value: Value) -> Self {
        let raw = value.to_string();
        let partial = callrecords_model::validate::strip_control_annotations(&mut value);
        IncomingRecord {
            raw,
            value,
            partial,
        }
    }
}

/// What happened to one [`IncomingRecord`].
///
/// Precedence when several apply: `Duplicate` > `Stale` > `Conflict` > `Partial` > `Stored`
/// (`Partial` is reported instead of `Stored` for a partial record that became the served copy;
/// a partial copy that conflicts or is stale is reported `Conflict` / `Stale`).
///
/// One exception to `Duplicate`: when the served copy of a version arrived partial, a complete
/// (non-partial) copy of that version always replaces it and is reported `Stored`, even if the same
/// content had been received before (as a partial copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PutOutcome {
    /// Stored and now the served version.
    Stored,
    /// The same (id, version) with the same content was already stored; nothing was written.
    Duplicate,
    /// The same (id, version) with different content: kept in history, the first copy stays served.
    Conflict,
    /// Older than the served version: kept in history, never served.
    Stale,
    /// A partial record (nested nextLink) that became the served copy.
    Partial,
}

impl PutOutcome {
    /// `stored`, `duplicate`, `conflict`, `stale` or `partial`.
    pub fn as_str(self) -> &'static str {
        match self {
            PutOutcome::Stored => "stored",
            PutOutcome::Duplicate => "duplicate",
            PutOutcome::Conflict => "conflict",
            PutOutcome::Stale => "stale",
            PutOutcome::Partial => "partial",
        }
    }
}

impl fmt::Display for PutOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tenant a record, log row or subscription belongs to when its writer names none: the nil GUID (see
/// `docs/decisions.md`). Single-tenant deployments never need to say more.
pub const DEFAULT_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// Which tenants a read may see. Every read method takes one; a record of another tenant is
/// indistinguishable from a missing one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadScope {
    /// Every tenant (no authentication, or an administrator).
    All,
    /// One tenant only.
    Tenant(String),
}

impl ReadScope {
    /// The one tenant this scope is limited to, if any.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            ReadScope::All => None,
            ReadScope::Tenant(t) => Some(t),
        }
    }
}

/// The served version of a record, without its sessions and participants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    /// The tenant the record belongs to.
    pub tenant: String,
    pub id: String,
    pub version: i64,
    /// Which stored copy this is: the change-feed position of the version served (see
    /// [`Store::changes_after`]). A nextLink pins its pages to it, so a record that gains a version
    /// between two pages never mixes two versions ([`RecordRead::pin`]).
    pub revision: i64,
    /// The record object WITHOUT `sessions` and `participants_v2` (and their `@odata` annotations),
    /// everything else as received, in the original key order.
    pub json: String,
    pub session_count: u64,
    pub participant_count: u64,
    /// `startDateTime` in µs since the epoch, when present and parseable.
    pub start_us: Option<i64>,
    /// `endDateTime` in µs since the epoch, when present and parseable.
    pub end_us: Option<i64>,
    /// The copy read arrived with a nested nextLink.
    pub partial: bool,
}

/// One session of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// 0-based position in the record's `sessions` array (the key; session ids may repeat).
    pub ordinal: u64,
    /// The session object, without `segments` unless asked for (then with them in their original place).
    pub json: String,
}

/// One entry of a record's `participants_v2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantRow {
    /// 0-based position in the record's `participants_v2` array.
    pub ordinal: u64,
    pub json: String,
}

/// A window of a record's sessions or participants: those strictly after ordinal `after`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub after: Option<u64>,
    pub limit: usize,
}

impl Window {
    /// The first `limit` items.
    pub fn first(limit: usize) -> Self {
        Window { after: None, limit }
    }
}

/// What one response needs of one record, read from one snapshot by [`Store::read_record`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordRead {
    /// Sessions to include (none when `None`).
    pub sessions: Option<Window>,
    /// Include each session's `segments`.
    pub with_segments: bool,
    /// Participants (`participants_v2`) to include (none when `None`).
    pub participants: Option<Window>,
    /// Read this stored copy ([`RecordHead::revision`]) instead of the served one — for the later pages
    /// of a nextLink issued while it was served. A revision that is not a copy of this record reads as
    /// absent.
    pub pin: Option<i64>,
}

/// A record as one response needs it, all parts from the same snapshot and the same stored copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView {
    pub head: RecordHead,
    pub sessions: Vec<SessionRow>,
    pub participants: Vec<ParticipantRow>,
}

/// One end of a `startDateTime` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub micros: i64,
    pub inclusive: bool,
}

/// The position of a record in list order: (`startDateTime` µs — `i64::MIN` when absent, id, tenant).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListCursor {
    pub start_us: i64,
    pub id: String,
    pub tenant: String,
}

impl ListCursor {
    /// The position of `head`.
    pub fn of(head: &RecordHead) -> Self {
        ListCursor {
            start_us: head.start_us.unwrap_or(i64::MIN),
            id: head.id.clone(),
            tenant: head.tenant.clone(),
        }
    }
}

/// The list-records filter, ordered by (`startDateTime`, `id`, tenant) ascending. Records without a
/// `startDateTime` sort first (as `i64::MIN`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordQuery {
    /// Lower bound on `startDateTime` (`gt` / `ge`).
    pub start_lower: Option<Bound>,
    /// Upper bound on `startDateTime` (`lt` / `le`).
    pub start_upper: Option<Bound>,
    /// Every inner list must match; a record matches an inner list when any of its
    /// `participants_v2` ids or its `organizer_v2` id is in it. An empty inner list matches nothing.
    pub participant_ids: Vec<Vec<String>>,
    /// Retention: exclude records whose `endDateTime` (or `startDateTime` when there is no end) is
    /// older than this (records with neither are excluded too).
    pub end_after_us: Option<i64>,
    /// Keyset cursor: only records strictly after this position.
    pub after: Option<ListCursor>,
    /// Page size.
    pub limit: usize,
}

/// One page of [`Store::list_records`], and the total when it was asked for — from one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordList {
    pub heads: Vec<RecordHead>,
    /// How many records match the query ignoring `after` and `limit` (when asked for).
    pub count: Option<u64>,
}

/// One stored copy of a record version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: i64,
    /// The copy's change-feed position ([`RecordHead::revision`]).
    pub revision: i64,
    /// `lastModifiedDateTime` as received.
    pub last_modified: Option<String>,
    /// When it was received, RFC 3339 UTC.
    pub received_at: String,
    /// What happened when it arrived: `Stored`, `Partial`, `Conflict` or `Stale` (duplicates are not kept).
    pub outcome: PutOutcome,
    /// This copy is the one served.
    pub served: bool,
}

/// What a stored copy did to its record, as the change feed reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The record's first served copy: it is new.
    Created,
    /// A newer version became the served copy.
    Updated,
    /// A complete copy replaced a partial one of the same version (same version, more content).
    Completed,
    /// An older version arrived: kept in history, never served.
    Stale,
    /// The served version again with different content: kept in history, not served.
    Conflict,
}

impl ChangeKind {
    /// Whether this copy became the served one.
    pub fn served(self) -> bool {
        matches!(
            self,
            ChangeKind::Created | ChangeKind::Updated | ChangeKind::Completed
        )
    }

    /// `created`, `updated`, `completed`, `stale` or `conflict`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Completed => "completed",
            ChangeKind::Stale => "stale",
            ChangeKind::Conflict => "conflict",
        }
    }

    /// The inverse of [`ChangeKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => ChangeKind::Created,
            "updated" => ChangeKind::Updated,
            "completed" => ChangeKind::Completed,
            "stale" => ChangeKind::Stale,
            "conflict" => ChangeKind::Conflict,
            _ => return None,
        })
    }
}

/// One entry of the change feed: a stored copy of a record version, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The position in the feed (strictly increasing in commit order); pass it back to
    /// [`Store::changes_after`] to read on from here. Also the copy's [`RecordHead::revision`].
    pub cursor: i64,
    pub tenant: String,
    pub record_id: String,
    pub version: i64,
    pub kind: ChangeKind,
    /// The copy arrived with a nested nextLink (its sessions or participants are incomplete).
    pub partial: bool,
    /// When it was committed, µs since the epoch.
    pub received_us: i64,
}

/// A log row (PSTN call, direct routing call, SMS, blocked user, dial-out report) as received.
#[derive(Debug, Clone)]
pub struct IncomingLogRow {
    /// The row's JSON text exactly as received.
    pub raw: String,
    /// The parsed row object (OData annotations removed by the caller).
    pub value: Value,
}

/// What happened to one [`IncomingLogRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogOutcome {
    Stored,
    /// The same kind and content (and, for dial-out rows, the same period) was already stored.
    Duplicate,
}

/// A log-row query: rows dated by `kind.time_property()` in `[from, to]` / `[from, to)`; dial-out
/// rows whose stored period lies within `[from, to]`. Ordered by (time, insertion order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogQuery {
    pub from_us: i64,
    pub to_us: i64,
    pub to_inclusive: bool,
    /// Rows to skip (`$skip`).
    pub skip: u64,
    /// Page size.
    pub limit: usize,
}

/// A tenant's sync bookkeeping (`callrecords sync`): the cursor, pending ids and counts, as JSON whose shape
/// the sync crate owns. Saved after what it covers is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStateRow {
    pub tenant: String,
    /// The state as a JSON object (opaque to the store).
    pub state: String,
    /// When it was saved, µs since the epoch.
    pub updated_us: i64,
}

/// One entry of a tenant's sync inbox: what a change notification (or a lifecycle notification) asked
/// `callrecords sync` to do, queued durably by the webhook receiver of `serve` and drained by `sync`.
/// The key is (tenant, kind, id): queueing an entry that is already queued changes nothing, so repeated
/// deliveries of one notification (delivery is at least once) and several notifications of one record
/// before it is fetched make one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInboxItem {
    pub tenant: String,
    /// `record` (a call record to fetch) or a lifecycle event (`reauthorizationRequired`,
    /// `subscriptionRemoved`, `missed`).
    pub kind: String,
    /// The record id (kind `record`) or the subscription id (lifecycle events).
    pub id: String,
    /// The subscription that notified.
    pub subscription_id: String,
    /// When it was first queued, µs since the epoch.
    pub received_us: i64,
    /// Not before this instant (µs): a record that answered 404 waits before its next try.
    pub due_us: i64,
    /// Tries so far.
    pub attempts: u32,
}

/// The storage of call records and log rows. Used as `Arc<dyn Store>`.
///
/// Semantics live in this crate, storage in the backends: a backend decides what to do with an incoming copy
/// by calling [`rules::decide`], and every backend passes the same conformance suite
/// (`callrecords-store-conformance`). Every read takes a [`ReadScope`]; every write names its tenant. Each
/// method that answers a request reads from one snapshot: what it returns was all true at one moment.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Store a batch of `tenant`'s records in one transaction, durable on return. Outcomes in input order.
    async fn put_records(
        &self,
        tenant: &str,
        batch: Vec<IncomingRecord>,
    ) -> Result<Vec<PutOutcome>, StoreError>;

    /// [`Store::put_records`], and, in the same transaction, the quality rows the writer derived from the
    /// batch ([`quality::InlineQuality`]) — but only when the quality deriver is caught up: its cursor
    /// ([`quality::QUALITY_CONSUMER`]) is at the head of the change feed when the transaction starts, the
    /// epoch is still `quality.epoch`, and every record of the batch whose copy becomes served has an
    /// update. Then each update of a copy reported `Stored` or `Partial` replaces its record's rows exactly
    /// as [`quality::QualityStore::replace_quality`] would (tenant, id, version and start taken from the
    /// stored copy), and the cursor moves past the batch's changes, so the deriver has nothing left to do
    /// for them. Otherwise nothing derived is written and the deriver derives the batch from the feed as
    /// usual. Returns the outcomes and whether the derived rows were written.
    ///
    /// The default (a backend without quality tables, or one that does not derive inline) is
    /// [`Store::put_records`] alone.
    async fn put_records_deriving(
        &self,
        tenant: &str,
        batch: Vec<IncomingRecord>,
        quality: quality::InlineQuality,
    ) -> Result<(Vec<PutOutcome>, bool), StoreError> {
        let _ = quality;
        Ok((self.put_records(tenant, batch).await?, false))
    }

    /// A record's head and the sessions / participants `read` asks for, all from one snapshot and one stored
    /// copy (the served one, or the pinned one). `None` when the record (or the pinned copy) is not in scope.
    async fn read_record(
        &self,
        scope: &ReadScope,
        id: &str,
        read: &RecordRead,
    ) -> Result<Option<RecordView>, StoreError>;

    /// The first session (in call order) with that id, of the served version.
    async fn get_session(
        &self,
        scope: &ReadScope,
        record_id: &str,
        session_id: &str,
        with_segments: bool,
    ) -> Result<Option<SessionRow>, StoreError>;

    /// The first participant (in order) with that id, of the served version.
    async fn get_participant(
        &self,
        scope: &ReadScope,
        record_id: &str,
        participant_id: &str,
    ) -> Result<Option<ParticipantRow>, StoreError>;

    /// One page of records matching `q`, ordered by (start, id, tenant), and their total when `with_count`.
    async fn list_records(
        &self,
        scope: &ReadScope,
        q: &RecordQuery,
        with_count: bool,
    ) -> Result<RecordList, StoreError>;

    /// How many records match `q` (ignoring `after` and `limit`).
    async fn count_records(&self, scope: &ReadScope, q: &RecordQuery) -> Result<u64, StoreError>;

    /// Every stored copy of every version of a record, by version then receipt order.
    /// Empty when the record is unknown.
    async fn list_versions(
        &self,
        scope: &ReadScope,
        id: &str,
    ) -> Result<Vec<VersionInfo>, StoreError>;

    /// The raw JSON of a version exactly as received (the first copy received for that version).
    async fn get_version(
        &self,
        scope: &ReadScope,
        id: &str,
        version: i64,
    ) -> Result<Option<String>, StoreError>;

    /// The change feed: stored copies committed after `cursor` (0 for the beginning), in commit order, at most
    /// `limit`. Duplicates are not in it (nothing was stored). Consumers (notifications, quality tables, sync
    /// bookkeeping) keep their own durable cursor and read on from it.
    async fn changes_after(&self, cursor: i64, limit: usize) -> Result<Vec<Change>, StoreError>;

    /// Store `tenant`'s log rows idempotently, outcomes in input order. `period` (µs, from..to) is required
    /// for [`LogKind::PstnOnlineMeetingDialout`] and ignored otherwise.
    async fn put_log_rows(
        &self,
        tenant: &str,
        kind: LogKind,
        rows: Vec<IncomingLogRow>,
        period: Option<(i64, i64)>,
    ) -> Result<Vec<LogOutcome>, StoreError>;

    /// Raw row JSON of the matching rows, ordered by (time, insertion order).
    async fn query_log_rows(
        &self,
        scope: &ReadScope,
        kind: LogKind,
        q: &LogQuery,
    ) -> Result<Vec<String>, StoreError>;

    /// A consumer's durable change-feed cursor (0 when it never saved one).
    async fn consumer_cursor(&self, consumer: &str) -> Result<i64, StoreError>;

    /// Save a consumer's cursor (it only moves forward: a smaller value is ignored).
    async fn set_consumer_cursor(&self, consumer: &str, cursor: i64) -> Result<(), StoreError>;

    /// Store a subscription unless its tenant already has `max_per_tenant` or its application already has one
    /// with the same resource and change types (checked and written in one transaction).
    async fn create_subscription(
        &self,
        sub: &SubscriptionRow,
        max_per_tenant: usize,
    ) -> Result<CreateSubscription, StoreError>;

    /// A subscription in scope.
    async fn get_subscription(
        &self,
        scope: &ReadScope,
        id: &str,
    ) -> Result<Option<SubscriptionRow>, StoreError>;

    /// Every subscription in scope, by id.
    async fn list_subscriptions(
        &self,
        scope: &ReadScope,
    ) -> Result<Vec<SubscriptionRow>, StoreError>;

    /// Replace a subscription (same id and tenant); false when there is none in scope.
    async fn update_subscription(
        &self,
        scope: &ReadScope,
        sub: &SubscriptionRow,
    ) -> Result<bool, StoreError>;

    /// Delete a subscription and its pending notifications; false when there is none in scope.
    async fn delete_subscription(&self, scope: &ReadScope, id: &str) -> Result<bool, StoreError>;

    /// Queue notifications and move `consumer`'s cursor to `cursor`, in one transaction: a crash either
    /// loses both (the consumer reads the same changes again) or keeps both. A notification whose id is
    /// already queued is skipped (so re-reading changes never queues twice).
    async fn enqueue_notifications(
        &self,
        consumer: &str,
        cursor: i64,
        notifications: Vec<NewNotification>,
    ) -> Result<(), StoreError>;

    /// Claim up to `limit` pending notifications due by `now_us` for `lease_us` (other claimers skip them until
    /// the lease ends, so several nodes deliver each attempt once), oldest due first.
    async fn claim_due_notifications(
        &self,
        now_us: i64,
        lease_us: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Record an attempt on a notification and its next step (ends the claim).
    async fn finish_attempt(&self, seq: i64, attempt: &AttemptResult) -> Result<(), StoreError>;

    /// A subscription's notifications, newest first, at most `limit`: the debugging view of deliveries.
    async fn list_notifications(
        &self,
        scope: &ReadScope,
        subscription_id: &str,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError>;

    /// How many notifications the outbox holds pending (queued, neither delivered nor dropped yet), every
    /// tenant: `/metrics`' outbox depth.
    async fn outbox_depth(&self) -> Result<u64, StoreError>;

    /// A tenant's sync state (`None` when it never saved one).
    async fn sync_state(&self, tenant: &str) -> Result<Option<SyncStateRow>, StoreError>;

    /// Save a tenant's sync state, replacing the previous one, durable on return.
    async fn put_sync_state(&self, row: &SyncStateRow) -> Result<(), StoreError>;

    /// The sync state of every tenant in `scope`, by tenant.
    async fn list_sync_states(&self, scope: &ReadScope) -> Result<Vec<SyncStateRow>, StoreError>;

    /// Queue sync inbox entries in one transaction, durable on return; an entry whose (tenant, kind, id) is
    /// already queued is left as it is. Returns how many were new.
    async fn enqueue_sync_inbox(&self, items: Vec<SyncInboxItem>) -> Result<u64, StoreError>;

    /// A tenant's inbox entries due by `now_us`, oldest due first, at most `limit`.
    async fn due_sync_inbox(
        &self,
        tenant: &str,
        now_us: i64,
        limit: usize,
    ) -> Result<Vec<SyncInboxItem>, StoreError>;

    /// How many entries `tenant`'s inbox holds (due or not).
    async fn count_sync_inbox(&self, tenant: &str) -> Result<u64, StoreError>;

    /// Done with an entry: `retry_at_us` `None` removes it, `Some(t)` keeps it until `t` with one more
    /// attempt counted.
    async fn finish_sync_inbox(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
        retry_at_us: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Claim (or renew) lease `name` for `holder` until `now_us + ttl_us`: true when `holder` has it now
    /// (nobody held it, it expired, or `holder` held it already). Several nodes on one database use it so
    /// that one of them at a time does a job (the sync worker of a tenant); a holder that dies loses it
    /// when it expires. A backend whose data one machine owns (SQLite) grants every claim.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now_us: i64,
        ttl_us: i64,
    ) -> Result<bool, StoreError> {
        let _ = (name, holder, now_us, ttl_us);
        Ok(true)
    }

    /// Give lease `name` up if `holder` has it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let _ = (name, holder);
        Ok(())
    }

    /// Erase record `id` of the tenants in `scope`: every stored copy, the served record with its
    /// sessions, participants and filter rows, its derived quality rows (taken out of every aggregate),
    /// its queued notifications and sync inbox entries; then write `audit` (its counts filled in) to
    /// the audit table, and leave no readable copy behind (see `docs/erasure.md`).
    async fn purge_record(
        &self,
        scope: &ReadScope,
        id: &str,
        audit: &erasure::AuditEntry,
    ) -> Result<erasure::ErasureReport, StoreError>;

    /// Replace a user by their pseudonym ([`erasure::redact_value`]) in every stored copy and log row of
    /// the tenants in `scope` that mentions them, rebuild the served rows of the records touched, and
    /// drop those records' derived quality rows (taken out of every aggregate: the caller derives them
    /// again); then write `audit` and leave no readable copy behind.
    async fn redact_user(
        &self,
        scope: &ReadScope,
        redaction: &erasure::Redaction,
        audit: &erasure::AuditEntry,
    ) -> Result<erasure::ErasureReport, StoreError>;

    /// The erasure audit entries, newest first, at most `limit`.
    async fn erasure_audit(&self, limit: usize) -> Result<Vec<erasure::AuditEntry>, StoreError>;

    /// Ok when the store can serve requests (`/readyz`).
    async fn health(&self) -> Result<(), StoreError>;

    /// The schema version the database holds now and the one this code migrates to (`/readyz`: a
    /// database migrated by a newer binary while this one runs is not one it can serve).
    async fn schema_status(&self) -> Result<SchemaStatus, StoreError>;

    /// Retention (`serve --retain`), one bounded batch in ONE transaction: up to `limit` records whose
    /// served copy is dated before `cutoff_us` ([`RecordQuery::end_after_us`]'s date: `endDateTime`, else
    /// `startDateTime`, else when that copy was received), each with everything that belongs to it (every
    /// version, the session and participant rows, derived quality rows and their share of the daily
    /// aggregates, outbox entries, sync inbox entries); and up to `limit` log rows dated before it (their
    /// own time property; dial-out rows by the end of their period; rows without a date by when they were
    /// received). Call again until it returns [`PurgeCounts::is_empty`].
    async fn purge_expired(&self, cutoff_us: i64, limit: usize) -> Result<PurgeCounts, StoreError>;

    /// A number that changes whenever the stored data may have changed: after every committed write,
    /// whether by this store object, another one on the same data, or another process. Equal values
    /// from two calls mean nothing was committed in between, so anything rendered from the store
    /// after the first call is still current (response caches rely on this). Cheap (microseconds,
    /// no blocking I/O beyond a shared-memory check): callers may ask on every request.
    fn data_generation(&self) -> Result<u64, StoreError>;

    /// Derived call-quality data ([`quality::QualityStore`]), when this backend keeps it.
    fn quality(&self) -> Option<&dyn quality::QualityStore> {
        None
    }

    /// How much the store holds for `scope` (`GET /admin/storage`, the dashboard's Operations page);
    /// `None` when this backend cannot say. [`StorageSize::database_bytes`] only for
    /// [`ReadScope::All`]: a caller limited to one tenant learns nothing about the others' volume.
    async fn storage_size(&self, scope: &ReadScope) -> Result<Option<StorageSize>, StoreError> {
        let _ = scope;
        Ok(None)
    }
}

/// What a store holds for a scope ([`Store::storage_size`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageSize {
    /// Served call records.
    pub records: u64,
    /// Stored copies of record versions (the version history).
    pub versions: u64,
    /// Bytes of those copies as stored (after the backend's compression).
    pub raw_bytes: u64,
    /// The whole database's size in bytes (every tenant, indexes and derived tables included); only for
    /// [`ReadScope::All`].
    pub database_bytes: Option<u64>,
}

/// What [`Store::schema_status`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The version the database holds now.
    pub found: i64,
    /// The version this code migrates to.
    pub expected: i64,
}

impl SchemaStatus {
    /// The database is at the version this code expects.
    pub fn is_current(&self) -> bool {
        self.found == self.expected
    }
}

/// What one [`Store::purge_expired`] batch took away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeCounts {
    /// Records (their served copy and its session and participant rows).
    pub records: u64,
    /// Stored copies of their versions.
    pub versions: u64,
    /// Log rows.
    pub log_rows: u64,
    /// Records' derived quality data (stream and session rows, contributions).
    pub quality_records: u64,
    /// Outbox entries (change notifications of those records, pending or not).
    pub notifications: u64,
}

impl PurgeCounts {
    /// Nothing was purged: the store holds nothing older than the cut-off.
    pub fn is_empty(&self) -> bool {
        self.records == 0 && self.log_rows == 0 && self.quality_records == 0
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &PurgeCounts) {
        self.records += other.records;
        self.versions += other.versions;
        self.log_rows += other.log_rows;
        self.quality_records += other.quality_records;
        self.notifications += other.notifications;
    }

    /// `(what, how many)` for logs and metrics: `records`, `versions`, `log_rows`, `quality_records`,
    /// `notifications`.
    pub fn by_kind(&self) -> [(&'static str, u64); 5] {
        [
            ("records", self.records),
            ("versions", self.versions),
            ("log_rows", self.log_rows),
            ("quality_records", self.quality_records),
            ("notifications", self.notifications),
        ]
    }
}
