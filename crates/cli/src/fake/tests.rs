//! In-process tests of `serve --fake`: the whole router (api + access control + OAuth + /fake) over a SQLite store in
//! a temporary directory, driven with `oneshot`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use callrecords_api::{AppState, Config};
use callrecords_fake::FakeConfig;
use callrecords_store::Store;
use callrecords_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{Fake, RequestKind, app, request_kind};

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const LIST: &str = "/v1.0/communications/callRecords";

fn config(seed: u64) -> FakeConfig {
    FakeConfig {
        seed,
        tenants: vec![T1.into(), T2.into()],
        rate: 0.1,
        speed: 0.0,
        start: Some("2026-01-05T08:00:00Z".parse().unwrap()),
        ..FakeConfig::default()
    }
}

fn open(dir: &std::path::Path, cfg: FakeConfig) -> (Router, Arc<Fake>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir).unwrap());
    let state = AppState {
        store: store.clone(),
        config: Arc::new(Config {
            graph_retention: true,
            ..Config::default()
        }),
    };
    let fake = Fake::open(store, cfg, dir, "http://fake.test").unwrap();
    let auth = Arc::new(fake.auth().unwrap());
    (
        app(callrecords_api::app_with_auth(state, auth), fake.clone()),
        fake,
    )
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, path: &str, token: Option<&str>) -> Answer {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    send(app, b.body(Body::empty()).unwrap()).await
}

async fn post(app: &Router, path: &str) -> Answer {
    send(app, Request::post(path).body(Body::empty()).unwrap()).await
}

