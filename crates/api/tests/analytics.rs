//! `/analytics/v1`: summaries from the derived tables equal `callrecords_quality::summarize` over the same
//! records; stream paging; building uploads; a newer version replaces a record's rows.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use callrecords_api::{AppState, Config, app};
use callrecords_model::CallRecord;
use callrecords_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// `GET /analytics/v1/calls` (the dashboard's call list), on this file's helpers.
#[path = "analytics/calls.rs"]
mod calls;

struct Env {
    _dir: tempfile::TempDir,
    app: Router,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let app = app(AppState {
        store,
        config: Arc::new(Config::default()),
    });
    Env { _dir: dir, app }
}

impl Env {
    async fn send(&self, method: Method, uri: &str, body: String) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/x-ndjson")
            .body(Body::from(body))
            .unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
    async fn get(&self, uri: &str) -> Value {
        let (s, t) = self.send(Method::GET, uri, String::new()).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {t}");
        serde_json::from_str(&t).unwrap()
    }
    async fn ingest(&self, records: &[Value]) {
        let body: String = records.iter().map(|r| format!("{r}\n")).collect();
        let (s, t) = self.send(Method::POST, "/ingest/callRecords", body).await;
        assert_eq!(s, StatusCode::OK, "{t}");
    }
}

fn user(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
           "associatedIdentity": {"id": id, "userPrincipalName": format!("{id}@contoso.com")},
           "userAgent": {"@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
                         "platform": "windows", "productFamily": "teams", "applicationVersion": "1.2.3"}})
}

fn mcu() -> Value {
    json!({"@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
           "userAgent": {"@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
                         "role": "skypeForBusinessAudioVideoMcu"}})
}

/// A record with one session per entry of `jitters` (each one audio stream with that jitter), on `day`;
/// `failure` gives the first session a failure stage.
fn rec(id: &str, version: i64, day: &str, jitters: &[&str], failure: Option<&str>) -> Value {
    let sessions: Vec<Value> = jitters
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let mut s = json!({"id": format!("{id}-s{i}"), "caller": user(&format!("u{i}")), "callee": mcu(),
                "startDateTime": format!("{day}T09:00:00Z"), "endDateTime": format!("{day}T10:00:00Z"),
                "segments": [{"id": format!("{id}-g{i}"), "startDateTime": format!("{day}T09:00:00Z"),
                    "endDateTime": format!("{day}T10:00:00Z"), "caller": user(&format!("u{i}")), "callee": mcu(),
                    "media": [{"label": "main-audio",
                        "callerNetwork": {"subnet": "10.0.1.0", "ipAddress": "10.0.1.7", "connectionType": "wifi"},
                        "calleeNetwork": {"subnet": "52.112.0.0", "ipAddress": "52.112.0.7", "connectionType": "wired"},
                        "streams": [{"streamId": "1", "streamDirection": "callerToCallee", "averageJitter": j}]}]}]});
            if i == 0 && let Some(stage) = failure {
                s["failureInfo"] = json!({"stage": stage, "reason": "test"});
            }
            s
        })
        .collect();
    json!({"id": id, "version": version, "type": "groupCall", "modalities": ["audio"],
           "lastModifiedDateTime": format!("{day}T10:00:00Z"),
           "startDateTime": format!("{day}T09:00:00Z"), "endDateTime": format!("{day}T10:00:00Z"),
           "joinWebUrl": format!("https://teams/{id}"),
           "organizer_v2": {"id": "u0"}, "participants_v2": [{"id": "u0"}],
           "sessions": sessions})
}

fn corpus() -> Vec<Value> {
    vec![
        rec("a", 1, "2026-01-05", &["PT0.01S", "PT0.05S"], None),
        rec("b", 1, "2026-01-05", &["PT0.01S"], Some("callSetup")),
        rec(
            "c",
            1,
            "2026-01-06",
            &["PT0.04S", "PT0.02S", "PT0.01S"],
            Some("midcall"),
        ),
    ]
}

fn typed(v: &[Value]) -> Vec<CallRecord> {
    v.iter()
        .map(|r| serde_json::from_value(r.clone()).unwrap())
        .collect()
}

