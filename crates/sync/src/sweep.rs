//! One sweep of one tenant: list `[from, to)` in overlapping windows following every `@odata.nextLink`,
//! fetch each listed (id, version) not stored yet — complete, with every sessions page and every
//! participants_v2 page — store it through the ingest pipeline, then the PSTN / direct-routing (and, with
//! `beta`, SMS, blocked-users and dial-out report) functions in windows of at most 90 days. The tenant's cursor moves only
//! past windows whose records are all committed (or recorded as pending 404s).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callrecords_ingest::{IngestOptions, Ingestor, ItemOutcome};
use callrecords_model::LogKind;
use callrecords_model::reader::{Location, RawItem, RecordKind};
use callrecords_store::{PutOutcome, ReadScope, Store, SyncStateRow};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::client::{FetchError, GraphClient, RequestKind};
use crate::state::{Pending, PushState, SweepReport, TenantState};

/// Graph keeps call records 30 days.
pub const RETENTION: SignedDuration = SignedDuration::from_hours(30 * 24);
/// Longest range of one PSTN function call.
pub const MAX_LOG_WINDOW: SignedDuration = SignedDuration::from_hours(90 * 24);

/// How a tenant is swept.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// List from here (default: the stored cursor minus `rescan`, or 30 days ago).
    pub since: Option<Timestamp>,
    /// List up to this instant instead of `now − lag` (a backfill of a past range).
    pub until: Option<Timestamp>,
    /// List up to `now − lag` (default 150 minutes, the documented worst-case availability).
    pub lag: SignedDuration,
    /// How far before the cursor each sweep lists again, for records that become visible late and for
    /// later versions (default 24 h).
    pub rescan: SignedDuration,
    /// Width of one list window (default 6 h; every page of a window is followed, so this only bounds
    /// how much one cursor step covers).
    pub window: SignedDuration,
    /// How much consecutive windows overlap (default 1 s).
    pub overlap: SignedDuration,
    /// Records fetched at once (default 4).
    pub concurrency: usize,
    /// Also the beta functions (SMS, blocked users, the dial-out report).
    pub beta: bool,
    /// Extra rounds, within this sweep, for records that answered 404 (default 3), this far apart.
    pub not_found_rounds: u32,
    pub not_found_delay: Duration,
    /// A listed record still 404 this long after it was first seen is given up and reported (default 24 h).
    pub give_up_after: SignedDuration,
    /// Width of one function window (default 1 day, at most 90 days).
    pub log_window: SignedDuration,
    /// Skip the PSTN functions.
    pub no_logs: bool,
    /// How often sweeps repeat (`sync` without `--once`): saved in the state, where `serve`'s `/readyz`
    /// reads it to tell a stalled sync from a slow one.
    pub interval: Option<SignedDuration>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            since: None,
            until: None,
            lag: SignedDuration::from_mins(150),
            rescan: SignedDuration::from_hours(24),
            window: SignedDuration::from_hours(6),
            overlap: SignedDuration::from_secs(1),
            concurrency: 4,
            beta: false,
            not_found_rounds: 3,
            not_found_delay: Duration::from_secs(5),
            give_up_after: SignedDuration::from_hours(24),
            log_window: SignedDuration::from_hours(24),
            no_logs: false,
            interval: None,
        }
    }
}

