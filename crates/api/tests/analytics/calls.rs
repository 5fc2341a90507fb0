//! `GET /analytics/v1/calls`: the call list, through the real deriver (poor streams and failed sessions are
//! counted from the rows it writes), with its filters, orders, pages and errors.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{env, rec};

fn corpus() -> Vec<Value> {
    let mut p2p = rec("d", 1, "2026-01-07", &["PT0.01S"], None);
    p2p["type"] = json!("peerToPeer");
    p2p["endDateTime"] = json!("2026-01-07T09:00:30Z");
    p2p["participants_v2"] = json!([{"id": "zed", "identity": {"user": {"id": "zed", "displayName": "Zed Quist"}}}, {"id": "u0"}]);
    vec![
        // a: one poor stream (jitter 50 ms > 30 ms), b: a setup failure, c: a poor stream and a drop.
        rec("a", 1, "2026-01-05", &["PT0.01S", "PT0.05S"], None),
        rec("b", 1, "2026-01-05", &["PT0.01S"], Some("callSetup")),
        rec(
            "c",
            1,
            "2026-01-06",
            &["PT0.04S", "PT0.02S", "PT0.01S"],
            Some("midcall"),
        ),
        p2p,
    ]
}

fn ids(v: &Value) -> Vec<&str> {
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn calls_list_filters_orders_and_pages() {
    let env = env();
    env.ingest(&corpus()).await;
    let all = env.get("/analytics/v1/calls").await;
    assert_eq!(all["@odata.count"], 4);
    // Default: start, newest first.
    assert_eq!(ids(&all), ["d", "c", "b", "a"]);
    let c = &all["value"][1];
    assert_eq!(c["sessions"], 3);
    assert_eq!(c["streams"], 3);
    assert_eq!(c["poorStreams"], 1);
    assert_eq!(c["failedSessions"], 1);
    assert_eq!(c["durationSeconds"], 3600.0);
    assert_eq!(c["startDateTime"], "2026-01-06T09:00:00Z");
    assert_eq!(c["type"], "groupCall");
    assert_eq!(
        ids(&env.get("/analytics/v1/calls?poorOnly=true").await),
        ["c", "a"]
    );
    assert_eq!(
        ids(&env.get("/analytics/v1/calls?failedOnly=true").await),
        ["c", "b"]
    );
    assert_eq!(
        ids(&env.get("/analytics/v1/calls?type=peerToPeer").await),
        ["d"]
    );
    assert_eq!(
        ids(&env.get("/analytics/v1/calls?search=zed%20q").await),
        ["d"]
    );
    assert_eq!(
        ids(&env.get("/analytics/v1/calls?search=teams/b").await),
        ["b"]
    );
    assert_eq!(
        ids(&env
            .get("/analytics/v1/calls?from=2026-01-05&until=2026-01-06")
            .await),
        ["b", "a"]
    );
    assert_eq!(
        ids(&env.get("/analytics/v1/calls?orderBy=duration%20asc").await),
        ["d", "a", "b", "c"]
    );
    assert_eq!(
        ids(&env.get("/analytics/v1/calls?orderBy=participants").await)[0],
        "d"
    );
    assert_eq!(
        ids(&env
            .get("/analytics/v1/calls?orderBy=poorStreams%20desc")
            .await)[..2],
        ["c", "a"]
    );
    // Pages: the nextLink keeps the filter and moves $skip; the last page has none.
    let p1 = env
        .get("/analytics/v1/calls?$top=3&orderBy=start%20asc")
        .await;
    assert_eq!(ids(&p1), ["a", "b", "c"]);
    let next = p1["@odata.nextLink"].as_str().unwrap();
    let p2 = env.get(next).await;
    assert_eq!(ids(&p2), ["d"]);
    assert_eq!(p2["@odata.count"], 4);
    assert!(p2.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn calls_list_rejects_bad_parameters_with_graph_errors() {
    let env = env();
    for uri in [
        "/analytics/v1/calls?orderBy=nope",
        "/analytics/v1/calls?orderBy=start%20sideways",
        "/analytics/v1/calls?$top=0",
        "/analytics/v1/calls?$top=5000",
        "/analytics/v1/calls?$skip=-1",
        "/analytics/v1/calls?poorOnly=yes",
        "/analytics/v1/calls?from=yesterday",
    ] {
        let (s, t) = env.send(Method::GET, uri, String::new()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {t}");
        let v: Value = serde_json::from_str(&t).unwrap();
        assert_eq!(v["error"]["code"], "BadRequest", "{uri}: {t}");
        assert!(v["error"]["innerError"]["request-id"].is_string(), "{t}");
    }
}
