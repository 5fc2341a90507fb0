//! The push path against a scripted Graph (in process): the subscription's create (a 409 from an earlier
//! subscription of ours cleaned up first), renewal only when due, re-creation after a 404, the lifecycle
//! events from the inbox, and notified records fetched complete — a 404 retried later, not dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callrecords_store::{ReadScope, Store, SyncInboxItem};
use callrecords_sync::{
    Budgets, Credential, GraphClient, Limits, PushOptions, RetryPolicy, SweepOptions, Syncer,
    TokenSource,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const TENANT: &str = "t1";
const HOOK: &str = "https://receiver.example/notifications/graph";

#[derive(Default)]
struct Script {
    /// Every subscriptions request: method, path, body.
    calls: Vec<(String, String, Value)>,
    created: u32,
    /// Answer the first create with 409 (an earlier subscription of ours exists).
    conflict_first: bool,
    /// Subscription ids that answer 404.
    gone: Vec<String>,
    /// GETs of record `late` so far (404 for the first two).
    late_gets: u32,
}

type Shared = Arc<Mutex<Script>>;

fn ok(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn not_found() -> Response {
    ok(
        StatusCode::NOT_FOUND,
        &json!({"error": {"code": "itemNotFound", "message": "scripted"}}),
    )
}

fn record(id: &str, query: &str) -> Value {
    let mut r = json!({
        "id": id, "version": 1, "type": "peerToPeer", "modalities": ["audio"],
        "startDateTime": "2026-01-05T08:00:00Z", "endDateTime": "2026-01-05T08:30:00Z",
        "lastModifiedDateTime": "2026-01-05T08:40:00Z", "joinWebUrl": null,
        "organizer_v2": {"id": "o1", "identity": {"user": {"id": "o1", "displayName": "O"}}},
    });
    if query.contains("sessions") {
        r["sessions"] = json!([]);
    } else {
        r["participants_v2"] = json!([]);
    }
    r
}

async fn graph(State(s): State<Shared>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body: Bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if path.ends_with("/oauth2/v2.0/token") {
        return ok(
            StatusCode::OK,
            &json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "tok"}),
        );
    }
    let mut g = s.lock().unwrap();
    if let Some(id) = path.strip_prefix("/v1.0/communications/callRecords/") {
        return match id {
            "late" => {
                g.late_gets += 1;
                if g.late_gets <= 2 {
                    not_found()
                } else {
                    ok(StatusCode::OK, &record(id, &query))
                }
            }
            "r1" => ok(StatusCode::OK, &record(id, &query)),
            _ => not_found(),
        };
    }
    g.calls
        .push((method.to_string(), path.clone(), body.clone()));
    let rest = path.strip_prefix("/v1.0/subscriptions").unwrap_or("?");
    match (method, rest) {
        (Method::POST, "") => {
            if g.conflict_first && g.created == 0 && !g.calls.iter().any(|c| c.0 == "DELETE") {
                return ok(
                    StatusCode::CONFLICT,
                    &json!({"error": {"code": "ExtensionError", "message": "duplicate"}}),
                );
            }
            g.created += 1;
            let mut sub = body.clone();
            sub["id"] = json!(format!("sub-{}", g.created));
            sub["clientState"] = Value::Null;
            ok(StatusCode::CREATED, &sub)
        }
        (Method::GET, "") => ok(
            StatusCode::OK,
            &json!({"value": [
                {"id": "old", "resource": "communications/callRecords", "notificationUrl": HOOK},
                {"id": "someone-else", "resource": "communications/callRecords",
                 "notificationUrl": "https://other.example/hook"}]}),
        ),
        (m, id) => {
            let id = id.trim_start_matches('/');
            let (id, action) = id.split_once('/').unwrap_or((id, ""));
            if g.gone.iter().any(|x| x == id) {
                return not_found();
            }
            match (m, action) {
                (Method::PATCH, "") => ok(
                    StatusCode::OK,
                    &json!({"id": id, "expirationDateTime": body["expirationDateTime"]}),
                ),
                (Method::DELETE, "") | (Method::POST, "reauthorize") => {
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => not_found(),
            }
        }
    }
}

async fn setup(script: Shared) -> (Syncer, Arc<dyn Store>, tempfile::TempDir) {
    let app = Router::new().fallback(graph).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(callrecords_store_sqlite::SqliteStore::open(dir.path()).unwrap());
    let http = callrecords_sync::http_client().unwrap();
    let tokens = Arc::new(TokenSource::new(
        http.clone(),
        &url,
        TENANT,
        "app",
        "https://graph.microsoft.com/.default",
        Credential::Secret("s".into()),
    ));
    let retry = RetryPolicy {
        base: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    let client = Arc::new(GraphClient::new(
        http,
        tokens,
        Budgets::new(Limits::default()),
        retry,
    ));
    let syncer = Syncer::new(store.clone(), client, &url, TENANT, SweepOptions::default());
    (syncer, store, dir)
}

fn entry(kind: &str, id: &str, sub: &str, at: Timestamp) -> SyncInboxItem {
    SyncInboxItem {
        tenant: TENANT.into(),
        kind: kind.into(),
        id: id.into(),
        subscription_id: sub.into(),
        received_us: at.as_microsecond(),
        due_us: at.as_microsecond(),
        attempts: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_is_created_renewed_when_due_and_recreated_after_a_404() {
    let script: Shared = Arc::new(Mutex::new(Script {
        conflict_first: true,
        ..Script::default()
    }));
    let (s, _store, _dir) = setup(script.clone()).await;
    let opts = PushOptions::new(HOOK);
    let now = Timestamp::now();

    // 409 (ours from before): the earlier one of ours is deleted, not someone else's, then created.
    let p = s.ensure_subscription(&opts, now).await.unwrap();
    assert_eq!(p.subscription_id.as_deref(), Some("sub-1"));
    assert_eq!((p.created, p.renewed, p.recreated), (1, 0, 0));
    {
        let g = script.lock().unwrap();
        let methods: Vec<_> = g.calls.iter().map(|c| format!("{} {}", c.0, c.1)).collect();
        assert_eq!(
            methods,
            [
                "POST /v1.0/subscriptions",
                "GET /v1.0/subscriptions",
                "DELETE /v1.0/subscriptions/old",
                "POST /v1.0/subscriptions"
            ]
        );
        let body = &g.calls[3].2;
        assert_eq!(body["changeType"], "created,updated");
        assert_eq!(body["resource"], "/communications/callRecords");
        assert_eq!(body["notificationUrl"], HOOK);
        assert_eq!(
            body["lifecycleNotificationUrl"],
            format!("{HOOK}/lifecycle")
        );
        // The clientState sent is the one stored (the receiver checks it).
        assert_eq!(body["clientState"], p.client_state.as_str());
        assert_eq!(p.client_state.len(), 43);
        let exp: Timestamp = body["expirationDateTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(exp, now + SignedDuration::from_mins(4230));
    }
    assert_eq!(
        p.expiration_date_time,
        Some(now + SignedDuration::from_mins(4230))
    );

    // Not due: nothing sent.
    let before = script.lock().unwrap().calls.len();
    s.ensure_subscription(&opts, now + SignedDuration::from_hours(30))
        .await
        .unwrap();
    assert_eq!(script.lock().unwrap().calls.len(), before);
    // Less than 36 h left: renewed with a PATCH.
    let later = now + SignedDuration::from_hours(40);
    let p = s.ensure_subscription(&opts, later).await.unwrap();
    assert_eq!((p.created, p.renewed), (1, 1));
    assert_eq!(
        p.expiration_date_time,
        Some(later + SignedDuration::from_mins(4230))
    );
    assert_eq!(
        script.lock().unwrap().calls.last().unwrap().0,
        "PATCH",
        "renewal"
    );
    // Gone upstream: the renewal's 404 creates it again, with a new clientState.
    script.lock().unwrap().gone.push("sub-1".into());
    let old_state = p.client_state.clone();
    let p = s
        .ensure_subscription(&opts, later + SignedDuration::from_hours(40))
        .await
        .unwrap();
    assert_eq!(p.subscription_id.as_deref(), Some("sub-2"));
    assert_eq!(p.recreated, 1);
    assert_ne!(p.client_state, old_state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_is_drained_records_fetched_404s_retried_and_lifecycle_events_acted_on() {
    let script: Shared = Arc::default();
    let (s, store, _dir) = setup(script.clone()).await;
    let opts = PushOptions {
        not_found_delay: Duration::from_secs(5),
        ..PushOptions::new(HOOK)
    };
    let now = Timestamp::now();
    let p = s.ensure_subscription(&opts, now).await.unwrap();
    let sub = p.subscription_id.unwrap();
    store
        .enqueue_sync_inbox(vec![
            entry("record", "r1", &sub, now),
            entry("record", "late", &sub, now),
            entry("reauthorizationRequired", &sub, &sub, now),
            // An event of a subscription that is no longer ours changes nothing.
            entry("subscriptionRemoved", "older", "older", now),
            entry("missed", &sub, &sub, now),
        ])
        .await
        .unwrap();
    let r = s.drain_inbox(&opts, now).await.unwrap();
    assert_eq!(r.handled, 5, "{r:?}");
    assert_eq!(r.stored, 1, "{r:?}");
    assert!(r.sweep_wanted, "{r:?}");
    let scope = ReadScope::Tenant(TENANT.into());
    assert!(store.get_version(&scope, "r1", 1).await.unwrap().is_some());
    let calls: Vec<String> = script
        .lock()
        .unwrap()
        .calls
        .iter()
        .map(|c| format!("{} {}", c.0, c.1))
        .collect();
    assert_eq!(
        calls.last().unwrap(),
        &format!("POST /v1.0/subscriptions/{sub}/reauthorize")
    );
    assert_eq!(calls.len(), 2, "{calls:?}");
    // `late` answered 404: kept, due again in 5 s.
    let left = store.due_sync_inbox(TENANT, i64::MAX, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].id.as_str(), left[0].attempts), ("late", 1));
    assert_eq!(left[0].due_us, now.as_microsecond() + 5_000_000);
    let r = s
        .drain_inbox(&opts, now + SignedDuration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(r.handled, 0, "not due yet");
    // Second try 404 again (10 s later next), third try stored.
    s.drain_inbox(&opts, now + SignedDuration::from_secs(5))
        .await
        .unwrap();
    let left = store.due_sync_inbox(TENANT, i64::MAX, 10).await.unwrap();
    assert_eq!(left[0].attempts, 2);
    let r = s
        .drain_inbox(&opts, now + SignedDuration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(r.stored, 1, "{r:?}");
    assert_eq!(store.count_sync_inbox(TENANT).await.unwrap(), 0);
    let p = s.push_state().await.unwrap();
    assert_eq!(
        (p.stored, p.not_found, p.reauthorized, p.missed),
        (2, 2, 1, 1)
    );
    // subscriptionRemoved of the current one: created again.
    store
        .enqueue_sync_inbox(vec![entry("subscriptionRemoved", &sub, &sub, now)])
        .await
        .unwrap();
    let r = s.drain_inbox(&opts, now).await.unwrap();
    assert!(r.check_subscription);
    let p = s.push_state().await.unwrap();
    assert_eq!(
        (p.subscription_id.as_deref(), p.recreated),
        (Some("sub-2"), 1)
    );
}
