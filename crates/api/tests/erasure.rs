//! In-process tests of `POST /admin/purge` and `POST /admin/redact` over a temp-dir SQLite store: Graph-shaped
//! errors for bad bodies, the admin role, and the routes (with the response cache warm) no longer serving
//! what was erased.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use callrecords_api::auth::{Access, access_of};
use callrecords_api::erasure::PseudonymKey;
use callrecords_api::{AppState, Config, app};
use callrecords_store::{DEFAULT_TENANT, IncomingRecord, Store};
use callrecords_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const USER: &str = "8d1c7a2e-0000-4000-8000-00000000beef";

fn record(id: &str) -> Value {
    let user = json!({"id": USER, "displayName": "Quinn Example", "userPrincipalName": "quinn@contoso.com"});
    json!({"id": id, "version": 1, "type": "groupCall", "modalities": ["audio"],
           "startDateTime": "2026-01-05T09:00:00Z", "endDateTime": "2026-01-05T10:00:00Z",
           "organizer_v2": {"id": USER, "identity": {"user": user}},
           "participants_v2": [{"id": USER, "identity": {"user": user}},
                               {"id": "other", "identity": {"user": {"id": "other", "displayName": "Ola Other"}}}],
           "sessions": [{"id": format!("{id}-s"), "caller": {"@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
                         "name": "LAPTOP-QUINN", "associatedIdentity": user}}]})
}

async fn setup(key: Option<&str>) -> (tempfile::TempDir, Arc<dyn Store>, Router) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let batch = ["r1", "r2"]
        .iter()
        .map(|id| {
            let v = record(id);
            IncomingRecord {
                raw: v.to_string(),
                value: v,
                partial: false,
            }
        })
        .collect();
    store.put_records(DEFAULT_TENANT, batch).await.unwrap();
    let config = Config {
        pseudonym_key: key.map(|k| PseudonymKey(k.as_bytes().to_vec())),
        ..Config::default()
    };
    let app = app(AppState {
        store: store.clone(),
        config: Arc::new(config),
    });
    (dir, store, app)
}

async fn send(app: &Router, method: Method, uri: &str, body: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn assert_graph_error(status: StatusCode, text: &str, want: StatusCode) {
    assert_eq!(status, want, "{text}");
    let v: Value = serde_json::from_str(text).unwrap();
    assert!(v["error"]["code"].is_string(), "{text}");
    assert!(v["error"]["message"].is_string(), "{text}");
    assert!(v["error"]["innerError"]["request-id"].is_string(), "{text}");
    assert!(v["error"]["innerError"]["date"].is_string(), "{text}");
}

#[test]
fn erasure_routes_need_the_admin_role() {
    for path in ["/admin/purge", "/admin/redact"] {
        assert_eq!(access_of(&Method::POST, path), Access::Admin);
    }
}

#[tokio::test]
async fn bad_bodies_are_graph_errors() {
    let (_dir, _store, app) = setup(None).await;
    for (path, body) in [
        ("/admin/purge", ""),
        ("/admin/purge", "not json"),
        ("/admin/purge", r#"{"record": 5}"#),
        ("/admin/purge", r#"{"record": "r1", "extra": 1}"#),
        ("/admin/purge", r#"{}"#),
        ("/admin/purge", r#"{"record": "  "}"#),
        ("/admin/purge", r#"{"record": "r1", "user": "u"}"#),
        ("/admin/redact", r#"{"record": "r1"}"#),
    ] {
        let (s, t) = send(&app, Method::POST, path, body).await;
        assert_graph_error(s, &t, StatusCode::BAD_REQUEST);
    }
    let (s, t) = send(
        &app,
        Method::POST,
        "/admin/redact",
        &json!({"user": USER}).to_string(),
    )
    .await;
    assert_graph_error(s, &t, StatusCode::SERVICE_UNAVAILABLE);
    let (s, t) = send(&app, Method::GET, "/admin/purge", "").await;
    assert_graph_error(s, &t, StatusCode::METHOD_NOT_ALLOWED);
    // Nothing was erased by any of them.
    let (s, _) = send(&app, Method::GET, "/v1.0/communications/callRecords/r1", "").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn purge_and_redact_over_http() {
    let (_dir, store, app) = setup(Some("an http test key of some length")).await;
    let r1 = "/v1.0/communications/callRecords/r1?$expand=sessions";
    let r2 = "/v1.0/communications/callRecords/r2?$expand=sessions";
    // Warm the response cache with both.
    assert_eq!(send(&app, Method::GET, r1, "").await.0, StatusCode::OK);
    let (_, before) = send(&app, Method::GET, r2, "").await;
    assert!(before.contains(USER) && before.contains("LAPTOP-QUINN"));

    let (s, t) = send(&app, Method::POST, "/admin/purge", r#"{"record": "r1"}"#).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(serde_json::from_str::<Value>(&t).unwrap()["records"], 1);
    let (s, t) = send(&app, Method::GET, r1, "").await;
    assert_graph_error(s, &t, StatusCode::NOT_FOUND);

    let (s, t) = send(
        &app,
        Method::POST,
        "/admin/redact",
        &json!({"user": USER, "tenant": DEFAULT_TENANT}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(
        (v["records"].as_u64(), v["versions"].as_u64()),
        (Some(1), Some(1))
    );
    let (s, after) = send(&app, Method::GET, r2, "").await;
    assert_eq!(s, StatusCode::OK);
    for gone in [USER, "Quinn Example", "quinn@contoso.com", "LAPTOP-QUINN"] {
        assert!(!after.contains(gone), "{gone} still served: {after}");
    }
    let (_, parts) = send(
        &app,
        Method::GET,
        "/v1.0/communications/callRecords/r2/participants_v2",
        "",
    )
    .await;
    assert!(
        parts.contains("Ola Other") && !parts.contains(USER),
        "{parts}"
    );
    let filter = format!(
        "/v1.0/communications/callRecords?$filter=participants_v2/any(p:p/id%20eq%20'{USER}')"
    );
    let (s, t) = send(&app, Method::GET, &filter, "").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(
        serde_json::from_str::<Value>(&t).unwrap()["value"],
        json!([])
    );
    let audit = store.erasure_audit(10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action, "redact");
    assert_eq!(audit[0].actor, "http:serve");
    assert_eq!(audit[1].action, "purge");
}
