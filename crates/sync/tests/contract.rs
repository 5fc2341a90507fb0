//! The sync client against a scripted Graph (in process): what Graph's contract allows and a fake of our own
//! never does — nextLinks naming another host, 429 / 503 without and with Retry-After, a 500, a 401 that a
//! fresh token cures, a listed record that stays 404, properties this code does not know, `$skip` function
//! pages — and a 403 that stops the sweep naming the permission.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use callrecords_store::{LogKind, LogQuery, ReadScope, Store};
use callrecords_sync::{
    Budgets, Credential, GraphClient, Limits, RetryPolicy, SweepOptions, Syncer, TokenSource,
};
use serde_json::{Value, json};

const TENANT: &str = "t1";

#[derive(Default)]
struct Script {
    tokens: u32,
    /// Requests per path.
    seen: HashMap<String, u32>,
    /// Answer 403 to every Graph request.
    forbid: bool,
}

type Shared = Arc<Mutex<Script>>;

fn graph_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": {"code": code, "message": "scripted", "innerError": {"request-id": "x", "date": "2026-01-05T00:00:00Z"}}}).to_string(),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn record(id: &str, version: i64) -> Value {
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#communications/callRecords/$entity",
        "id": id, "version": version, "type": "groupCall", "modalities": ["audio"],
        "startDateTime": "2026-01-05T08:00:00Z", "endDateTime": "2026-01-05T08:30:00Z",
        "lastModifiedDateTime": "2026-01-05T08:40:00Z", "joinWebUrl": null,
        "organizer_v2@odata.context": "https://graph.microsoft.com/v1.0/$metadata#communications/callRecords('x')/organizer_v2/$entity",
        "organizer_v2": {"id": "o1", "identity": {"user": {"id": "o1", "displayName": "O"}}},
        "futureThing": {"nested": [1, 2, {"deep": true}]},
    })
}

fn session(n: u32) -> Value {
    json!({"id": format!("s{n}"), "modalities": ["audio"], "startDateTime": "2026-01-05T08:00:00Z",
           "endDateTime": "2026-01-05T08:30:00Z", "segments": [{"id": format!("g{n}"),
           "startDateTime": "2026-01-05T08:00:00Z", "endDateTime": "2026-01-05T08:30:00Z", "media": []}]})
}

fn participant(n: u32) -> Value {
    json!({"id": format!("p{n}"), "identity": {"user": {"id": format!("p{n}"), "displayName": "P"}}})
}

