//! `callrecords serve --fake`: the Graph routes of `serve`, fed by the fake tenants of `callrecords-fake`.
//!
//! * [`Fake`] owns the fake clock (persisted as `fake-state.json` in the data directory, with how far the
//!   schedule has been published) and publishes every record version and log row whose `visible_at` the
//!   clock has passed, through the one ingest pipeline (tenant set), so versions and outcomes follow the
//!   store's rules. A background task publishes once a second; `POST /fake/advance?minutes=N` jumps the
//!   clock and publishes before it answers; `GET /fake/state` reports; `POST /fake/revoke?tenant=T`
//!   sends `reauthorizationRequired` to `T`'s subscriptions, as an access revocation would.
//! * The routes of plain `serve` sit behind the shared access-control layer, configured with the fake's
//!   own issuers and key ([`Fake::jwt_config`]): a valid bearer token is required (401 +
//!   `WWW-Authenticate`, 403 for a missing role) and its `tid` becomes the request's read scope.
//!   [`FakeGate`] then sets the fake clock as the retention cut-off and applies Graph's throttling
//!   (429 + `Retry-After`) and `--fault-rate` faults (503 / 504).
//! * Entra's token endpoint, JWKS and OpenID configuration are mounted at the root
//!   (`/{tenant}/oauth2/v2.0/token`, …).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callrecords_api::RequestScope;
use callrecords_fake::oauth::Authority;
use callrecords_fake::tenant::{FakeLogRow, is_expired};
use callrecords_fake::throttle::RequestKind;
use callrecords_fake::{
    ClockState, Decision, FakeClock, FakeConfig, Faults, GraphError, TenantSchedule, Throttle,
    ThrottleKey,
};
use callrecords_ingest::{IngestOptions, Ingestor};
use callrecords_model::LogKind;
use callrecords_model::reader::{Location, RawItem, RecordKind};
use callrecords_notify::payload::LifecycleEvent;
use callrecords_notify::subscription::Subscription;
use callrecords_store::{NewNotification, NotificationKind, ReadScope, RecordQuery, Store};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[cfg(test)]
mod tests;

/// The file in the data directory holding the fake's state.
pub const STATE_FILE: &str = "fake-state.json";
/// Publishing works through the time line in windows (each window is generated, stored and persisted
/// before the next) of about this many calls per tenant, so a long advance at a low rate is a few big
/// ingest transactions rather than hundreds of one-hour ones (a 31-day advance was 744 windows of 5
/// ingests each), and memory stays bounded at a high rate...
const CALLS_PER_WINDOW: f64 = 300.0;
/// ...between these bounds.
const MIN_WINDOW: SignedDuration = SignedDuration::from_mins(60);
const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(7 * 24);

/// The publishing window for `rate` calls per fake minute.
fn window(rate: f64) -> SignedDuration {
    let mins = if rate > 0.0 {
        CALLS_PER_WINDOW / rate
    } else {
        f64::INFINITY
    };
    let mins = mins.clamp(MIN_WINDOW.as_mins() as f64, MAX_WINDOW.as_mins() as f64);
    SignedDuration::from_mins(mins as i64)
}
/// Log kinds the fake tenants publish (the dial-out report has no dated rows).
const LOG_KINDS: [LogKind; 4] = [
    LogKind::PstnCall,
    LogKind::DirectRoutingCall,
    LogKind::SmsLog,
    LogKind::PstnBlockedUser,
];
const RETENTION_US: i64 = 30 * 24 * 3600 * 1_000_000;

