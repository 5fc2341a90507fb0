//! What the server says about itself: `/metrics` in Prometheus' text format (the Prometheus project's own
//! `prometheus-client`) and one log line per request.
//!
//! Requests are counted by route *template* (axum's matched path; Graph's catch-all route is templated
//! here: `/v1.0/communications/callRecords/{id}`), never by raw path, so ids do not become label values; a
//! path no route matches counts as `unmatched`. The request log line carries the request id and the
//! client's `client-request-id`, method, route, path (no query string: it may hold a validation token),
//! status and duration — never a header, so no token is ever logged.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::ApiError;
use crate::error::REQUEST_IDS;

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

/// Labels of the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// Labels of the ingest counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    kind: String,
    outcome: String,
}

/// Labels of the retention counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WhatLabels {
    what: String,
}

/// Labels of the delivery-attempt counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

fn delivery_histogram() -> Histogram {
    // 1 ms … ~9 h, ×4: a notification is delivered within a second, or after retries (minutes, hours).
    Histogram::new(exponential_buckets(0.001, 4.0, 16))
}

fn latency_histogram() -> Histogram {
    // 0.25 ms … ~8 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics; one per [`crate::app`], shared by its middleware and handlers.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    ingested: Family<IngestLabels, Counter>,
    purged: Family<WhatLabels, Counter>,
    delivery_attempts: Family<OutcomeLabels, Counter>,
    delivery_latency: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric the server exports, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("callrecords");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let in_flight = Gauge::default();
        let ingested = Family::<IngestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (until the response head), by method and route template",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "HTTP requests being answered now",
            in_flight.clone(),
        );
        registry.register(
            "ingested_items",
            "Records and log rows received over /ingest, by kind and outcome (stored, duplicate, invalid, ...)",
            ingested.clone(),
        );
        let purged = Family::<WhatLabels, Counter>::default();
        registry.register(
            "retention_purged",
            "What the retention job (serve --retain) purged: records, versions, log_rows, quality_records, notifications",
            purged.clone(),
        );
        let delivery_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "notification_delivery_attempts",
            "Change-notification POSTs by what followed: delivered, retry, dropped",
            delivery_attempts.clone(),
        );
        let delivery_latency = delivery_histogram();
        registry.register(
            "notification_delivery_latency_seconds",
            "From a notification's enqueue to its successful delivery (retries included)",
            delivery_latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            ingested,
            purged,
            delivery_attempts,
            delivery_latency,
        }
    }

    /// Counts `n` purged items of `what` (records, versions, log_rows, quality_records, notifications).
    pub fn count_purged(&self, what: &str, n: u64) {
        self.purged
            .get_or_create(&WhatLabels {
                what: what.to_owned(),
            })
            .inc_by(n);
    }

    /// Counts one ingested item of `kind` with `outcome`.
    pub fn count_ingested(&self, kind: &str, outcome: &str, n: u64) {
        self.ingested
            .get_or_create(&IngestLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc_by(n);
    }
}

