//! `beta`: the SMS, blocked-users and dial-out functions are swept too (scripted Graph, in process): each
//! asked on `/beta`, every `$skip` page followed, rows stored idempotently; the dial-out report, whose rows
//! carry no date, per whole UTC day with that day as its period, and only for days that have ended.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use callrecords_store::{LogKind, LogQuery, ReadScope, Store};
use callrecords_sync::{
    Budgets, Credential, GraphClient, Limits, RetryPolicy, SweepOptions, Syncer, TokenSource,
};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<String>>>;

fn ok(v: &Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn graph(State(seen): State<Seen>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if path.ends_with("/oauth2/v2.0/token") {
        return ok(&json!({"token_type": "Bearer", "expires_in": 3600, "access_token": "tok"}));
    }
    seen.lock().unwrap().push(path.clone());
    let Some(f) = path.strip_prefix("/beta/communications/callRecords/") else {
        // v1.0: no records, no PSTN / direct-routing rows.
        return ok(&json!({"value": []}));
    };
    let day = |p: &str| p.split("fromDateTime=").nth(1).unwrap_or("")[..10].to_string();
    if f.starts_with("getSmsLog(") {
        if query.contains("skip=1") {
            return ok(
                &json!({"value": [{"id": "sms-2", "sentDateTime": "2026-01-05T09:00:00Z"}]}),
            );
        }
        return ok(
            &json!({"value": [{"id": "sms-1", "sentDateTime": "2026-01-05T08:00:00Z"}],
            "@odata.nextLink": format!("https://graph.example.com{path}?$skip=1")}),
        );
    }
    if f.starts_with("getPstnBlockedUsersLog(") {
        return ok(
            &json!({"value": [{"id": "blk-1", "blockDateTime": "2026-01-05T07:00:00Z", "userId": "u1"}]}),
        );
    }
    if f.starts_with("getPstnOnlineMeetingDialoutReport(") {
        return ok(
            &json!({"value": [{"userId": "u1", "userPrincipalName": "a@contoso.com",
            "userDisplayName": day(&path), "usageLocation": "US", "currency": "USD", "totalCalls": 3,
            "totalCallCharge": 1.5, "totalCallSeconds": 600, "avgCallDurationInSeconds": 200.0,
            "destinationContext": "Domestic", "tenantCountryCode": "US"}]}),
        );
    }
    ok(&json!({"value": []}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_sweeps_sms_blocked_users_and_the_dial_out_report_per_whole_day() {
    let seen: Seen = Arc::default();
    let app = Router::new().fallback(graph).with_state(seen.clone());
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
        "t1",
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
        since: Some("2026-01-04T06:00:00Z".parse().unwrap()),
        until: Some("2026-01-06T12:00:00Z".parse().unwrap()),
        beta: true,
        // Few list windows: the list budget (40 / 20 s) would pace a test that lists many.
        window: jiff::SignedDuration::from_hours(24),
        ..SweepOptions::default()
    };
    let s = Syncer::new(store.clone(), client, &url, "t1", opts);
    let r = s.sweep(jiff::Timestamp::now()).await.unwrap();
    assert_eq!(r.errors, Vec::<String>::new(), "{r:?}");
    let seen = seen.lock().unwrap().clone();
    let calls =
        |f: &str| -> Vec<String> { seen.iter().filter(|p| p.contains(f)).cloned().collect() };
    assert!(calls("getSmsLog").iter().all(|p| p.starts_with("/beta/")));
    // The dial-out report: only 2026-01-05 is a whole day inside [since, until).
    assert_eq!(
        calls("getPstnOnlineMeetingDialoutReport"),
        [
            "/beta/communications/callRecords/getPstnOnlineMeetingDialoutReport(fromDateTime=2026-01-05T00:00:00Z,toDateTime=2026-01-06T00:00:00Z)"
        ]
    );
    let scope = ReadScope::Tenant("t1".into());
    let q = LogQuery {
        from_us: 0,
        to_us: i64::MAX,
        to_inclusive: true,
        skip: 0,
        limit: 100,
    };
    let rows = |k: LogKind| {
        let store = store.clone();
        let scope = scope.clone();
        async move { store.query_log_rows(&scope, k, &q).await.unwrap() }
    };
    // SMS: both pages (each day window asks again; rows are stored once).
    let sms = rows(LogKind::SmsLog).await;
    assert_eq!(sms.len(), 2, "{sms:?}");
    assert_eq!(rows(LogKind::PstnBlockedUser).await.len(), 1);
    let dial = rows(LogKind::PstnOnlineMeetingDialout).await;
    assert_eq!(dial.len(), 1, "{dial:?}");
    assert!(dial[0].contains("2026-01-05"), "{dial:?}");
    // Its own cursor: a second sweep with the same range asks for the same day again and stores nothing new.
    let r = s.sweep(jiff::Timestamp::now()).await.unwrap();
    assert_eq!(r.log_rows_stored, 0, "{r:?}");
    assert_eq!(rows(LogKind::PstnOnlineMeetingDialout).await.len(), 1);
}