/// The `--fake` options of `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct FakeArgs {
    /// Serve a stateful Graph emulator: fake tenants publish records as a fake clock passes, Entra-like
    /// OAuth protects the Graph routes, Graph's throttling applies.
    #[arg(long = "fake")]
    pub enabled: bool,
    /// (--fake) Seed of every generated record, key and fault.
    #[arg(long, default_value_t = 0, requires = "enabled")]
    pub seed: u64,
    /// (--fake) A fake tenant id (repeatable; default: the tenant of Microsoft's examples).
    #[arg(long = "tenant", requires = "enabled")]
    pub tenants: Vec<String>,
    /// (--fake) Calls per fake minute per tenant.
    #[arg(long, default_value_t = 2.0, requires = "enabled")]
    pub rate: f64,
    /// (--fake) Fake seconds per real second (0 freezes the clock; `POST /fake/advance` still moves it).
    #[arg(long, default_value_t = 1.0, requires = "enabled")]
    pub speed: f64,
    /// (--fake) Fake time at first start: a date (2026-01-05) or an RFC 3339 instant (default: now).
    #[arg(long, requires = "enabled")]
    pub start: Option<String>,
    /// (--fake) A client registration ID:SECRET (repeatable; default fake-client:fake-secret).
    #[arg(long = "client", requires = "enabled")]
    pub clients: Vec<String>,
    /// (--fake) A client registered with a certificate, ID:PEM-FILE (repeatable): its token requests must
    /// carry a `client_assertion` signed with the certificate's key (`x5t` / `x5t#S256` naming it).
    #[arg(long = "client-cert", requires = "enabled")]
    pub client_certs: Vec<String>,
    /// (--fake) Do not throttle.
    #[arg(long, requires = "enabled")]
    pub no_throttle: bool,
    /// (--fake) Fraction of Graph requests answered 503 (with Retry-After) or 504.
    #[arg(long, default_value_t = 0.0, requires = "enabled")]
    pub fault_rate: f64,
}

impl FakeArgs {
    /// The checked [`FakeConfig`].
    pub fn config(&self) -> anyhow::Result<FakeConfig> {
        let mut cfg = FakeConfig {
            seed: self.seed,
            rate: self.rate,
            speed: self.speed,
            no_throttle: self.no_throttle,
            fault_rate: self.fault_rate,
            ..FakeConfig::default()
        };
        if !self.tenants.is_empty() {
            cfg.tenants = self
                .tenants
                .iter()
                .map(|t| callrecords_fake::config::parse_tenant(t))
                .collect::<Result<_, _>>()?;
        }
        if !self.clients.is_empty() {
            cfg.clients = self
                .clients
                .iter()
                .map(|c| callrecords_fake::config::parse_client(c))
                .collect::<Result<_, _>>()?;
        }
        for c in &self.client_certs {
            let (id, path) = c
                .split_once(':')
                .filter(|(id, path)| !id.is_empty() && !path.is_empty())
                .with_context(|| format!("--client-cert wants ID:PEM-FILE, got {c:?}"))?;
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("--client-cert: reading {path}"))?;
            cfg.certificate_clients
                .push(callrecords_fake::config::CertificateClient {
                    client_id: id.to_string(),
                    certificate_pem: pem,
                });
        }
        cfg.start = self
            .start
            .as_deref()
            .map(callrecords_fake::config::parse_start)
            .transpose()?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// What `fake-state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Persisted {
    clock: ClockState,
    /// Every event visible before this fake instant has been published.
    published_until: Timestamp,
    seed: u64,
    tenants: Vec<String>,
    rate: f64,
}

/// The publishing side, behind one async lock (the ticker and `/fake/advance` take turns).
#[derive(Debug)]
struct Progress {
    published_until: Timestamp,
    /// Log rows of one (tenant, kind, UTC day), generated once per day.
    log_days: HashMap<(usize, LogKind, i64), Vec<FakeLogRow>>,
}

/// The running fake.
pub struct Fake {
    store: Arc<dyn Store>,
    cfg: FakeConfig,
    schedules: Vec<TenantSchedule>,
    authority: Arc<Authority>,
    throttle: Mutex<Throttle>,
    faults: Mutex<Faults>,
    clock: Mutex<FakeClock>,
    progress: tokio::sync::Mutex<Progress>,
    state_path: PathBuf,
    /// The notifier's counter of change notifications to drop (`POST /fake/drop-next-notification`).
    drop_changes: std::sync::OnceLock<Arc<std::sync::atomic::AtomicU64>>,
}

