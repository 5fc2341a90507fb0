//! The per-tenant sync state kept in the store ([`Store::sync_state`](callrecords_store::Store::sync_state)),
//! as JSON this crate owns.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A record that was listed but answered 404 (Graph lists records before they are readable): retried on
/// later sweeps, reported in [`TenantState::gave_up`] after a bound, never silently dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub id: String,
    pub version: i64,
    pub first_seen: Timestamp,
    pub attempts: u32,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SweepReport {
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
    /// The `startDateTime` range listed.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub windows: u64,
    pub list_pages: u64,
    /// Records listed (with repeats across overlapping windows removed).
    pub listed: u64,
    /// Records fetched (GET with the expansions and every page).
    pub fetched: u64,
    /// Record pages fetched (each record's GETs, sessions and participants pages).
    pub record_pages: u64,
    /// Listed records already stored at that version (not fetched).
    pub already_stored: u64,
    pub stored: u64,
    pub duplicate: u64,
    pub conflict: u64,
    pub stale: u64,
    /// Listed records that answered 404 and wait for a later try.
    pub pending: u64,
    /// Pending records given up on this sweep.
    pub gave_up: u64,
    pub log_rows_stored: u64,
    pub log_rows_duplicate: u64,
    pub log_pages: u64,
    /// Every HTTP request to Graph, retries included.
    pub requests: u64,
    /// 429 answers (each was retried).
    pub throttled: u64,
    /// 503 / 504 answers (each was retried).
    pub unavailable: u64,
    /// Other transient failures (5xx, timeouts, connection errors), retried.
    pub transient: u64,
    pub retries: u64,
    pub bytes: u64,
    pub tokens_fetched: u64,
    /// Seconds spent waiting on budgets / Retry-After / backoff, summed over concurrent requests.
    pub waited_secs: f64,
    /// Seconds in HTTP exchanges, summed over concurrent requests.
    pub http_secs: f64,
    /// Seconds storing (ingest: validation, transaction, fsync).
    pub store_secs: f64,
    /// Errors (each also kept the cursor from moving past what it concerns).
    pub errors: Vec<String>,
}

/// Running totals over every sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Totals {
    pub sweeps: u64,
    pub stored: u64,
    pub log_rows_stored: u64,
    pub requests: u64,
    pub throttled: u64,
    pub errors: u64,
}

/// One tenant's sync state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantState {
    /// Every record with a `startDateTime` before this was listed and its listed version is stored (or
    /// pending). The next sweep lists again from `cursor − rescan` (late records, later versions).
    pub cursor: Option<Timestamp>,
    /// Where the first sweep started (what a kind without a cursor of its own starts from).
    pub origin: Option<Timestamp>,
    /// Per log kind (`pstnCall`, …): rows dated before this are stored.
    pub log_cursors: BTreeMap<String, Timestamp>,
    pub pending: Vec<Pending>,
    /// Records that stayed 404 past the bound (the latest 1,000).
    pub gave_up: Vec<Pending>,
    pub last_sweep: Option<SweepReport>,
    /// When the latest sweep without errors finished (`serve`'s `/readyz` reads it).
    pub last_success: Option<Timestamp>,
    /// When the first sweep of this tenant started.
    pub since: Option<Timestamp>,
    /// How often sweeps repeat, in seconds (`None` for `sync --once`).
    pub interval_secs: Option<u64>,
    pub totals: Totals,
    /// The push path (`sync --notifications-url`): the upstream subscription and what its notifications
    /// fetched. Written only by the push task; a sweep saving the state keeps the stored value.
    pub push: Option<PushState>,
}

/// A record a change notification named that stayed 404 past the bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GaveUpNotified {
    pub id: String,
    pub first_seen: Timestamp,
    pub attempts: u32,
}

/// The upstream subscription of the push path and its counters.
///
/// `subscriptionId` and `clientState` are read by the webhook receiver of `serve`
/// (`callrecords_api::sync_receiver`) to accept a notification: keep those two names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PushState {
    /// `None` while the subscription is being created (the receiver then accepts the `clientState` alone).
    pub subscription_id: Option<String>,
    /// Random per subscription (a new one for every subscription created).
    pub client_state: String,
    pub expiration_date_time: Option<Timestamp>,
    pub notification_url: String,
    pub lifecycle_notification_url: String,
    pub created: u64,
    pub renewed: u64,
    pub reauthorized: u64,
    /// Subscriptions created again (upstream 404 on renew, `subscriptionRemoved`).
    pub recreated: u64,
    /// Inbox entries handled (records and lifecycle events).
    pub notified: u64,
    pub fetched: u64,
    pub stored: u64,
    /// Fetched records already stored at that version (a repeated notification, or a sweep was first).
    pub duplicate: u64,
    /// 404 answers to notified records (each retried later).
    pub not_found: u64,
    /// Sweeps asked for by a `missed` lifecycle event.
    pub missed: u64,
    pub gave_up: Vec<GaveUpNotified>,
    pub last_error: Option<String>,
    pub last_notified: Option<Timestamp>,
}

impl TenantState {
    pub fn parse(json: &str) -> Result<TenantState, serde_json::Error> {
        serde_json::from_str(json)
    }
}