/// Why a sweep stopped before its end (errors about single records are in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("store: {0}")]
    Store(#[from] callrecords_store::StoreError),
    #[error("ingest: {0}")]
    Ingest(#[from] callrecords_ingest::IngestError),
    #[error("sync state of tenant {tenant} is unreadable: {error}")]
    State { tenant: String, error: String },
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// How far the running sweep is (for a progress bar; read while it runs).
#[derive(Debug, Default)]
pub struct SweepProgress {
    /// List windows of this sweep, and how many are done.
    pub windows_total: AtomicU64,
    pub windows_done: AtomicU64,
    pub listed: AtomicU64,
    /// Records fetched complete (by this sweep, or by the push task meanwhile).
    pub fetched: AtomicU64,
    /// Log function pages read.
    pub log_pages: AtomicU64,
}

impl SweepProgress {
    fn set(c: &AtomicU64, n: u64) {
        c.store(n, Ordering::Relaxed);
    }
    fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    /// A counter's value.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A tenant being synced.
#[derive(Clone)]
pub struct Syncer {
    store: Arc<dyn Store>,
    client: Arc<GraphClient>,
    graph_url: String,
    tenant: String,
    opts: SweepOptions,
    /// Serialises read-merge-write of the state between the sweep and the push task of this process.
    state_lock: Arc<tokio::sync::Mutex<()>>,
    progress: Arc<SweepProgress>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("tenant", &self.tenant)
            .field("graph_url", &self.graph_url)
            .finish_non_exhaustive()
    }
}

/// The OData annotations a client regenerates (context, paging, counts): not data, so not stored.
fn is_control_annotation(key: &str) -> bool {
    [
        "@odata.context",
        "@odata.nextLink",
        "@odata.count",
        "@odata.deltaLink",
    ]
    .iter()
    .any(|a| key.ends_with(a))
}

/// Removes control annotations at every depth (`@odata.type` and everything else stay).
pub fn strip_control_annotations(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !is_control_annotation(k));
            m.values_mut().for_each(strip_control_annotations);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_control_annotations),
        _ => {}
    }
}