impl std::fmt::Debug for Fake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fake")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Fake {
    /// Opens the fake over `store`, resuming from `data_dir/fake-state.json` when there is one (the
    /// persisted clock wins over `--start`; a different `--speed` takes effect from now). Tokens are issued
    /// as `{issuer_base}/{tenant}/v2.0`.
    pub fn open(
        store: Arc<dyn Store>,
        cfg: FakeConfig,
        data_dir: &Path,
        issuer_base: &str,
    ) -> anyhow::Result<Arc<Fake>> {
        let state_path = data_dir.join(STATE_FILE);
        let real_now = Timestamp::now();
        let (clock, published_until) = match std::fs::read(&state_path) {
            Ok(bytes) => {
                let p: Persisted = serde_json::from_slice(&bytes)
                    .with_context(|| format!("reading {}", state_path.display()))?;
                if p.seed != cfg.seed || p.tenants != cfg.tenants || p.rate != cfg.rate {
                    tracing::warn!(
                        "{} was written with another --seed, --tenant or --rate; the stored records stay",
                        state_path.display()
                    );
                }
                let mut clock = FakeClock::from_state(p.clock)?;
                if clock.speed() != cfg.speed {
                    clock.set_speed(cfg.speed, real_now)?;
                }
                (clock, p.published_until)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let clock = cfg.clock(real_now)?;
                (clock, clock.fake_now(real_now))
            }
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", state_path.display()));
            }
        };
        let authority = Authority::from_config(&cfg, issuer_base)
            .map_err(|e| anyhow::anyhow!("making the fake's signing key: {e}"))?;
        let fake = Fake {
            store,
            schedules: cfg.schedules()?,
            authority: Arc::new(authority),
            throttle: Mutex::new(cfg.throttle()),
            faults: Mutex::new(cfg.faults()),
            clock: Mutex::new(clock),
            progress: tokio::sync::Mutex::new(Progress {
                published_until,
                log_days: HashMap::new(),
            }),
            state_path,
            cfg,
            drop_changes: std::sync::OnceLock::new(),
        };
        fake.save(published_until)?;
        Ok(Arc::new(fake))
    }

    /// Connects `POST /fake/drop-next-notification` to the notifier's drop counter.
    pub fn connect_notifier(&self, drop_changes: Arc<std::sync::atomic::AtomicU64>) {
        let _ = self.drop_changes.set(drop_changes);
    }

    /// The fake time now.
    pub fn now(&self) -> Timestamp {
        lock(&self.clock).fake_now(Timestamp::now())
    }

    fn save(&self, published_until: Timestamp) -> anyhow::Result<()> {
        let p = Persisted {
            clock: lock(&self.clock).state(),
            published_until,
            seed: self.cfg.seed,
            tenants: self.cfg.tenants.clone(),
            rate: self.cfg.rate,
        };
        let tmp = self.state_path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&p)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.state_path)
            .with_context(|| format!("writing {}", self.state_path.display()))?;
        Ok(())
    }

    /// Publishes everything visible before the fake time now.
    pub async fn catch_up(self: &Arc<Self>) -> anyhow::Result<()> {
        let mut progress = self.progress.lock().await;
        let to = self.now();
        self.publish(&mut progress, to).await
    }

    /// Moves the clock `minutes` forward and publishes what became visible.
    pub async fn advance(self: &Arc<Self>, minutes: f64) -> anyhow::Result<Timestamp> {
        let mut progress = self.progress.lock().await;
        let to = lock(&self.clock).advance(minutes, Timestamp::now())?;
        self.save(progress.published_until)?;
        self.publish(&mut progress, to).await?;
        Ok(to)
    }

    async fn publish(
        self: &Arc<Self>,
        progress: &mut Progress,
        to: Timestamp,
    ) -> anyhow::Result<()> {
        let step = window(self.cfg.rate);
        while progress.published_until < to {
            let from = progress.published_until;
            let end = from.checked_add(step).unwrap_or(to).min(to);
            for (i, schedule) in self.schedules.iter().enumerate() {
                // Records of a window that ended 30 days before `to` are expired already: not generated.
                if !is_expired(end, to) {
                    let s = schedule.clone();
                    let events =
                        tokio::task::spawn_blocking(move || s.events_between(from, end)).await?;
                    let items = events
                        .into_iter()
                        .filter_map(|e| serde_json::to_string(&e.record).ok())
                        .map(|text| raw_item(RecordKind::CallRecord, text))
                        .collect::<Vec<_>>();
                    self.ingest(schedule.tenant_id(), RecordKind::CallRecord, items)
                        .await?;
                }
                for kind in LOG_KINDS {
                    let rows = self.log_rows(progress, i, kind, from, end).await?;
                    let items = rows
                        .into_iter()
                        .filter_map(|r| serde_json::to_string(&r.row).ok())
                        .map(|text| raw_item(RecordKind::Log(kind), text))
                        .collect::<Vec<_>>();
                    self.ingest(schedule.tenant_id(), RecordKind::Log(kind), items)
                        .await?;
                }
            }
            progress.published_until = end;
            self.save(end)?;
        }
        Ok(())
    }

    /// The log rows of tenant `i` and `kind` visible in `[from, to)` (within at most two UTC days).
    async fn log_rows(
        &self,
        progress: &mut Progress,
        i: usize,
        kind: LogKind,
        from: Timestamp,
        to: Timestamp,
    ) -> anyhow::Result<Vec<FakeLogRow>> {
        const DAY: i64 = 86_400;
        let first = from.as_second().div_euclid(DAY);
        let last = (to.as_second() - 1).div_euclid(DAY).max(first);
        let mut out = Vec::new();
        for day in first..=last {
            if !progress.log_days.contains_key(&(i, kind, day)) {
                let s = self.schedules[i].clone();
                let start = Timestamp::from_second(day * DAY)?;
                let end = Timestamp::from_second((day + 1) * DAY)?;
                let rows =
                    tokio::task::spawn_blocking(move || s.log_rows_between(kind, start, end))
                        .await?;
                // Keep only the days still being published.
                progress
                    .log_days
                    .retain(|&(_, _, d), _| d >= first.min(day) - 1);
                progress.log_days.insert((i, kind, day), rows);
            }
            if let Some(rows) = progress.log_days.get(&(i, kind, day)) {
                out.extend(
                    rows.iter()
                        .filter(|r| r.visible_at >= from && r.visible_at < to)
                        .cloned(),
                );
            }
        }
        Ok(out)
    }

    async fn ingest(
        &self,
        tenant: &str,
        kind: RecordKind,
        items: Vec<RawItem>,
    ) -> anyhow::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let opts = IngestOptions {
            tenant: Some(tenant.to_string()),
            ..IngestOptions::new(kind)
        };
        let done = Ingestor::new(self.store.clone(), opts)
            .ingest(items)
            .await?;
        for r in &done.results {
            if r.outcome.is_invalid() || r.outcome.is_malformed() {
                tracing::warn!(tenant, kind = kind.cli_name(), outcome = ?r.outcome, "fake item refused");
            }
        }
        Ok(())
    }

    /// Publishes once a second, for ever.
    pub fn spawn_ticker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let fake = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = fake.catch_up().await {
                    tracing::error!("fake tenant publishing failed: {e:#}");
                }
            }
        })
    }

    /// Queues `reauthorizationRequired` for every live subscription of `tenant` that has a
    /// `lifecycleNotificationUrl`; returns how many. The notifier delivers them like its own lifecycle
    /// notifications (each gets a fresh id: every revocation is a new event).
    pub async fn revoke(&self, tenant: &str) -> anyhow::Result<usize> {
        let scope = ReadScope::Tenant(tenant.to_owned());
        let now = Timestamp::now();
        let mut out = Vec::new();
        for row in self.store.list_subscriptions(&scope).await? {
            let Ok(sub) = serde_json::from_str::<Subscription>(&row.json) else {
                continue;
            };
            let Some(url) = sub.lifecycle_notification_url.clone() else {
                continue;
            };
            if sub.is_expired(now) {
                continue;
            }
            out.push(NewNotification {
                notification_id: uuid::Uuid::new_v4().to_string(),
                subscription_id: sub.id.clone(),
                tenant: tenant.to_owned(),
                target_url: url,
                kind: NotificationKind::Lifecycle {
                    event: LifecycleEvent::ReauthorizationRequired.as_str().to_owned(),
                },
                due_us: now.as_microsecond(),
            });
        }
        let n = out.len();
        if n > 0 {
            // The notifier's cursor is passed through unchanged (should it move meanwhile, the changes in
            // between are read again and their stable ids stop a second queueing).
            let cursor = self
                .store
                .consumer_cursor(callrecords_notify::CONSUMER)
                .await?;
            self.store
                .enqueue_notifications(callrecords_notify::CONSUMER, cursor, out)
                .await?;
        }
        Ok(n)
    }

    /// `GET /fake/state`'s body.
    pub async fn state_json(&self) -> anyhow::Result<Value> {
        let published_until = self.progress.lock().await.published_until;
        let clock = lock(&self.clock).state();
        let now = self.now();
        let q = RecordQuery {
            end_after_us: Some(now.as_microsecond() - RETENTION_US),
            ..RecordQuery::default()
        };
        let mut tenants = Vec::new();
        for t in &self.cfg.tenants {
            let records = self
                .store
                .count_records(&ReadScope::Tenant(t.clone()), &q)
                .await?;
            tenants.push(json!({"id": t, "records": records}));
        }
        let subscriptions = self
            .store
            .list_subscriptions(&ReadScope::All)
            .await
            .ok()
            .map(|s| s.len());
        Ok(json!({
            "now": now.to_string(),
            "speed": clock.speed,
            "publishedUntil": published_until.to_string(),
            "seed": self.cfg.seed,
            "rate": self.cfg.rate,
            "tenants": tenants,
            "subscriptions": subscriptions,
        }))
    }
}

