#![forbid(unsafe_code)]
//! The storage seam of `callrecords`: one trait ([`Store`]) with a method per use case, the
//! backend-neutral filter model ([`RecordQuery`], [`LogQuery`]), the helpers every backend uses to
//! pull index columns out of a record ([`index`]), and (feature `conformance`) the suite every
//! backend must pass.

use std::fmt;

use async_trait::async_trait;
pub use callrecords_model::LogKind;
use serde_json::Value;

pub mod index;

#[cfg(feature = "conformance")]
pub mod conformance;

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

/// The served version of a record, without its sessions and participants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHead {
    pub id: String,
    pub version: i64,
    /// The record object WITHOUT `sessions` and `participants_v2` (and their `@odata` annotations),
    /// everything else as received, in the original key order.
    pub json: String,
    pub session_count: u64,
    pub participant_count: u64,
    /// `startDateTime` in µs since the epoch, when present and parseable.
    pub start_us: Option<i64>,
    /// `endDateTime` in µs since the epoch, when present and parseable.
    pub end_us: Option<i64>,
    /// The served copy arrived with a nested nextLink.
    pub partial: bool,
    /// When the served copy was received, µs since the epoch.
    pub received_at_us: i64,
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

/// One end of a `startDateTime` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub micros: i64,
    pub inclusive: bool,
}

/// The list-records filter, ordered by (`startDateTime`, `id`) ascending. Records without a
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
    /// Keyset cursor: only records strictly after (start_us, id); use `i64::MIN` for records
    /// without a start.
    pub after: Option<(i64, String)>,
    /// Page size (`list_records` only).
    pub limit: usize,
}

/// One stored copy of a record version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    pub version: i64,
    /// `lastModifiedDateTime` as received.
    pub last_modified: Option<String>,
    /// When it was received, RFC 3339 UTC.
    pub received_at: String,
    /// `stored`, `conflict`, `stale` or `partial`.
    pub outcome: String,
    /// This copy is the one served.
    pub served: bool,
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
    /// Rows to skip (`$skip`); ignored by `count_log_rows`.
    pub skip: u64,
    /// Page size; ignored by `count_log_rows`.
    pub limit: usize,
}

/// The storage of call records and log rows. Used as `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Store a batch in one transaction, durable on return. Outcomes in input order.
    async fn put_records(&self, batch: Vec<IncomingRecord>) -> Result<Vec<PutOutcome>, StoreError>;

    /// The served version of a record.
    async fn get_record(&self, id: &str) -> Result<Option<RecordHead>, StoreError>;

    /// Sessions of the served version in call order, strictly after ordinal `after`.
    async fn page_sessions(
        &self,
        record_id: &str,
        after: Option<u64>,
        limit: usize,
        with_segments: bool,
    ) -> Result<Vec<SessionRow>, StoreError>;

    /// The first session (in call order) with that id.
    async fn get_session(
        &self,
        record_id: &str,
        session_id: &str,
        with_segments: bool,
    ) -> Result<Option<SessionRow>, StoreError>;

    /// `participants_v2` of the served version in order, strictly after ordinal `after`.
    async fn page_participants(
        &self,
        record_id: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParticipantRow>, StoreError>;

    /// The first participant (in order) with that id.
    async fn get_participant(
        &self,
        record_id: &str,
        participant_id: &str,
    ) -> Result<Option<ParticipantRow>, StoreError>;

    /// One page of records matching `q`, ordered by (start, id).
    async fn list_records(&self, q: &RecordQuery) -> Result<Vec<RecordHead>, StoreError>;

    /// How many records match `q` (ignoring `after` and `limit`).
    async fn count_records(&self, q: &RecordQuery) -> Result<u64, StoreError>;

    /// Every stored copy of every version of a record, by version then receipt order.
    /// Empty when the record is unknown.
    async fn list_versions(&self, id: &str) -> Result<Vec<VersionInfo>, StoreError>;

    /// The raw JSON of a version exactly as received (the first copy received for that version).
    async fn get_version(&self, id: &str, version: i64) -> Result<Option<String>, StoreError>;

    /// Store log rows idempotently, outcomes in input order. `period` (µs, from..to) is required
    /// for [`LogKind::PstnOnlineMeetingDialout`] and ignored otherwise.
    async fn put_log_rows(
        &self,
        kind: LogKind,
        rows: Vec<IncomingLogRow>,
        period: Option<(i64, i64)>,
    ) -> Result<Vec<LogOutcome>, StoreError>;

    /// Raw row JSON of the matching rows, ordered by (time, insertion order).
    async fn query_log_rows(&self, kind: LogKind, q: &LogQuery) -> Result<Vec<String>, StoreError>;

    /// How many rows match `q` (ignoring `skip` and `limit`).
    async fn count_log_rows(&self, kind: LogKind, q: &LogQuery) -> Result<u64, StoreError>;

    /// Ok when the store can serve requests (`/readyz`).
    async fn health(&self) -> Result<(), StoreError>;

    /// A number that changes whenever the stored data may have changed: after every committed write,
    /// whether by this store object, another one on the same data, or another process. Equal values
    /// from two calls mean nothing was committed in between, so anything rendered from the store
    /// after the first call is still current (response caches rely on this). Cheap (microseconds,
    /// no blocking I/O beyond a shared-memory check): callers may ask on every request.
    fn data_generation(&self) -> Result<u64, StoreError>;
}