async fn graph(State(s): State<Shared>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let key = path.clone();
    let (n, forbid) = {
        let mut g = s.lock().unwrap();
        if path.ends_with("/oauth2/v2.0/token") {
            g.tokens += 1;
            let t = g.tokens;
            return ok(
                json!({"token_type": "Bearer", "expires_in": 3600, "access_token": format!("tok-{t}")}),
            );
        }
        let c = g.seen.entry(key.clone()).or_default();
        *c += 1;
        (*c, g.forbid)
    };
    if forbid {
        return graph_error(StatusCode::FORBIDDEN, "accessDenied");
    }
    assert!(auth.starts_with("Bearer tok-"), "{auth}");
    let base = "/v1.0/communications/callRecords";
    let other = "https://graph.example.com/v1.0/communications/callRecords";
    if path == base {
        // The list: a 429 with Retry-After first, then two pages, the nextLink on another host.
        if query.contains("skiptoken") {
            return ok(json!({"value": [{"id": "r3", "version": 2}]}));
        }
        if n == 1 {
            let mut r = graph_error(StatusCode::TOO_MANY_REQUESTS, "activityLimitReached");
            r.headers_mut()
                .insert(header::RETRY_AFTER, "1".parse().unwrap());
            return r;
        }
        return ok(json!({
            "value": [{"id": "r1", "version": 1}, {"id": "r2", "version": 1}, {"id": "r404", "version": 1}],
            "@odata.nextLink": format!("{other}?$skiptoken=page2"),
        }));
    }
    let Some(rest) = path.strip_prefix(&format!("{base}/")) else {
        return graph_error(StatusCode::NOT_FOUND, "itemNotFound");
    };
    if rest.starts_with("getPstnCalls(") {
        if query.contains("skip=2") {
            return ok(
                json!({"value": [{"id": "pstn-3", "startDateTime": "2026-01-05T08:10:00Z"}]}),
            );
        }
        return ok(json!({"@odata.count": 2, "value": [
            {"id": "pstn-1", "startDateTime": "2026-01-05T08:00:00Z"},
            {"id": "pstn-2", "startDateTime": "2026-01-05T08:05:00Z"}],
            "@odata.nextLink": format!("{other}/{rest}?$skip=2")}));
    }
    if rest.starts_with("getDirectRoutingCalls(") {
        return ok(json!({"value": []}));
    }
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match id {
        "r1" => {
            // The first token is refused once (expired early): a fresh one works.
            if auth == "Bearer tok-1" {
                return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
            }
            if tail == "sessions" {
                return ok(json!({"value": [session(3), session(4)]}));
            }
            if tail == "participants_v2" {
                return ok(json!({"value": [participant(3)]}));
            }
            let mut r = record("r1", 1);
            if query.contains("sessions") {
                r["sessions"] = json!([session(1), session(2)]);
                r["sessions@odata.nextLink"] =
                    json!(format!("{other}/r1/sessions?$expand=segments&$skiptoken=s"));
            } else {
                r["participants_v2@odata.nextLink"] =
                    json!(format!("{other}/r1/participants_v2?$skiptoken=p"));
                r["participants_v2"] = json!([participant(1), participant(2)]);
            }
            ok(r)
        }
        "r2" if n == 1 => graph_error(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable"),
        "r2" => {
            let mut r = record("r2", 1);
            if query.contains("sessions") {
                r["sessions"] = json!([]);
            } else {
                r["participants_v2"] = json!([]);
            }
            ok(r)
        }
        "r3" if n == 1 && tail.is_empty() => {
            graph_error(StatusCode::INTERNAL_SERVER_ERROR, "generalException")
        }
        "r3" => {
            // A service that refuses `$expand=participants_v2`: the list route serves them.
            if tail == "participants_v2" {
                return ok(json!({"value": [participant(9)]}));
            }
            let mut r = record("r3", 2);
            if query.contains("sessions") {
                r["sessions"] = json!([session(9)]);
            } else if query.contains("participants_v2") {
                return graph_error(StatusCode::BAD_REQUEST, "invalidRequest");
            }
            ok(r)
        }
        _ => graph_error(StatusCode::NOT_FOUND, "itemNotFound"),
    }
}

async fn serve(script: Shared) -> String {
    let app = Router::new().fallback(graph).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn syncer(url: &str, store: Arc<dyn Store>) -> Syncer {
    let http = callrecords_sync::http_client().unwrap();
    let tokens = Arc::new(TokenSource::new(
        http.clone(),
        url,
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
    let opts = SweepOptions {
        since: Some("2026-01-05T00:00:00Z".parse().unwrap()),
        until: Some("2026-01-05T12:00:00Z".parse().unwrap()),
        window: jiff::SignedDuration::from_hours(12),
        not_found_rounds: 1,
        not_found_delay: Duration::from_millis(10),
        ..SweepOptions::default()
    };
    Syncer::new(store, client, url, TENANT, opts)
}

async fn open() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = callrecords_store_sqlite::SqliteStore::open(dir.path()).unwrap();
    (Arc::new(store), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_follows_graphs_contract_and_loses_nothing() {
    let script: Shared = Arc::default();
    let url = serve(script.clone()).await;
    let (store, _dir) = open().await;
    let s = syncer(&url, store.clone()).await;
    let r = s.sweep(jiff::Timestamp::now()).await.unwrap();
    assert_eq!(r.errors, Vec::<String>::new(), "{r:?}");
    assert_eq!((r.listed, r.fetched, r.stored), (4, 3, 3), "{r:?}");
    assert_eq!(
        (r.throttled, r.unavailable, r.transient),
        (1, 1, 1),
        "{r:?}"
    );
    assert_eq!(r.pending, 1, "{r:?}");
    assert_eq!(r.log_rows_stored, 3, "{r:?}");
    assert_eq!(r.tokens_fetched, 2, "a 401 fetches one new token: {r:?}");

    // r1 is complete: every sessions and participants page, unknown properties kept, no control annotations.
    let scope = ReadScope::Tenant(TENANT.into());
    let raw = store.get_version(&scope, "r1", 1).await.unwrap().unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    let ids = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("sessions"), ["s1", "s2", "s3", "s4"]);
    assert_eq!(ids("participants_v2"), ["p1", "p2", "p3"]);
    assert_eq!(v["futureThing"], json!({"nested": [1, 2, {"deep": true}]}));
    assert_eq!(v["sessions"][2]["segments"][0]["id"], "g3");
    assert!(
        !raw.contains("@odata.nextLink") && !raw.contains("@odata.context"),
        "{raw}"
    );
    let r3: Value =
        serde_json::from_str(&store.get_version(&scope, "r3", 2).await.unwrap().unwrap()).unwrap();
    assert_eq!(r3["participants_v2"], json!([participant(9)]));
    assert_eq!(r3["sessions"], json!([session(9)]));

    let rows = store
        .query_log_rows(
            &scope,
            LogKind::PstnCall,
            &LogQuery {
                from_us: 0,
                to_us: i64::MAX,
                to_inclusive: true,
                skip: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);

    // The state: cursor at the end, the 404 kept for later.
    let st = s.load_state().await.unwrap();
    assert_eq!(st.cursor, Some("2026-01-05T12:00:00Z".parse().unwrap()));
    assert_eq!(st.pending.len(), 1);
    assert_eq!(st.pending[0].id, "r404");

    // Again: nothing fetched twice, the pending record tried again, log rows idempotent.
    let r2 = s.sweep(jiff::Timestamp::now()).await.unwrap();
    assert_eq!(
        (r2.fetched, r2.already_stored, r2.pending),
        (0, 3, 1),
        "{r2:?}"
    );
    assert_eq!(
        (r2.log_rows_stored, r2.log_rows_duplicate),
        (0, 3),
        "{r2:?}"
    );
    let st = s.load_state().await.unwrap();
    assert!(st.pending[0].attempts >= 3, "{:?}", st.pending);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_stops_the_sweep_and_names_the_permission() {
    let script: Shared = Arc::default();
    script.lock().unwrap().forbid = true;
    let url = serve(script.clone()).await;
    let (store, _dir) = open().await;
    let s = syncer(&url, store.clone()).await;
    let e = s
        .sweep(jiff::Timestamp::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("CallRecords.Read.All"), "{e}");
    assert!(s.load_state().await.unwrap().cursor.is_none());
}