fn raw_item(kind: RecordKind, text: String) -> RawItem {
    RawItem {
        location: Location {
            source: Arc::from("fake"),
            line: None,
            index: None,
        },
        kind,
        text: Ok(text),
        bytes_read: 0,
    }
}

/// The whole `--fake` application: `api` (the Graph, ingest and admin routes of plain `serve`, behind the
/// access-control layer with [`FakeGate`]), plus the OAuth and `/fake` routes, which stay open.
pub fn app(api: Router, fake: Arc<Fake>) -> Router {
    let control = Router::new()
        .route("/fake/state", get(state_route))
        .route("/fake/advance", post(advance_route))
        .route("/fake/revoke", post(revoke_route))
        .route("/fake/drop-next-notification", post(drop_route))
        .with_state(fake.clone());
    api.merge(callrecords_fake::oauth::routes::router(
        fake.authority.clone(),
    ))
    .merge(control)
}

async fn state_route(State(fake): State<Arc<Fake>>) -> Response {
    match fake.state_json().await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => {
            tracing::error!("fake state: {e:#}");
            graph_error(
                &GraphError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "generalException",
                    callrecords_api::error::INTERNAL_MESSAGE,
                ),
                None,
            )
        }
    }
}

#[derive(Debug, Deserialize)]
struct AdvanceQuery {
    minutes: Option<String>,
}

