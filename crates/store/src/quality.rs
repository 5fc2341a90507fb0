//! Derived call-quality data (the `quality` consumer of the change feed): per record, its CQD stream and
//! session rows (JSON, plus the few columns reads filter on) and its pre-aggregated contributions (counter
//! arrays, overall and per group), replaced together with the consumer's cursor in one transaction.
//!
//! The store knows nothing of CQD: the rows and counters are computed by `callrecords-quality` (see the
//! deriver in `callrecords-api::analytics`); the store keeps them, replaces a record's rows only with a
//! newer (or equal) version, and sums counters.

use async_trait::async_trait;

use crate::{ReadScope, StoreError};

/// The change-feed consumer name of the quality deriver.
pub const QUALITY_CONSUMER: &str = "quality";

/// The contribution key of a record's overall counters (group keys are `day`, `week`, …).
pub const OVERALL: &str = "";

/// Summed counters per group value (`None` first).
pub type GroupTotals = Vec<(Option<String>, Vec<u64>)>;

/// One stream row of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityStream {
    /// `audio`, `video`, `vbss`, `appSharing`, `other`.
    pub kind: String,
    /// `good`, `poor`, `unclassified`.
    pub class: String,
    /// The endpoint's subnet, else its IP address (for the Missing Subnet report).
    pub subnet: Option<String>,
    /// A building row covers the endpoint.
    pub has_building: bool,
    /// The row as JSON.
    pub json: String,
}

/// One counter array a record adds to a summary: overall ([`OVERALL`]) or to one group of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityContribution {
    /// [`OVERALL`] or a group key name (`day`, …).
    pub key: String,
    /// The group (`None` is the JSON `null` group); `None` for [`OVERALL`].
    pub value: Option<String>,
    /// The counters, in the quality crate's `Counts::FIELDS` order.
    pub counts: Vec<u64>,
}

/// Everything derived from one served version of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityUpdate {
    pub tenant: String,
    pub record_id: String,
    pub version: i64,
    /// The record's `startDateTime` (µs): the window of every read filters on it.
    pub start_us: Option<i64>,
    pub streams: Vec<QualityStream>,
    /// Session rows as JSON.
    pub sessions: Vec<String>,
    /// How many of `sessions` failed (a `failureInfo.stage`): the call list's "failed only" and its
    /// failed-sessions column read this, not the JSON.
    pub failed_sessions: u64,
    /// What the record adds to summaries: its [`OVERALL`] counters and those of every group it counts in
    /// under every group key. A backend must be able to sum them per key and group over any window of
    /// record starts (see [`QualityStore::quality_totals`]) and, when a newer version replaces the record,
    /// take exactly these away again.
    pub contributions: Vec<QualityContribution>,
}

/// What an ingest derived from a batch of records for [`crate::Store::put_records_deriving`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InlineQuality {
    /// The epoch ([`QualityMeta::epoch`]) the updates were computed under (its building file applied).
    pub epoch: i64,
    /// One entry per record of the batch, in batch order: its update, or `None` when it could not be
    /// derived (then the batch is left to the deriver). Tenant, id, version and start are overwritten
    /// with the stored copy's.
    pub updates: Vec<Option<QualityUpdate>>,
}

/// A `[from, until)` window on records' `startDateTime`; an open end is `None`. With any bound, records
/// without a `startDateTime` are excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QualityWindow {
    pub from_us: Option<i64>,
    pub until_us: Option<i64>,
}

/// A page of stream rows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamFilter {
    pub window: QualityWindow,
    pub kind: Option<String>,
    pub class: Option<String>,
    pub record_id: Option<String>,
    /// Only rows after this position ([`StoredStream::seq`]).
    pub after: Option<i64>,
    pub limit: usize,
}

/// A stored stream row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStream {
    /// Its position (rows are listed by it).
    pub seq: i64,
    pub tenant: String,
    pub json: String,
}

/// The building file and the derivation epoch it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QualityMeta {
    /// Bumped whenever derived data is thrown away (new building file, rebuild): a deriver that computed
    /// under an older epoch has its writes refused.
    pub epoch: i64,
    /// The CQD building file as uploaded.
    pub buildings: Option<String>,
}

/// Storage of derived quality data. Reached through [`crate::Store::quality`].
#[async_trait]
pub trait QualityStore: Send + Sync {
    /// The epoch and building file.
    async fn quality_meta(&self) -> Result<QualityMeta, StoreError>;

    /// In ONE transaction: for each update whose version is at least the one stored for its record, replace
    /// the record's rows and contributions; then move `consumer`'s cursor to `cursor` (forward only).
    /// Nothing is written, and `false` returned, when `epoch` is no longer the current one.
    async fn replace_quality(
        &self,
        epoch: i64,
        consumer: &str,
        cursor: i64,
        updates: Vec<QualityUpdate>,
    ) -> Result<bool, StoreError>;

    /// Throw every derived row away, set `consumer`'s cursor back to 0, bump the epoch, and (when given)
    /// replace the building file — in one transaction.
    async fn reset_quality(
        &self,
        consumer: &str,
        buildings: Option<String>,
    ) -> Result<QualityMeta, StoreError>;

    /// The sum of the contributions under `key` ([`OVERALL`] or a group key) of the records in scope and
    /// window, per group value (ordered, `None` first).
    async fn quality_totals(
        &self,
        scope: &ReadScope,
        window: QualityWindow,
        key: &str,
    ) -> Result<GroupTotals, StoreError>;

    /// Stream rows matching `filter`, by position.
    async fn quality_streams(
        &self,
        scope: &ReadScope,
        filter: &StreamFilter,
    ) -> Result<Vec<StoredStream>, StoreError>;

    /// Audio streams per subnet that no building covers, at least `min` of them, most first.
    async fn quality_missing_subnets(
        &self,
        scope: &ReadScope,
        window: QualityWindow,
        min: u64,
    ) -> Result<Vec<(String, u64)>, StoreError>;

    /// The call list: one row per record with derived rows in scope, window and filter, sorted and paged
    /// (see [`crate::calls`]); with the number of matching records, from the same snapshot.
    async fn quality_calls(
        &self,
        scope: &ReadScope,
        filter: &crate::calls::CallFilter,
    ) -> Result<crate::calls::CallPage, StoreError>;
}