#[tokio::test]
async fn summary_equals_quality_summarize() {
    let env = env();
    let records = corpus();
    env.ingest(&records).await;
    let got = env.get("/analytics/v1/summary").await;
    let want =
        serde_json::to_value(callrecords_quality::summarize(&typed(&records), None, None)).unwrap();
    assert_eq!(got, want);
    // Hand-checked: 3 calls, 6 audio streams, 2 poor (jitter > 30 ms), 6 sessions, 1 setup, 1 drop failure.
    assert_eq!(got["records"], 3);
    assert_eq!(got["streams"]["audio"]["total"], 6);
    assert_eq!(got["streams"]["audio"]["poor"], 2);
    assert_eq!(got["sessions"]["total"], 6);
    assert_eq!(got["sessions"]["setupFailures"], 1);
    assert_eq!(got["sessions"]["dropFailures"], 1);
    assert_eq!(got["calls"]["poor"], 2);
    // A window on startDateTime, echoed as written.
    let day = env
        .get("/analytics/v1/summary?from=2026-01-06&until=2026-01-07")
        .await;
    let want = serde_json::to_value(callrecords_quality::summarize(
        &typed(&records[2..]),
        Some("2026-01-06".into()),
        Some("2026-01-07".into()),
    ))
    .unwrap();
    assert_eq!(day, want);
    // Grouped by day.
    let g = env.get("/analytics/v1/summary?groupBy=day").await;
    let want = callrecords_quality::group_by(
        callrecords_quality::GroupKey::Day,
        &typed(&records),
        None,
        None,
        None,
    );
    assert_eq!(g, json!({"groups": serde_json::to_value(want).unwrap()}));
    assert_eq!(g["groups"].as_array().unwrap().len(), 2);
    let (s, t) = env
        .send(
            Method::GET,
            "/analytics/v1/summary?groupBy=nope",
            String::new(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&t).unwrap()["error"]["code"],
        "BadRequest"
    );
}

