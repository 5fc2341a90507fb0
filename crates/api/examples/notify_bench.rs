//! Change-notification latency and throughput on one node: `bench/notify.sh`.
//!
//! Latency: N records committed one by one (each its own transaction), time from `put_records`
//! returning to the receiver seeing the item. Throughput: M records in one commit, items/s until
//! the receiver has them all, three runs (median printed). SQLite in a temp dir, the notifier as a
//! task, receiver on loopback. Baseline, measured in the same run: the same client POSTing a
//! one-item body straight to the receiver (no store, no outbox) — the floor of any delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use callrecords_api::{AppState, Config, app};
use callrecords_notify::deliver::Deliverer;
use callrecords_notify::guard::WebhookGuard;
use callrecords_notify::policy::DeliveryPolicy;
use callrecords_notify::worker::{Notifier, WorkerConfig};
use callrecords_store::{DEFAULT_TENANT, IncomingRecord, Store};
use callrecords_store_sqlite::SqliteStore;
use serde_json::{Value, json};
use tower::ServiceExt;

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

async fn hook(
    State(seen): State<Seen>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(t) = q.get("validationToken") {
        return (StatusCode::OK, t.clone()).into_response();
    }
    let now = Instant::now();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = seen.lock().unwrap();
    for i in v["value"].as_array().into_iter().flatten() {
        if let Some(id) = i["resourceData"]["id"].as_str() {
            s.entry(id.to_owned()).or_insert(now);
        }
    }
    StatusCode::ACCEPTED.into_response()
}

fn record(id: &str) -> IncomingRecord {
    let v = json!({"id": id, "version": 1, "type": "groupCall", "modalities": ["audio"],
        "startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2024-01-01T00:10:00Z",
        "lastModifiedDateTime": "2024-01-01T00:10:00Z", "organizer_v2": {"id": "org"}});
    IncomingRecord {
        raw: v.to_string(),
        value: v,
        partial: false,
    }
}

async fn wait_for(seen: &Seen, n: usize) {
    while seen.lock().unwrap().len() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let m: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let seen: Seen = Arc::default();
    let router = Router::new()
        .route("/hook", post(hook))
        .route("/base", post(|| async { StatusCode::ACCEPTED }))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let url = format!("http://{addr}/hook");
    tokio::spawn(async move { axum::serve(l, router).await.unwrap() });
    let api = app(AppState {
        store: store.clone(),
        config: Arc::new(Config::default()),
    });
    let exp = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let body = json!({"changeType": "created", "notificationUrl": url,
        "resource": "/communications/callRecords", "expirationDateTime": exp});
    let resp = api
        .oneshot(
            Request::builder()
                .method(Method::POST)
                .uri("/v1.0/subscriptions")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let d = Deliverer::new(WebhookGuard::default(), Duration::from_secs(10)).unwrap();
    let cfg = WorkerConfig::new(DeliveryPolicy::reliable(jiff::SignedDuration::from_hours(
        1,
    )));
    tokio::spawn(Notifier::new(store.clone(), d, cfg).run());

    // Baseline: a direct POST of a one-item body with the notifier's own HTTP client.
    let base = Deliverer::new(WebhookGuard::default(), Duration::from_secs(10)).unwrap();
    let base_url = format!("http://{addr}/base");
    let one = br#"{"value":[{"id":"x","changeType":"created","resource":"communications/callRecords/x"}]}"#;
    let mut base_lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let out = base
            .post(&base_url, bytes::Bytes::from_static(one), None)
            .await;
        assert!(matches!(
            out.result,
            callrecords_notify::policy::AttemptResult::Status { status: 202, .. }
        ));
        base_lat.push(t.elapsed());
    }
    base_lat.sort();

    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("lat-{i}");
        store
            .put_records(DEFAULT_TENANT, vec![record(&id)])
            .await
            .unwrap();
        let committed = Instant::now();
        wait_for(&seen, i + 1).await;
        let at = seen.lock().unwrap()[&id];
        lat.push(at.saturating_duration_since(committed));
    }
    lat.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
    println!(
        "latency over {n} sequential commits (commit -> receiver): median {:?}, p99 {:?}, max {:?}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );
    println!(
        "baseline, {n} direct POSTs with the same client: median {:?}, p99 {:?}; median ratio {:.1}x",
        pct(&base_lat, 0.5),
        pct(&base_lat, 0.99),
        pct(&lat, 0.5).as_secs_f64() / pct(&base_lat, 0.5).as_secs_f64()
    );

    let mut rates = Vec::new();
    let mut total = n;
    for run in 0..3 {
        let batch: Vec<_> = (0..m).map(|i| record(&format!("tp-{run}-{i}"))).collect();
        let start = Instant::now();
        store.put_records(DEFAULT_TENANT, batch).await.unwrap();
        total += m;
        wait_for(&seen, total).await;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "throughput run {run}: {m} notifications from one commit in {secs:.2} s = {:.0}/s",
            m as f64 / secs
        );
        rates.push(m as f64 / secs);
    }
    rates.sort_by(f64::total_cmp);
    println!("throughput median of 3: {:.0} notifications/s", rates[1]);
}