async fn advance_route(State(fake): State<Arc<Fake>>, Query(q): Query<AdvanceQuery>) -> Response {
    let minutes = q.minutes.as_deref().and_then(|m| m.parse::<f64>().ok());
    let Some(minutes) = minutes.filter(|m| m.is_finite() && *m >= 0.0) else {
        return graph_error(
            &GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "POST /fake/advance wants ?minutes=N with N a number ≥ 0.",
            ),
            None,
        );
    };
    if let Err(e) = fake.advance(minutes).await {
        if e.downcast_ref::<callrecords_fake::clock::ClockError>()
            .is_some()
        {
            return graph_error(
                &GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()),
                None,
            );
        }
        tracing::error!("fake advance: {e:#}");
        return graph_error(
            &GraphError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                callrecords_api::error::INTERNAL_MESSAGE,
            ),
            None,
        );
    }
    state_route(State(fake)).await
}

#[derive(Debug, Deserialize)]
struct DropQuery {
    count: Option<String>,
}

/// `POST /fake/drop-next-notification[?count=N]`: the next N (default 1) change notifications are not sent
/// (recorded as dropped in `/admin/subscriptions/{id}/deliveries`), as Graph sometimes loses one; answers
/// how many are now waiting to be dropped.
async fn drop_route(State(fake): State<Arc<Fake>>, Query(q): Query<DropQuery>) -> Response {
    let count = match q.count.as_deref().map(str::parse::<u64>) {
        None => 1,
        Some(Ok(n)) if n <= 1_000_000 => n,
        _ => {
            return graph_error(
                &GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "POST /fake/drop-next-notification wants ?count=N with N a whole number up to 1000000.",
                ),
                None,
            );
        }
    };
    let Some(counter) = fake.drop_changes.get() else {
        return graph_error(
            &GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The notifier is not running.",
            ),
            None,
        );
    };
    let waiting = counter.fetch_add(count, std::sync::atomic::Ordering::SeqCst) + count;
    axum::Json(json!({"dropNext": waiting})).into_response()
}

