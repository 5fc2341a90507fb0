//! The webhook receiver of `callrecords sync`'s push path, in process: the API over a temp-dir SQLite store
//! whose sync state holds a push subscription (as `sync --notifications-url` saves it).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use callrecords_api::{AppState, Config, app};
use callrecords_store::{Store, SyncStateRow};
use callrecords_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const TENANT: &str = "dc368399-474c-4d40-900c-6265431fd81f";
const SUB: &str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07";
const CLIENT_STATE: &str = "k3Jx0q-random-client-state";

async fn setup() -> (tempfile::TempDir, Arc<dyn Store>, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).unwrap());
    store
        .put_sync_state(&SyncStateRow {
            tenant: TENANT.into(),
            state: json!({"cursor": null, "push": {"subscriptionId": SUB, "clientState": CLIENT_STATE}})
                .to_string(),
            updated_us: 1,
        })
        .await
        .unwrap();
    let router = app(AppState {
        store: store.clone(),
        config: Arc::new(Config::default()),
    });
    (dir, store, router)
}

async fn post(router: &axum::Router, uri: &str, body: &str) -> (StatusCode, String, String) {
    let resp = router
        .clone()
        .oneshot(
            Request::post(uri)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8(bytes.to_vec()).unwrap())
}

fn change(id: &str, client_state: &str) -> Value {
    json!({
        "id": format!("n-{id}"), "subscriptionId": SUB, "clientState": client_state,
        "changeType": "created", "resource": format!("communications/callRecords/{id}"),
        "subscriptionExpirationDateTime": "2026-12-05T00:00:00.000+00:00",
        "resourceData": {"@odata.type": "#Microsoft.Graph.callRecord",
                         "@odata.id": format!("communications/callRecords/{id}"), "id": id},
        "tenantId": TENANT
    })
}

fn assert_graph_error(body: &str, code: &str) {
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["code"], code, "{body}");
    assert!(v["error"]["message"].as_str().is_some(), "{body}");
    assert!(
        v["error"]["innerError"]["request-id"].as_str().is_some(),
        "{body}"
    );
    assert!(
        v["error"]["innerError"]["date"].as_str().is_some(),
        "{body}"
    );
}

#[tokio::test]
async fn handshake_echoes_the_decoded_token_as_plain_text_on_both_urls() {
    let (_dir, _store, router) = setup().await;
    for path in ["/notifications/graph", "/notifications/graph/lifecycle"] {
        let (status, ct, body) = post(
            &router,
            &format!("{path}?validationToken=Validation%3A%20Testing%20client%20application%20reachability"),
            "",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(ct.starts_with("text/plain"), "{ct}");
        assert_eq!(body, "Validation: Testing client application reachability");
    }
}

#[tokio::test]
async fn notifications_with_our_client_state_are_queued_once_and_answered_202() {
    let (_dir, store, router) = setup().await;
    let body =
        json!({"value": [change("r1", CLIENT_STATE), change("r2", CLIENT_STATE)]}).to_string();
    let (status, _, text) = post(&router, "/notifications/graph", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    // At least once: the same delivery again queues nothing new.
    let (status, _, _) = post(&router, "/notifications/graph", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let due = store.due_sync_inbox(TENANT, i64::MAX, 10).await.unwrap();
    let mut ids: Vec<_> = due
        .iter()
        .map(|i| (i.kind.as_str(), i.id.as_str()))
        .collect();
    ids.sort();
    assert_eq!(ids, [("record", "r1"), ("record", "r2")]);
    assert!(due.iter().all(|i| i.subscription_id == SUB));
    // A lifecycle event.
    let life = json!({"value": [{"subscriptionId": SUB, "clientState": CLIENT_STATE,
        "lifecycleEvent": "reauthorizationRequired", "tenantId": TENANT,
        "subscriptionExpirationDateTime": "2026-12-05T00:00:00.000+00:00"}]})
    .to_string();
    let (status, _, _) = post(&router, "/notifications/graph/lifecycle", &life).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(store.count_sync_inbox(TENANT).await.unwrap(), 3);
}

#[tokio::test]
async fn a_wrong_client_state_is_refused_and_nothing_is_queued() {
    let (_dir, store, router) = setup().await;
    let body = json!({"value": [change("r1", "guessed")]}).to_string();
    let (status, ct, text) = post(&router, "/notifications/graph", &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_graph_error(&text, "accessDenied");
    // Another subscription id with our clientState (an old subscription) is not ours either.
    let mut other = change("r2", CLIENT_STATE);
    other["subscriptionId"] = json!("00000000-0000-0000-0000-000000000000");
    let (status, _, _) = post(
        &router,
        "/notifications/graph",
        &json!({"value": [other]}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A mixed batch: only the matching item is queued.
    let body = json!({"value": [change("r3", "guessed"), change("r4", CLIENT_STATE)]}).to_string();
    let (status, _, _) = post(&router, "/notifications/graph", &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let due = store.due_sync_inbox(TENANT, i64::MAX, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, "r4");
}

#[tokio::test]
async fn malformed_bodies_are_graph_format_400s() {
    let (_dir, store, router) = setup().await;
    for body in ["", "not json", "{\"value\": 3}", "[1,2]"] {
        let (status, ct, text) = post(&router, "/notifications/graph", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {text}");
        assert!(ct.starts_with("application/json"), "{ct}");
        assert_graph_error(&text, "BadRequest");
    }
    // Our clientState, but no record named.
    let mut item = change("r1", CLIENT_STATE);
    item.as_object_mut().unwrap().remove("resourceData");
    item["resource"] = json!("users/1");
    let (status, _, text) = post(
        &router,
        "/notifications/graph",
        &json!({"value": [item]}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(store.count_sync_inbox(TENANT).await.unwrap(), 0);
}