fn fmt_ts(t: Timestamp) -> String {
    t.to_string()
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn take_array(m: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match m.remove(key) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

fn next_link(v: &mut Map<String, Value>, key: &str) -> Option<String> {
    match v.remove(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

impl Syncer {
    /// `graph_url` without the version (`https://graph.microsoft.com`).
    pub fn new(
        store: Arc<dyn Store>,
        client: Arc<GraphClient>,
        graph_url: &str,
        tenant: &str,
        opts: SweepOptions,
    ) -> Syncer {
        Syncer {
            store,
            client,
            graph_url: graph_url.trim_end_matches('/').to_string(),
            tenant: tenant.to_string(),
            opts,
            state_lock: Arc::new(tokio::sync::Mutex::new(())),
            progress: Arc::default(),
        }
    }

    /// The running sweep's progress.
    pub fn progress(&self) -> &Arc<SweepProgress> {
        &self.progress
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn graph_url(&self) -> &str {
        &self.graph_url
    }

    pub(crate) fn opts(&self) -> &SweepOptions {
        &self.opts
    }

    /// Changes the push part of the stored state (read, change, write under the state lock).
    pub(crate) async fn update_push<F>(&self, f: F) -> Result<PushState, SweepError>
    where
        F: FnOnce(&mut PushState),
    {
        let _held = self.state_lock.lock().await;
        let mut state = self.load_state().await?;
        let push = state.push.get_or_insert_with(PushState::default);
        f(push);
        let out = push.clone();
        self.write_state(&state).await?;
        Ok(out)
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn client(&self) -> &GraphClient {
        &self.client
    }

    /// A nextLink as a URL on the configured Graph: same origin as is; another origin (a service that
    /// names its public host) rebased onto ours, so the token never goes elsewhere.
    fn follow(&self, link: &str) -> String {
        let ours = origin(&self.graph_url);
        if link.starts_with('/') {
            return format!("{ours}{link}");
        }
        let theirs = origin(link);
        if theirs == ours {
            link.to_string()
        } else {
            tracing::debug!(link, "nextLink on another origin: rebased onto {ours}");
            format!("{ours}{}", &link[theirs.len()..])
        }
    }

    /// The stored state (default when none).
    pub async fn load_state(&self) -> Result<TenantState, SweepError> {
        match self.store.sync_state(&self.tenant).await? {
            None => Ok(TenantState::default()),
            Some(row) => TenantState::parse(&row.state).map_err(|e| SweepError::State {
                tenant: self.tenant.clone(),
                error: e.to_string(),
            }),
        }
    }

    /// Saves a sweep's state, keeping the stored push part (the push task owns it).
    async fn save_state(&self, state: &TenantState) -> Result<(), SweepError> {
        let _held = self.state_lock.lock().await;
        let stored = self.load_state().await?;
        let mut state = state.clone();
        state.push = stored.push;
        self.write_state(&state).await
    }

    async fn write_state(&self, state: &TenantState) -> Result<(), SweepError> {
        let json = serde_json::to_string(state).map_err(|e| SweepError::State {
            tenant: self.tenant.clone(),
            error: e.to_string(),
        })?;
        self.store
            .put_sync_state(&SyncStateRow {
                tenant: self.tenant.clone(),
                state: json,
                updated_us: Timestamp::now().as_microsecond(),
            })
            .await?;
        Ok(())
    }

    /// Lists `[from, to)`, every page.
    async fn list(
        &self,
        from: Timestamp,
        to: Timestamp,
        report: &mut SweepReport,
    ) -> Result<Vec<(String, i64)>, FetchError> {
        let filter = format!(
            "startDateTime ge {} and startDateTime lt {}",
            fmt_ts(from),
            fmt_ts(to)
        );
        let mut url = Some(format!(
            "{}/v1.0/communications/callRecords?$filter={}",
            self.graph_url,
            enc(&filter)
        ));
        let mut out = Vec::new();
        while let Some(u) = url.take() {
            let mut page = self.client.get(&u, &RequestKind::List).await?;
            report.list_pages += 1;
            let Some(obj) = page.as_object_mut() else {
                return Err(FetchError::Refused {
                    status: 200,
                    code: "unexpectedBody".into(),
                    message: "a list page that is not a JSON object".into(),
                });
            };
            for item in take_array(obj, "value") {
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    let version = item.get("version").and_then(Value::as_i64).unwrap_or(0);
                    out.push((id.to_string(), version));
                }
            }
            url = next_link(obj, "@odata.nextLink").map(|l| self.follow(&l));
        }
        Ok(out)
    }

    /// Whether `version` of `id` (or a newer one) is stored complete.
    async fn is_stored(&self, id: &str, version: i64) -> Result<bool, SweepError> {
        let versions = self
            .store
            .list_versions(&ReadScope::Tenant(self.tenant.clone()), id)
            .await?;
        Ok(versions
            .iter()
            .any(|v| v.version >= version && v.outcome != PutOutcome::Partial))
    }

    /// Stores assembled records; returns error lines for refused ones.
    async fn store_records(
        &self,
        records: Vec<Value>,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        if records.is_empty() {
            return Ok(());
        }
        let t = Instant::now();
        let items = records
            .into_iter()
            .map(|r| raw_item(RecordKind::CallRecord, r.to_string()))
            .collect::<Vec<_>>();
        let opts = IngestOptions {
            tenant: Some(self.tenant.clone()),
            ..IngestOptions::new(RecordKind::CallRecord)
        };
        let done = Ingestor::new(self.store.clone(), opts)
            .ingest(items)
            .await?;
        for r in done.results {
            match &r.outcome {
                ItemOutcome::Stored | ItemOutcome::Partial => report.stored += 1,
                ItemOutcome::Duplicate => report.duplicate += 1,
                ItemOutcome::Conflict => report.conflict += 1,
                ItemOutcome::Stale => report.stale += 1,
                ItemOutcome::Invalid { issues, .. } => {
                    let why = issues
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ");
                    report
                        .errors
                        .push(format!("a fetched record was refused: {why}"));
                }
            }
        }
        report.store_secs += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// Fetches the listed records not stored yet, `concurrency` at a time, and stores them. Returns the
    /// ones that answered 404 and the ones that failed otherwise (everything else was committed).
    pub(crate) async fn fetch_and_store(
        &self,
        wanted: Vec<(String, i64)>,
        report: &mut SweepReport,
    ) -> Result<(Vec<(String, i64)>, Vec<(String, i64)>), SweepError> {
        const STORE_BATCH: usize = 32;
        let mut not_found = Vec::new();
        let mut failed = Vec::new();
        let mut queue = wanted.into_iter();
        let mut running = JoinSet::new();
        let mut ready = Vec::new();
        loop {
            while running.len() < self.opts.concurrency.max(1) {
                let Some((id, version)) = queue.next() else {
                    break;
                };
                let me = self.clone();
                running.spawn(async move {
                    let r = me.fetch_record(&id).await;
                    (id, version, r)
                });
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (id, version, result) = match joined {
                Ok(x) => x,
                Err(e) => {
                    // The task's (id, version) is unknown here: the caller's cursor must not move.
                    report.errors.push(format!("a fetch task failed: {e}"));
                    failed.push((String::new(), 0));
                    continue;
                }
            };
            match result {
                Ok((record, pages)) => {
                    report.fetched += 1;
                    SweepProgress::add(&self.progress.fetched);
                    report.record_pages += pages;
                    ready.push(record);
                    if ready.len() >= STORE_BATCH {
                        self.store_records(std::mem::take(&mut ready), report)
                            .await?;
                    }
                }
                Err(FetchError::NotFound) => not_found.push((id, version)),
                Err(e) if e.is_fatal() => {
                    running.abort_all();
                    return Err(e.into());
                }
                Err(e) => {
                    report.errors.push(format!("record {id}: {e}"));
                    failed.push((id, version));
                }
            }
        }
        self.store_records(ready, report).await?;
        Ok((not_found, failed))
    }

    /// One complete record: the GET with `$expand=sessions($expand=segments)` and every sessions page,
    /// then the GET with `$expand=participants_v2` and every participants page; both GETs must show the
    /// same `version` (else a new version landed in between and the record is fetched again). Returns
    /// the record as Graph holds it (control annotations removed) and the number of pages fetched.
    pub async fn fetch_record(&self, id: &str) -> Result<(Value, u64), FetchError> {
        let kind = RequestKind::Record(id.to_string());
        let base = format!(
            "{}/v1.0/communications/callRecords/{}",
            self.graph_url,
            enc(id)
        );
        let mut pages = 0u64;
        let mut last_versions = (None, None);
        for _ in 0..3 {
            let mut rec = self
                .client
                .get(&format!("{base}?$expand=sessions($expand=segments)"), &kind)
                .await?;
            pages += 1;
            let Some(obj) = rec.as_object_mut() else {
                return Err(unexpected("a record that is not a JSON object"));
            };
            let had_sessions = obj.contains_key("sessions");
            let mut sessions = take_array(obj, "sessions");
            let mut next = next_link(obj, "sessions@odata.nextLink");
            while let Some(link) = next.take() {
                let mut page = self.client.get(&self.follow(&link), &kind).await?;
                pages += 1;
                let Some(p) = page.as_object_mut() else {
                    return Err(unexpected("a sessions page that is not a JSON object"));
                };
                sessions.extend(take_array(p, "value"));
                next = next_link(p, "@odata.nextLink");
            }
            let mut parts = match self
                .client
                .get(&format!("{base}?$expand=participants_v2"), &kind)
                .await
            {
                Ok(p) => p,
                // A service that refuses the expansion: the record plain, and the participants_v2 list.
                Err(FetchError::Refused { status: 400, .. }) => {
                    let mut plain = self.client.get(&base, &kind).await?;
                    pages += 1;
                    if let Some(o) = plain.as_object_mut() {
                        o.insert(
                            "participants_v2@odata.nextLink".into(),
                            Value::String(format!("{base}/participants_v2")),
                        );
                        o.insert("participants_v2".into(), Value::Array(Vec::new()));
                    }
                    plain
                }
                Err(e) => return Err(e),
            };
            pages += 1;
            let Some(pobj) = parts.as_object_mut() else {
                return Err(unexpected("a record that is not a JSON object"));
            };
            let had_participants = pobj.contains_key("participants_v2");
            let mut participants = take_array(pobj, "participants_v2");
            let mut next = next_link(pobj, "participants_v2@odata.nextLink");
            while let Some(link) = next.take() {
                let mut page = self.client.get(&self.follow(&link), &kind).await?;
                pages += 1;
                let Some(p) = page.as_object_mut() else {
                    return Err(unexpected("a participants page that is not a JSON object"));
                };
                participants.extend(take_array(p, "value"));
                next = next_link(p, "@odata.nextLink");
            }
            let v1 = obj.get("version").cloned();
            let v2 = pobj.get("version").cloned();
            if v1 != v2 {
                last_versions = (v1, v2);
                continue;
            }
            if had_participants {
                obj.insert("participants_v2".into(), Value::Array(participants));
            }
            if had_sessions {
                obj.insert("sessions".into(), Value::Array(sessions));
            }
            strip_control_annotations(&mut rec);
            return Ok((rec, pages));
        }
        Err(FetchError::GaveUp {
            attempts: 3,
            last: format!(
                "record {id} kept changing version while being fetched ({:?} then {:?})",
                last_versions.0, last_versions.1
            ),
        })
    }

    /// One sweep at `now`.
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport, SweepError> {
        let mut state = self.load_state().await?;
        let before = self.client.stats.snapshot();
        let tokens_before = self.client.tokens().fetched();
        let mut report = SweepReport {
            started: Some(Timestamp::now()),
            ..SweepReport::default()
        };
        let from = self.opts.since.unwrap_or_else(|| {
            state
                .cursor
                .map(|c| c - self.opts.rescan)
                .unwrap_or(now - RETENTION)
        });
        let to = whole_seconds(self.opts.until.unwrap_or(now - self.opts.lag));
        let from = whole_seconds(from);
        if state.origin.is_none() {
            state.origin = Some(from);
        }
        report.from = Some(from);
        report.to = Some(to);
        let window_secs = self.opts.window.as_secs().max(1);
        let span = (to.as_second() - from.as_second()).max(0);
        let p = &self.progress;
        SweepProgress::set(&p.windows_total, (span as u64).div_ceil(window_secs as u64));
        for c in [&p.windows_done, &p.listed, &p.fetched, &p.log_pages] {
            SweepProgress::set(c, 0);
        }

        // Records that answered 404 before: try again first.
        let mut pending = std::mem::take(&mut state.pending);
        let retry: Vec<(String, i64)> = pending.iter().map(|p| (p.id.clone(), p.version)).collect();
        let mut seen: HashSet<(String, i64)> = retry.iter().cloned().collect();
        if !retry.is_empty() {
            let (nf, failed) = self.fetch_and_store(retry, &mut report).await?;
            let still: HashSet<_> = nf.into_iter().chain(failed).collect();
            pending.retain(|p| still.contains(&(p.id.clone(), p.version)));
            for p in &mut pending {
                p.attempts += 1;
            }
        }

        let mut advance = true;
        let mut w = from;
        while w < to {
            let end = (w + self.opts.window).min(to);
            report.windows += 1;
            let listed = match self.list(w - self.opts.overlap, end, &mut report).await {
                Ok(l) => l,
                Err(e) if e.is_fatal() => return Err(e.into()),
                Err(e) => {
                    report.errors.push(format!("listing [{w}, {end}): {e}"));
                    advance = false;
                    w = end;
                    continue;
                }
            };
            let mut wanted = Vec::new();
            for (id, version) in listed {
                if !seen.insert((id.clone(), version)) {
                    continue;
                }
                report.listed += 1;
                if self.is_stored(&id, version).await? {
                    report.already_stored += 1;
                } else {
                    wanted.push((id, version));
                }
            }
            SweepProgress::set(&self.progress.listed, report.listed);
            let (nf, failed) = self.fetch_and_store(wanted, &mut report).await?;
            let ok = failed.is_empty();
            for (id, version) in nf {
                if !pending.iter().any(|p| p.id == id && p.version == version) {
                    pending.push(Pending {
                        id,
                        version,
                        first_seen: Timestamp::now(),
                        attempts: 1,
                    });
                }
            }
            advance &= ok;
            if advance {
                state.cursor = Some(state.cursor.map_or(end, |c| c.max(end)));
            }
            state.pending = pending.clone();
            self.save_state(&state).await?;
            SweepProgress::add(&self.progress.windows_done);
            w = end;
        }

        // A few more tries within this sweep for what answered 404.
        for _ in 0..self.opts.not_found_rounds {
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(self.opts.not_found_delay).await;
            let retry: Vec<(String, i64)> =
                pending.iter().map(|p| (p.id.clone(), p.version)).collect();
            let (nf, failed) = self.fetch_and_store(retry, &mut report).await?;
            let still: HashSet<_> = nf.into_iter().chain(failed).collect();
            pending.retain(|p| still.contains(&(p.id.clone(), p.version)));
            for p in &mut pending {
                p.attempts += 1;
            }
        }
        let give_up_before = Timestamp::now() - self.opts.give_up_after;
        let (gone, keep): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|p| p.first_seen < give_up_before);
        for p in &gone {
            tracing::error!(
                tenant = self.tenant,
                id = p.id,
                version = p.version,
                attempts = p.attempts,
                "listed record still 404 after the bound: given up"
            );
        }
        report.gave_up = gone.len() as u64;
        report.pending = keep.len() as u64;
        state.gave_up.extend(gone);
        let excess = state.gave_up.len().saturating_sub(1000);
        state.gave_up.drain(..excess);
        state.pending = keep;
        self.save_state(&state).await?;

        if !self.opts.no_logs {
            let mut kinds = vec![LogKind::PstnCall, LogKind::DirectRoutingCall];
            if self.opts.beta {
                kinds.extend([
                    LogKind::SmsLog,
                    LogKind::PstnBlockedUser,
                    LogKind::PstnOnlineMeetingDialout,
                ]);
            }
            for kind in kinds {
                self.sweep_logs(kind, now, &mut state, &mut report).await?;
            }
        }

        let s = self.client.stats.snapshot();
        report.requests = s[0] - before[0];
        report.throttled = s[1] - before[1];
        report.unavailable = s[2] - before[2];
        report.transient = s[3] - before[3];
        report.retries = s[4] - before[4];
        report.bytes = s[5] - before[5];
        report.waited_secs = (s[6] - before[6]) as f64 / 1e6;
        report.http_secs = (s[7] - before[7]) as f64 / 1e6;
        report.tokens_fetched = self.client.tokens().fetched() - tokens_before;
        report.finished = Some(Timestamp::now());
        state.totals.sweeps += 1;
        state.totals.stored += report.stored;
        state.totals.log_rows_stored += report.log_rows_stored;
        state.totals.requests += report.requests;
        state.totals.throttled += report.throttled;
        state.totals.errors += report.errors.len() as u64;
        state.last_sweep = Some(report.clone());
        if state.since.is_none() {
            state.since = report.started;
        }
        if report.errors.is_empty() {
            state.last_success = report.finished;
        }
        state.interval_secs = self
            .opts
            .interval
            .map(|i| i.as_secs().max(0).unsigned_abs());
        self.save_state(&state).await?;
        Ok(report)
    }

    /// One log kind over `[from, now − lag)` in windows of at most 90 days.
    async fn sweep_logs(
        &self,
        kind: LogKind,
        now: Timestamp,
        state: &mut TenantState,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        let name = kind.cli_name().to_string();
        let from = self.opts.since.unwrap_or_else(|| {
            state
                .log_cursors
                .get(&name)
                .map(|c| *c - self.opts.rescan)
                .or(state.origin)
                .unwrap_or(now - RETENTION)
        });
        let to = whole_seconds(self.opts.until.unwrap_or(now - self.opts.lag));
        let from = whole_seconds(from);
        let mut step = self
            .opts
            .log_window
            .clamp(SignedDuration::from_mins(1), MAX_LOG_WINDOW);
        // The dial-out report aggregates a period and its rows carry no date: it is fetched per whole UTC
        // day, once, after the day (and the lag) has passed, so stored periods never overlap.
        let (from, to) = if kind == LogKind::PstnOnlineMeetingDialout {
            step = SignedDuration::from_hours(24);
            let from = self
                .opts
                .since
                .or_else(|| state.log_cursors.get(&name).copied())
                .or(state.origin)
                .unwrap_or(now - RETENTION);
            (ceil_day(from), floor_day(to))
        } else {
            (from, to)
        };
        let version = if kind.in_v1() { "v1.0" } else { "beta" };
        let mut w = from;
        while w < to {
            let end = (w + step).min(to);
            let mut url = Some(format!(
                "{}/{version}/communications/callRecords/{}(fromDateTime={},toDateTime={})",
                self.graph_url,
                kind.function_name(),
                fmt_ts(w),
                fmt_ts(end)
            ));
            let mut rows = Vec::new();
            let mut failed = None;
            while let Some(u) = url.take() {
                match self.client.get(&u, &RequestKind::Pstn).await {
                    Ok(mut page) => {
                        report.log_pages += 1;
                        SweepProgress::add(&self.progress.log_pages);
                        if let Some(p) = page.as_object_mut() {
                            rows.extend(take_array(p, "value"));
                            url = next_link(p, "@odata.nextLink").map(|l| self.follow(&l));
                        }
                    }
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                if e.is_fatal() {
                    return Err(e.into());
                }
                report
                    .errors
                    .push(format!("{} [{w}, {end}): {e}", kind.function_name()));
                return Ok(());
            }
            if !rows.is_empty() {
                let t = Instant::now();
                let items = rows
                    .into_iter()
                    .map(|r| raw_item(RecordKind::Log(kind), r.to_string()))
                    .collect::<Vec<_>>();
                let period = (kind == LogKind::PstnOnlineMeetingDialout)
                    .then(|| (w.as_microsecond(), end.as_microsecond()));
                let opts = IngestOptions {
                    tenant: Some(self.tenant.clone()),
                    period,
                    ..IngestOptions::new(RecordKind::Log(kind))
                };
                let done = Ingestor::new(self.store.clone(), opts)
                    .ingest(items)
                    .await?;
                for r in done.results {
                    match &r.outcome {
                        ItemOutcome::Duplicate => report.log_rows_duplicate += 1,
                        ItemOutcome::Invalid { issues, .. } => report.errors.push(format!(
                            "a {} row was refused: {}",
                            kind.cli_name(),
                            issues
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("; ")
                        )),
                        _ => report.log_rows_stored += 1,
                    }
                }
                report.store_secs += t.elapsed().as_secs_f64();
            }
            let c = state.log_cursors.entry(name.clone()).or_insert(end);
            *c = (*c).max(end);
            self.save_state(state).await?;
            w = end;
        }
        Ok(())
    }
}

const DAY_SECS: i64 = 86_400;

/// The UTC midnight at or before `t`.
fn floor_day(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(DAY_SECS) * DAY_SECS).unwrap_or(t)
}

/// The UTC midnight at or after `t`.
fn ceil_day(t: Timestamp) -> Timestamp {
    let f = floor_day(t);
    if f == t {
        f
    } else {
        f + SignedDuration::from_hours(24)
    }
}

/// `t` without its fraction of a second (date-time literals stay short and portable).
fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

fn unexpected(what: &str) -> FetchError {
    FetchError::Refused {
        status: 200,
        code: "unexpectedBody".into(),
        message: what.into(),
    }
}

fn raw_item(kind: RecordKind, text: String) -> RawItem {
    RawItem {
        location: Location {
            source: Arc::from("sync"),
            line: None,
            index: None,
        },
        kind,
        text: Ok(text),
        bytes_read: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_stripped_at_every_depth_but_types_stay() {
        let mut v = serde_json::json!({
            "@odata.context": "x", "id": "1", "organizer_v2@odata.context": "y",
            "sessions@odata.nextLink": "z",
            "sessions": [{"@odata.type": "#t", "segments@odata.context": "c", "x@odata.count": 1}]
        });
        strip_control_annotations(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"id": "1", "sessions": [{"@odata.type": "#t"}]})
        );
    }

    #[test]
    fn utc_days() {
        let t: Timestamp = "2026-01-05T08:30:00Z".parse().unwrap();
        let d: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
        assert_eq!(floor_day(t), d);
        assert_eq!(ceil_day(t), d + SignedDuration::from_hours(24));
        assert_eq!((floor_day(d), ceil_day(d)), (d, d));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("http://127.0.0.1:8080/v1.0/x?y"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            origin("https://graph.microsoft.com"),
            "https://graph.microsoft.com"
        );
    }
}