#[derive(Debug, Deserialize)]
struct RevokeQuery {
    tenant: Option<String>,
}

/// `POST /fake/revoke?tenant=T`: as if an admin revoked the app's access in tenant `T` (default: the first
/// tenant): every live subscription of `T` with a `lifecycleNotificationUrl` is sent `reauthorizationRequired`.
async fn revoke_route(State(fake): State<Arc<Fake>>, Query(q): Query<RevokeQuery>) -> Response {
    let tenant = q
        .tenant
        .unwrap_or_else(|| fake.cfg.tenants.first().cloned().unwrap_or_default());
    if !fake.cfg.tenants.contains(&tenant) {
        return graph_error(
            &GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("'{tenant}' is not a tenant of this fake."),
            ),
            None,
        );
    }
    match fake.revoke(&tenant).await {
        Ok(n) => {
            axum::Json(json!({"tenant": tenant, "reauthorizationRequired": n})).into_response()
        }
        Err(e) => {
            tracing::error!("fake revoke: {e:#}");
            graph_error(
                &GraphError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "generalException",
                    callrecords_api::error::INTERNAL_MESSAGE,
                ),
                None,
            )
        }
    }
}

/// What Graph sends as `WWW-Authenticate` with a 401 (kept by `--fake`).
const GRAPH_WWW_AUTHENTICATE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";

/// A Graph error response, with the request's own `request-id` when the API's request-id layer set one
/// ([`FakeGate`] runs inside it; the `/fake` routes do not).
fn graph_error(e: &GraphError, client_request_id: Option<&str>) -> Response {
    let request_id = callrecords_api::error::REQUEST_IDS
        .try_with(|(id, _)| id.clone())
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    let body = e.body(&request_id, client_request_id, Timestamp::now());
    let mut resp = (e.status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("request-id", v);
    }
    if let Some(v) = client_request_id.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("client-request-id", v);
    }
    resp
}