impl callrecords_notify::worker::DeliveryObserver for Metrics {
    fn attempt(&self, outcome: &str) {
        self.delivery_attempts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    fn delivered(&self, latency: std::time::Duration) {
        self.delivery_latency.observe(latency.as_secs_f64());
    }
}

/// The middleware: counts, times and logs every request (inside the request-id layer, so the id is known).
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = match req.extensions().get::<MatchedPath>() {
        None => "unmatched".to_owned(),
        // Graph's routes are one catch-all that parses the OData path itself.
        Some(m) if m.as_str().contains("{*") => graph_route(&path),
        Some(m) => m.as_str().to_owned(),
    };
    metrics.in_flight.inc();
    let resp = next.run(req).await;
    metrics.in_flight.dec();
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status: status.to_string(),
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(elapsed.as_secs_f64());
    let (request_id, client_request_id) = REQUEST_IDS
        .try_with(|(id, client)| (id.clone(), client.clone().unwrap_or_default()))
        .unwrap_or_default();
    tracing::info!(
        target: "callrecords::request",
        request_id,
        client_request_id,
        method,
        route,
        path,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

/// The template of a Graph path answered by the catch-all route: OData's own words kept, keys replaced by
/// `{id}`, a function's parameters dropped (`/v1.0/communications/callRecords/getPstnCalls`), so the label's
/// values stay few whatever the paths are.
fn graph_route(path: &str) -> String {
    const WORDS: &[&str] = &[
        "v1.0",
        "beta",
        "communications",
        "callRecords",
        "sessions",
        "segments",
        "participants_v2",
        "organizer_v2",
        "$count",
        "$metadata",
        "$value",
    ];
    const FUNCTIONS: &[&str] = &[
        "getPstnCalls",
        "getDirectRoutingCalls",
        "getPstnBlockedUsersLog",
        "getPstnOnlineMeetingDialoutReport",
        "getSmsLog",
    ];
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if WORDS.contains(&segment) {
            out.push_str(segment);
        } else if let Some(name) = FUNCTIONS.iter().find(|f| {
            segment
                .strip_prefix(**f)
                .is_some_and(|rest| rest.starts_with('('))
        }) {
            out.push_str(name);
        } else {
            out.push_str("{id}");
        }
    }
    out
}

/// Labels of the per-tenant sync figures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

/// What the store says now, as metrics: its size, and per tenant what `callrecords sync` saved in its state
/// (lag behind now, requests, throttled answers, errors, records pending, notified ids queued). Read at
/// each scrape from the store, so that every node of a shared database reports the same figures.
async fn store_registry(store: &dyn callrecords_store::Store) -> Result<Registry, ApiError> {
    use callrecords_store::ReadScope;
    let mut r = Registry::with_prefix("callrecords");
    if let Some(size) = store.storage_size(&ReadScope::All).await? {
        let gauge = |v: u64| {
            let g = Gauge::<i64>::default();
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
            g
        };
        r.register("store_records", "Served call records", gauge(size.records));
        r.register(
            "store_versions",
            "Stored record versions (the history)",
            gauge(size.versions),
        );
        r.register(
            "store_raw_bytes",
            "Bytes of the stored raw JSON, after compression",
            gauge(size.raw_bytes),
        );
        if let Some(db) = size.database_bytes {
            r.register(
                "store_database_bytes",
                "Size of the whole database (indexes and derived tables included)",
                gauge(db),
            );
        }
    }
    let depth = Gauge::<i64>::default();
    depth.set(i64::try_from(store.outbox_depth().await?).unwrap_or(i64::MAX));
    r.register(
        "outbox_pending_notifications",
        "Change notifications queued and not yet delivered or dropped (every tenant)",
        depth,
    );
    let lag = Family::<TenantLabels, Gauge>::default();
    let requests = Family::<TenantLabels, Counter>::default();
    let throttled = Family::<TenantLabels, Counter>::default();
    let errors = Family::<TenantLabels, Counter>::default();
    let pending = Family::<TenantLabels, Gauge>::default();
    let inbox = Family::<TenantLabels, Gauge>::default();
    let now_us = jiff::Timestamp::now().as_microsecond();
    for row in store.list_sync_states(&ReadScope::All).await? {
        let st: serde_json::Value = serde_json::from_str(&row.state).unwrap_or_default();
        let tenant = TenantLabels {
            tenant: row.tenant.clone(),
        };
        if let Some(cursor) = st["cursor"]
            .as_str()
            .and_then(|c| c.parse::<jiff::Timestamp>().ok())
        {
            lag.get_or_create(&tenant)
                .set((now_us - cursor.as_microsecond()) / 1_000_000);
        }
        let total = |k: &str| st["totals"][k].as_u64().unwrap_or(0);
        requests.get_or_create(&tenant).inc_by(total("requests"));
        throttled.get_or_create(&tenant).inc_by(total("throttled"));
        errors.get_or_create(&tenant).inc_by(total("errors"));
        let n = st["pending"].as_array().map_or(0, Vec::len);
        pending
            .get_or_create(&tenant)
            .set(i64::try_from(n).unwrap_or(i64::MAX));
        let queued = store.count_sync_inbox(&row.tenant).await?;
        inbox
            .get_or_create(&tenant)
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
    }
    r.register(
        "sync_lag_seconds",
        "How far behind now the tenant's sync cursor is",
        lag,
    );
    r.register(
        "sync_requests",
        "Requests sync sent to Graph for the tenant",
        requests,
    );
    r.register(
        "sync_throttled",
        "Throttled answers (429/503/504) sync got for the tenant, each retried",
        throttled,
    );
    r.register("sync_errors", "Errors sync reported for the tenant", errors);
    r.register(
        "sync_pending_records",
        "Listed records sync is still waiting for (404 so far)",
        pending,
    );
    r.register(
        "sync_inbox_entries",
        "Notified record ids and lifecycle events queued for sync",
        inbox,
    );
    Ok(r)
}

/// `GET /metrics`: the request counters, then what the store says now.
pub(crate) async fn metrics(
    State(state): State<crate::AppState>,
    axum::Extension(metrics): axum::Extension<Arc<Metrics>>,
) -> Result<Response, ApiError> {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let store = store_registry(&*state.store).await?;
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode_registry(&mut out, &metrics.registry);
    let _ = encode_registry(&mut out, &store);
    let _ = encode_eof(&mut out);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::graph_route;

    #[test]
    fn graph_paths_become_templates_with_few_values() {
        for (path, route) in [
            (
                "/v1.0/communications/callRecords",
                "/v1.0/communications/callRecords",
            ),
            (
                "/beta/communications/callRecords/e523d2ed-2966-4b6b-925b-754a88034cc5",
                "/beta/communications/callRecords/{id}",
            ),
            (
                "/v1.0/communications/callRecords/abc/sessions/$count",
                "/v1.0/communications/callRecords/{id}/sessions/$count",
            ),
            (
                "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)",
                "/v1.0/communications/callRecords/getPstnCalls",
            ),
            (
                "/v1.0/communications/callRecords/getSomething(x')y)",
                "/v1.0/communications/callRecords/{id}",
            ),
            (
                "/v1.0/communications/anything/else",
                "/v1.0/communications/{id}/{id}",
            ),
        ] {
            assert_eq!(graph_route(path), route, "{path}");
        }
    }
}