async fn token(app: &Router, tenant: &str) -> String {
    let form = "grant_type=client_credentials&client_id=fake-client&client_secret=fake-secret\
                &scope=https%3A%2F%2Fgraph.microsoft.com%2F.default";
    let req = Request::post(format!("/{tenant}/oauth2/v2.0/token"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let a = send(app, req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["token_type"], "Bearer");
    a.body["access_token"].as_str().unwrap().to_string()
}

fn ids(a: &Answer) -> Vec<String> {
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_graph_error(a: &Answer, status: StatusCode, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{}", a.body);
    assert!(a.body["error"]["message"].is_string());
    assert!(a.body["error"]["innerError"]["request-id"].is_string());
    assert!(a.body["error"]["innerError"]["date"].is_string());
    if let Some(h) = a.headers.get("request-id") {
        assert_eq!(
            a.body["error"]["innerError"]["request-id"].as_str(),
            h.to_str().ok(),
            "the body repeats the response's request-id"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_issued_and_graph_routes_require_one() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(dir.path(), config(1));
    let t = token(&app, T1).await;
    let a = get(&app, LIST, None).await;
    assert_graph_error(&a, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    let www = a.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        www.starts_with("Bearer") && www.contains("authorization_uri"),
        "{www}"
    );
    let a = get(&app, LIST, Some("not-a-token")).await;
    assert_graph_error(&a, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    assert!(a.headers.contains_key(header::WWW_AUTHENTICATE));
    let a = get(&app, LIST, Some(&t)).await;
    assert_eq!(ids(&a), Vec::<String>::new());
    // The control routes and Entra's metadata need no token.
    assert_eq!(
        post(&app, "/fake/advance?minutes=0").await.status,
        StatusCode::OK
    );
    let a = get(&app, &format!("/{T1}/discovery/v2.0/keys"), None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body["keys"].is_array());
    let a = post(&app, "/fake/advance?minutes=-3").await;
    assert_graph_error(&a, StatusCode::BAD_REQUEST, "BadRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_41st_get_of_one_record_in_20_s_is_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(dir.path(), config(2));
    let t = token(&app, T1).await;
    let path = format!("{LIST}/2b8a7b1f-0000-4000-8000-000000000001");
    for i in 0..40 {
        let a = get(&app, &path, Some(&t)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "request {i}: {}", a.body);
    }
    let a = get(&app, &path, Some(&t)).await;
    assert_graph_error(&a, StatusCode::TOO_MANY_REQUESTS, "activityLimitReached");
    let secs: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&secs), "{secs}");
    // Another record (and the list) still answer.
    let a = get(&app, &format!("{LIST}('another')"), Some(&t)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, LIST, Some(&t)).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_publishes_records_each_tenant_sees_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(dir.path(), config(3));
    let (t1, t2) = (token(&app, T1).await, token(&app, T2).await);
    assert!(ids(&get(&app, LIST, Some(&t1)).await).is_empty());
    let state = post(&app, "/fake/advance?minutes=60").await;
    assert_eq!(state.status, StatusCode::OK);
    assert_eq!(state.body["now"], "2026-01-05T09:00:00Z");
    let mine = ids(&get(&app, LIST, Some(&t1)).await);
    let theirs = ids(&get(&app, LIST, Some(&t2)).await);
    assert!(!mine.is_empty(), "no record after an hour at 0.1 calls/min");
    assert!(mine.iter().all(|id| !theirs.contains(id)));
    assert_eq!(state.body["tenants"][0]["records"], mine.len() as u64);
    let a = get(&app, &format!("{LIST}/{}", mine[0]), Some(&t1)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["id"], mine[0].as_str());
    assert!(a.body["version"].is_number());
    // Another tenant's record is 404 exactly like a missing one.
    let other = get(&app, &format!("{LIST}/{}", mine[0]), Some(&t2)).await;
    assert_graph_error(&other, StatusCode::NOT_FOUND, "itemNotFound");
    let missing = get(&app, &format!("{LIST}/{}", "0".repeat(8)), Some(&t2)).await;
    assert_graph_error(&missing, StatusCode::NOT_FOUND, "itemNotFound");
    assert_eq!(
        other.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&mine[0], "ID"),
        missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace(&"0".repeat(8), "ID")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_clock_and_the_records_and_a_seed_gives_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let (before, now) = {
        let (app, _) = open(dir.path(), config(4));
        let state = post(&app, "/fake/advance?minutes=60").await;
        let t = token(&app, T1).await;
        (
            ids(&get(&app, LIST, Some(&t)).await),
            state.body["now"].clone(),
        )
    };
    assert!(!before.is_empty());
    let (app, _) = open(dir.path(), config(4));
    let state = get(&app, "/fake/state", None).await;
    assert_eq!(state.body["now"], now);
    assert_eq!(state.body["publishedUntil"], now);
    let t = token(&app, T1).await;
    assert_eq!(ids(&get(&app, LIST, Some(&t)).await), before);

    // Same seed elsewhere, same advance: the same record ids.
    let other = tempfile::tempdir().unwrap();
    let (app, _) = open(other.path(), config(4));
    post(&app, "/fake/advance?minutes=60").await;
    let t = token(&app, T1).await;
    assert_eq!(ids(&get(&app, LIST, Some(&t)).await), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_rate_one_answers_503_or_504() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(
        dir.path(),
        FakeConfig {
            fault_rate: 1.0,
            ..config(5)
        },
    );
    let t = token(&app, T1).await;
    for _ in 0..6 {
        let a = get(&app, LIST, Some(&t)).await;
        match a.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_graph_error(&a, a.status, "serviceNotAvailable");
                assert!(a.headers.contains_key(header::RETRY_AFTER));
            }
            StatusCode::GATEWAY_TIMEOUT => assert_graph_error(&a, a.status, "generalException"),
            s => panic!("unexpected {s}"),
        }
    }
}

#[test]
fn graph_paths_map_to_throttling_kinds() {
    let rec = |id: &str| Some(RequestKind::CallRecord { id: id.into() });
    assert_eq!(request_kind("$metadata"), None);
    assert_eq!(
        request_kind("communications/callRecords"),
        Some(RequestKind::ListCallRecords)
    );
    assert_eq!(
        request_kind("communications/callRecords/$count"),
        Some(RequestKind::ListCallRecords)
    );
    assert_eq!(request_kind("communications/callRecords/abc"), rec("abc"));
    assert_eq!(
        request_kind("communications/callRecords/abc/sessions"),
        rec("abc")
    );
    assert_eq!(
        request_kind("communications/callRecords('abc')/participants_v2"),
        rec("abc")
    );
    for f in [
        "microsoft.graph.callRecords.getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)",
        "getDirectRoutingCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)",
    ] {
        assert_eq!(
            request_kind(&format!("communications/callRecords/{f}")),
            Some(RequestKind::PstnFunction)
        );
    }
    assert_eq!(
        request_kind("communications/callRecordsX"),
        Some(RequestKind::Other)
    );
    assert_eq!(request_kind("subscriptions"), Some(RequestKind::Other));
}

/// Graph keeps call records 30 days: after a 31-day advance of the fake clock, a record seen earlier
/// is 404 and left out of List, while the records of the last day are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_gone_after_thirty_fake_days() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(
        dir.path(),
        FakeConfig {
            tenants: vec![T1.into()],
            // The last 30 days of records are generated and stored (all within retention); a debug
            // build ingests ~25 records/s, so keep the rate low.
            rate: 0.005,
            ..config(6)
        },
    );
    let t = token(&app, T1).await;
    post(&app, "/fake/advance?minutes=720").await;
    let early = ids(&get(&app, LIST, Some(&t)).await);
    assert!(!early.is_empty());
    let a = get(&app, &format!("{LIST}/{}", early[0]), Some(&t)).await;
    assert_eq!(a.status, StatusCode::OK);

    let state = post(&app, &format!("/fake/advance?minutes={}", 31 * 24 * 60)).await;
    assert_eq!(state.status, StatusCode::OK, "{}", state.body);
    assert_eq!(state.body["now"], "2026-02-05T20:00:00Z");
    let a = get(&app, &format!("{LIST}/{}", early[0]), Some(&t)).await;
    assert_graph_error(&a, StatusCode::NOT_FOUND, "itemNotFound");
    let late = ids(&get(&app, LIST, Some(&t)).await);
    assert!(!late.is_empty(), "the last day's records are served");
    assert!(early.iter().all(|id| !late.contains(id)), "{early:?}");
    // About 30 days × 1,440 min × 0.005 calls = 216: the last 30 days, not 31.
    let n = state.body["tenants"][0]["records"].as_u64().unwrap();
    assert!((150..290).contains(&n), "{n}");
}

/// `/admin`, `/ingest` and `/analytics` need a token under `--fake`, and `/admin` answers only for the
/// token's tenant; `/ingest` stores into the token's tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_ingest_need_a_token_and_stay_in_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = open(dir.path(), config(7));
    let (t1, t2) = (token(&app, T1).await, token(&app, T2).await);
    post(&app, "/fake/advance?minutes=60").await;
    let mine = ids(&get(&app, LIST, Some(&t1)).await);
    let versions = format!("/admin/callRecords/{}/versions", mine[0]);
    for path in [versions.as_str(), "/analytics/v1/summary"] {
        let a = get(&app, path, None).await;
        assert_graph_error(&a, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    let a = get(&app, &versions, Some(&t1)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = get(&app, &versions, Some(&t2)).await;
    assert_graph_error(&a, StatusCode::NOT_FOUND, "itemNotFound");
    let a = get(&app, &format!("{versions}/1"), Some(&t2)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    let rec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/graph/examples/v1.0__callrecords-callrecord-get__response-1.json"
    ))
    .unwrap();
    let rec: Value = serde_json::from_str(&rec).unwrap();
    let ingest = |token: Option<String>, uri: &str| {
        let mut b = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(Body::from(rec.to_string())).unwrap()
    };
    let a = send(&app, ingest(None, "/ingest/callRecords")).await;
    assert_graph_error(&a, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    let a = send(&app, ingest(Some(t2.clone()), "/ingest/callRecords")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = rec["id"].as_str().unwrap();
    let versions = format!("/admin/callRecords/{id}/versions");
    assert_eq!(get(&app, &versions, Some(&t2)).await.status, StatusCode::OK);
    assert_eq!(
        get(&app, &versions, Some(&t1)).await.status,
        StatusCode::NOT_FOUND
    );
    // The fake's tokens carry CallRecords.Admin, which may ingest into another tenant (a token without
    // it is refused with 403: crates/api/tests/auth.rs).
    let a = send(
        &app,
        ingest(
            Some(t2.clone()),
            &format!("/ingest/callRecords?tenantId={T1}"),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(get(&app, &versions, Some(&t1)).await.status, StatusCode::OK);
}