#[tokio::test]
async fn newer_version_replaces_rows() {
    let env = env();
    env.ingest(&corpus()).await;
    let before = env.get("/analytics/v1/summary").await;
    assert_eq!(before["streams"]["audio"]["total"], 6);
    let calls = env.get("/analytics/v1/calls/c").await;
    assert_eq!(calls["streams"].as_array().unwrap().len(), 3);
    // c, version 2: one good stream only. A stale version 1 afterwards changes nothing.
    env.ingest(&[rec("c", 2, "2026-01-06", &["PT0.01S"], None)])
        .await;
    env.ingest(&[rec("c", 1, "2026-01-06", &["PT0.09S", "PT0.09S"], None)])
        .await;
    let after = env.get("/analytics/v1/summary").await;
    let mut records = corpus();
    records[2] = rec("c", 2, "2026-01-06", &["PT0.01S"], None);
    let want =
        serde_json::to_value(callrecords_quality::summarize(&typed(&records), None, None)).unwrap();
    assert_eq!(after, want);
    assert_eq!(after["streams"]["audio"]["total"], 4);
    let calls = env.get("/analytics/v1/calls/c").await;
    assert_eq!(calls["version"], 2);
    let streams = calls["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["classification"]["class"], "good");
    let (s, _) = env
        .send(Method::GET, "/analytics/v1/calls/nope", String::new())
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn streams_page_with_next_links_and_filters() {
    let env = env();
    env.ingest(&corpus()).await;
    let mut uri = "/analytics/v1/streams?$top=4".to_owned();
    let mut seen = Vec::new();
    loop {
        let page = env.get(&uri).await;
        seen.extend(page["value"].as_array().unwrap().iter().cloned());
        match page["@odata.nextLink"].as_str() {
            Some(next) => uri = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let poor = env.get("/analytics/v1/streams?class=poor&kind=audio").await;
    assert_eq!(poor["value"].as_array().unwrap().len(), 2);
    let c = env
        .get("/analytics/v1/streams?recordId=c&from=2026-01-06")
        .await;
    assert_eq!(c["value"].as_array().unwrap().len(), 3);
    let none = env.get("/analytics/v1/streams?until=2026-01-05").await;
    assert!(none["value"].as_array().unwrap().is_empty());
    let (s, _) = env
        .send(
            Method::GET,
            "/analytics/v1/streams?class=meh",
            String::new(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn buildings_put_get_errors_and_missing_subnets() {
    let env = env();
    // 10 audio streams from 10.0.1.0, no building: a missing subnet.
    let many: Vec<&str> = vec!["PT0.01S"; 10];
    env.ingest(&[rec("m", 1, "2026-01-05", &many, None)]).await;
    let missing = env.get("/analytics/v1/missingSubnets").await;
    assert_eq!(
        missing,
        json!({"value": [{"subnet": "10.0.1.0", "audioStreams": 10}]})
    );
    let bad = "10.0.1.0,Net,24,HQ,Own,Office,Open,Oslo,0150,NO,Oslo,EMEA,1,0,0\nnot-an-ip,x,24\n";
    let (s, t) = env
        .send(Method::PUT, "/analytics/v1/buildings", bad.into())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{t}");
    let e: Value = serde_json::from_str(&t).unwrap();
    assert!(
        e["error"]["message"].as_str().unwrap().contains("line 2"),
        "{t}"
    );
    let (s, t) = env
        .send(Method::GET, "/analytics/v1/buildings", String::new())
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "no file yet is an empty file, not an error"
    );
    assert_eq!(t, "");
    let good = "10.0.1.0,Net,24,HQ,Own,Office,Open,Oslo,0150,NO,Oslo,EMEA,1,0,0\n";
    let (s, t) = env
        .send(Method::PUT, "/analytics/v1/buildings", good.into())
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (s, t) = env
        .send(Method::GET, "/analytics/v1/buildings", String::new())
        .await;
    assert_eq!((s, t.as_str()), (StatusCode::OK, good));
    let missing = env.get("/analytics/v1/missingSubnets").await;
    assert_eq!(missing, json!({"value": []}));
    let g = env.get("/analytics/v1/summary?groupBy=building").await;
    assert_eq!(g["groups"][0]["key"], "HQ", "{g}");
    let n = env.get("/analytics/v1/summary?groupBy=network").await;
    assert_eq!(n["groups"][0]["key"], "wifi/inside", "{n}");
}

/// A record with an audio, a video and a VBSS stream in one session, on another subnet and device.
fn av_rec(id: &str, day: &str, frame_rate: f64, vbss_rate: f64) -> Value {
    let media = |label: &str, stream: Value| {
        json!({"label": label,
               "callerNetwork": {"subnet": "10.0.2.0", "ipAddress": "10.0.2.9", "connectionType": "wired"},
               "callerDevice": {"captureDeviceName": "Headset X"},
               "streams": [stream]})
    };
    json!({"id": id, "version": 1, "type": "groupCall", "modalities": ["audio", "video", "screenSharing"],
           "lastModifiedDateTime": format!("{day}T10:00:00Z"),
           "startDateTime": format!("{day}T09:00:00Z"), "endDateTime": format!("{day}T10:00:00Z"),
           "joinWebUrl": format!("https://teams/{id}"),
           "sessions": [{"id": format!("{id}-s"), "caller": user("v1"), "callee": mcu(),
               "startDateTime": format!("{day}T09:00:00Z"),
               "segments": [{"id": format!("{id}-g"), "startDateTime": format!("{day}T09:00:00Z"),
                   "caller": user("v1"), "callee": mcu(),
                   "media": [
                       media("main-audio", json!({"streamId": "a", "streamDirection": "callerToCallee", "averageJitter": "PT0.031S"})),
                       media("main-video", json!({"streamId": "v", "streamDirection": "callerToCallee", "averageVideoFrameRate": frame_rate})),
                       media("applicationsharing-video", json!({"streamId": "b", "streamDirection": "callerToCallee", "averageVideoFrameRate": vbss_rate}))]}]}]})
}

#[tokio::test]
async fn summary_kind_filter_every_group_key_and_bad_parameters() {
    let env = env();
    let mut records = corpus();
    records.push(av_rec("v", "2026-01-12", 6.5, 2.0));
    records.push(av_rec("w", "2026-02-02", 7.0, 1.5));
    env.ingest(&records).await;
    let building_file = "10.0.1.0,Net,24,HQ,Own,Office,Open,Oslo,0150,NO,Oslo,EMEA,1,0,0\n\
                         10.0.0.0,Campus,16,Campus,Own,Office,Open,Oslo,0150,NO,Oslo,EMEA,0,0\n";
    let (s, t) = env
        .send(Method::PUT, "/analytics/v1/buildings", building_file.into())
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let map = callrecords_quality::BuildingMap::parse(building_file).unwrap();
    let typed = typed(&records);

    // Every group key of the issue, over HTTP, equals the quality crate's grouping of the same records.
    let mut distinct = 0;
    for key in callrecords_quality::GroupKey::ALL {
        let got = env
            .get(&format!("/analytics/v1/summary?groupBy={}", key.name()))
            .await;
        let want = callrecords_quality::group_by(key, &typed, Some(&map), None, None);
        assert_eq!(
            got,
            json!({"groups": serde_json::to_value(&want).unwrap()}),
            "{key:?}"
        );
        distinct += usize::from(want.len() > 1);
    }
    // The corpus really splits under most keys (not one group everywhere).
    assert!(distinct >= 8, "{distinct}");
    let days = env.get("/analytics/v1/summary?groupBy=month").await;
    let keys: Vec<&str> = days["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["2026-01", "2026-02"]);

    // kind: only that kind under `streams`, sessions and calls as without the filter.
    let all = env.get("/analytics/v1/summary").await;
    for kind in ["audio", "video", "vbss"] {
        let got = env.get(&format!("/analytics/v1/summary?kind={kind}")).await;
        assert_eq!(got["kind"], kind);
        let streams = got["streams"].as_object().unwrap();
        assert_eq!(streams.keys().collect::<Vec<_>>(), [kind]);
        assert_eq!(got["streams"][kind], all["streams"][kind]);
        assert_eq!(got["sessions"], all["sessions"]);
        assert_eq!(got["calls"], all["calls"]);
        assert_eq!(got["records"], all["records"]);
    }
    // Hand-checked: video 6.5 fps < 7 is Poor, 7.0 is Good; VBSS 2.0 is Good, 1.5 < 2 is Poor.
    assert_eq!(all["streams"]["video"]["poor"], 1);
    assert_eq!(all["streams"]["video"]["good"], 1);
    assert_eq!(all["streams"]["vbss"]["poor"], 1);
    assert_eq!(
        all["streams"]["vbss"]["poorDueTo"]["averageVideoFrameRate"],
        1
    );
    // kind with groupBy and a window.
    let g = env
        .get("/analytics/v1/summary?kind=video&groupBy=device&from=2026-01-10&until=2026-02-01")
        .await;
    let groups = g["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{g}");
    assert_eq!(groups[0]["key"], "Headset X");
    assert_eq!(groups[0]["kind"], "video");
    assert_eq!(groups[0]["from"], "2026-01-10");
    assert_eq!(groups[0]["streams"]["video"]["poor"], 1);
    assert!(groups[0]["streams"].get("audio").is_none());

    // Bad values: Graph-format 400s naming the parameter.
    for (uri, names) in [
        ("/analytics/v1/summary?kind=appsharing", "kind"),
        ("/analytics/v1/summary?kind=", "kind"),
        ("/analytics/v1/summary?from=yesterday", "from"),
        ("/analytics/v1/summary?until=2026-13-01", "until"),
        ("/analytics/v1/summary?groupBy=client-version", "groupBy"),
        ("/analytics/v1/summary?groupBy=day&kind=Audio", "kind"),
    ] {
        let (s, t) = env.send(Method::GET, uri, String::new()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {t}");
        let e: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(e["error"]["code"], "BadRequest", "{uri}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(names),
            "{uri}: {t}"
        );
        assert!(e["error"]["innerError"]["request-id"].is_string(), "{t}");
        assert!(e["error"]["innerError"]["date"].is_string(), "{t}");
    }
}
