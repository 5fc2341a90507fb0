#![forbid(unsafe_code)]
//! Call quality as Microsoft Teams' Call Quality Dashboard (CQD) computes it, on Graph call records: pure
//! functions, no storage, no HTTP.
//!
//! - [`stream_rows`] / [`session_rows`] / [`record_rows`]: flatten a typed [`CallRecord`] into one row per
//!   `mediaStream` (uniquely keyed, classified, with slicers) and one per session.
//! - [`classify()`]: CQD's Good / Poor / Unclassified rules, with the thresholds exceeded or the reason.
//! - [`SummaryBuilder`] / [`GroupedSummaryBuilder`]: poor stream rates, poor sessions/calls, setup and drop
//!   failure rates, overall or per [`GroupKey`], in constant memory; both are sums of per-record
//!   [`Counts`] ([`record_contribution`], [`grouped_contributions`]), which a store can keep
//!   pre-aggregated.
//! - [`BuildingMap`]: CQD building files (subnet → building, inside/outside corp, VPN), and CQD's Missing
//!   Subnet report ([`MissingSubnets`]).
//! - [`export`]: stream and session rows as CSV, NDJSON and Parquet, streamed in constant memory.
//!
//! [`CallRecord`]: callrecords_model::CallRecord

pub mod buildings;
pub mod classify;
pub mod export;
pub mod kind;
pub mod rows;
pub mod summary;

pub use buildings::{
    Building, BuildingFileError, BuildingMap, Ipv4Net, MissingSubnet, MissingSubnets, RowError,
};
pub use classify::{Classification, Metric, MetricSet, StreamClass, UnclassifiedReason, classify};
pub use kind::MediaKind;
pub use rows::{
    CallSlicers, Corp, EndpointSlicers, Party, RecordRows, SessionRow, Side, StreamKey,
    StreamMetrics, StreamRow, record_rows, session_rows, stream_rows, utc_day,
};
pub use summary::{
    AppSharingSummary, AudioPoorDueTo, CONTRIBUTION_VERSION, COUNTS_LEN, CallsSummary, Counts,
    Group, GroupKey, GroupedSummaryBuilder, KindSummary, OtherSummary, SessionsSummary,
    StreamsSummary, Summary, SummaryBuilder, Targets, VideoPoorDueTo, group_by,
    grouped_contributions, latest_versions, record_contribution, summarize,
};