fn with_header(mut resp: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

/// What a Graph path (after `/v1.0/` or `/beta/`) is, for throttling; `None` for `$metadata`.
fn request_kind(rest: &str) -> Option<RequestKind> {
    if rest == "$metadata" {
        return None;
    }
    let Some(r) = rest.strip_prefix("communications/callRecords") else {
        return Some(RequestKind::Other);
    };
    if r.is_empty() || r == "/" {
        return Some(RequestKind::ListCallRecords);
    }
    if let Some(key) = r.strip_prefix("('") {
        let id = key.split("')").next().unwrap_or_default();
        return Some(RequestKind::CallRecord { id: id.to_string() });
    }
    let Some(r) = r.strip_prefix('/') else {
        return Some(RequestKind::Other);
    };
    let seg = r.split('/').next().unwrap_or_default();
    Some(if seg.is_empty() || seg == "$count" {
        RequestKind::ListCallRecords
    } else if let Some((name, _)) = seg.split_once('(') {
        let name = name.rsplit('.').next().unwrap_or_default();
        if name.starts_with("getPstn") || name == "getDirectRoutingCalls" || name == "getSmsLog" {
            RequestKind::PstnFunction
        } else {
            RequestKind::Other
        }
    } else {
        RequestKind::CallRecord {
            id: seg.to_string(),
        }
    })
}

/// What `serve --fake` adds after the shared access-control layer ([`callrecords_api::auth::layer`]) has
/// accepted a token (the fake's own, checked against its JWKS like any other): on Graph paths Graph's
/// throttling (429 + `Retry-After`) and `--fault-rate` faults (503 / 504); on every path the fake clock
/// as the retention "now".
#[derive(Debug)]
pub struct FakeGate(pub Arc<Fake>);

impl callrecords_api::auth::AfterAuth for FakeGate {
    fn check(
        &self,
        req: &Request,
        principal: &callrecords_api::auth::Principal,
        scope: &mut RequestScope,
    ) -> Option<Response> {
        let fake = &self.0;
        scope.now_us = Some(fake.now().as_microsecond());
        let path = req.uri().path();
        let rest = path
            .strip_prefix("/v1.0/")
            .or_else(|| path.strip_prefix("/beta/"))?;
        let kind = request_kind(rest)?;
        let crid = req
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok());
        if kind != RequestKind::Other {
            let key = ThrottleKey {
                tenant: principal.tenant.clone(),
                app: principal.app_id.clone(),
                kind,
            };
            let decision = lock(&fake.throttle).check(key, Timestamp::now());
            if let Decision::Throttled { retry_after_secs } = decision
                && let Some(e) = decision.error()
            {
                return Some(with_header(
                    graph_error(&e, crid),
                    header::RETRY_AFTER,
                    &retry_after_secs.to_string(),
                ));
            }
        }
        let fault = lock(&fake.faults).decide()?;
        let resp = graph_error(&fault.error(), crid);
        Some(match fault.retry_after_secs() {
            Some(s) => with_header(resp, header::RETRY_AFTER, &s.to_string()),
            None => resp,
        })
    }
}

impl Fake {
    /// The access control of `serve --fake`: the shared JWT validator over [`Fake::jwt_config`], then
    /// [`FakeGate`].
    pub fn auth(self: &Arc<Self>) -> anyhow::Result<callrecords_api::auth::Auth> {
        let v = callrecords_api::auth::jwt::JwtValidator::fixed(self.jwt_config())
            .context("the fake's JWKS")?;
        Ok(
            callrecords_api::auth::Auth::new(callrecords_api::auth::Mode::Jwt(v))
                .with_after(Arc::new(FakeGate(self.clone())))
                .with_www_authenticate(GRAPH_WWW_AUTHENTICATE),
        )
    }

    /// The issuer the dashboard's sign-in discovers its endpoints from under `--fake` (the first tenant's:
    /// its users sign in to it).
    pub fn sign_in_issuers(&self) -> Vec<String> {
        self.cfg
            .tenants
            .first()
            .map(|t| vec![self.authority.issuer(t)])
            .unwrap_or_default()
    }

    /// How the shared JWT validator checks the fake's tokens: its tenants' issuers, Graph's audiences,
    /// its own key as a fixed JWKS, Entra's 5-minute leeway.
    pub fn jwt_config(&self) -> callrecords_api::auth::jwt::JwtConfig {
        use callrecords_fake::oauth::{GRAPH_APP_ID, GRAPH_RESOURCE, LEEWAY_SECS};
        let issuers = self
            .cfg
            .tenants
            .iter()
            .map(|t| self.authority.issuer(t))
            .collect();
        let audiences = vec![
            GRAPH_RESOURCE.to_owned(),
            format!("{GRAPH_RESOURCE}/"),
            GRAPH_APP_ID.to_owned(),
        ];
        let first = self.cfg.tenants.first().cloned().unwrap_or_default();
        let mut cfg = callrecords_api::auth::jwt::JwtConfig::new(
            issuers,
            audiences,
            callrecords_api::auth::jwt::KeySource::Fixed(self.authority.jwks(&first)),
        );
        cfg.leeway_secs = LEEWAY_SECS.unsigned_abs();
        cfg
    }
}

/// A fresh temporary data directory (`--fake` without `--data`).
pub fn temp_data_dir() -> anyhow::Result<PathBuf> {
    let nanos = Timestamp::now().as_nanosecond();
    let dir = std::env::temp_dir().join(format!("callrecords-fake-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
