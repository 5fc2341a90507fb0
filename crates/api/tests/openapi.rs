//! `GET /analytics/v1/openapi.json`: a valid OpenAPI 3 document (it parses back into utoipa's OpenAPI
//! types, every `$ref` resolves), listing every analytics and ingest route the router serves, and every
//! documented operation is routed (not the router's "no such segment" 404, not a 405).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use callrecords_api::{AppState, Config, app};
use callrecords_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "$ref"
                    && let Some(s) = x.as_str()
                {
                    out.push(s);
                }
                refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_is_valid_and_lists_every_analytics_and_ingest_route() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(AppState {
        store: Arc::new(SqliteStore::open(dir.path()).unwrap()),
        config: Arc::new(Config::default()),
    });
    let send = |method: Method, uri: String| {
        let app = app.clone();
        async move {
            let req = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let ct = resp
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, ct, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let (status, ct, text) = send(Method::GET, "/analytics/v1/openapi.json".into()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(ct.as_deref(), Some("application/json"));
    let doc: Value = serde_json::from_str(&text).unwrap();

    // OpenAPI 3, parsed back by utoipa's own (serde) types without loss of the paths.
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "{version}");
    let parsed: utoipa::openapi::OpenApi = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(
        parsed.paths.paths.len(),
        doc["paths"].as_object().unwrap().len()
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "unresolved $ref {r}"
        );
    }

    // Exactly the analytics and ingest operations of the issue (and this document).
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            assert!(
                op["operationId"].is_string() && op["summary"].is_string(),
                "{method} {path}"
            );
            ops.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let want: BTreeSet<String> = [
        "GET /analytics/v1/summary",
        "GET /analytics/v1/streams",
        "GET /analytics/v1/calls",
        "GET /analytics/v1/calls/{id}",
        "GET /analytics/v1/buildings",
        "PUT /analytics/v1/buildings",
        "GET /analytics/v1/missingSubnets",
        "GET /analytics/v1/openapi.json",
        "POST /ingest/{kind}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(ops, want);

    // Enumerations come from the code.
    let params = |path: &str, method: &str| doc["paths"][path][method]["parameters"].clone();
    let summary = params("/analytics/v1/summary", "get");
    let enum_of = |ps: &Value, name: &str| -> Vec<String> {
        ps.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no parameter {name}"))["schema"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let keys = enum_of(&summary, "groupBy");
    assert_eq!(keys.len(), callrecords_quality::GroupKey::ALL.len());
    assert_eq!(enum_of(&summary, "kind"), ["audio", "video", "vbss"]);
    for p in ["from", "until"] {
        assert!(
            summary
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == p && x["in"] == "query"),
            "{p}"
        );
    }
    let kinds = enum_of(&params("/ingest/{kind}", "post"), "kind");
    assert_eq!(kinds.len(), 6, "{kinds:?}");

    // Every documented operation is routed: every groupBy value answers 200; every ingest kind reaches
    // the handler (an empty body is a 400 "no records", not the router's 404); an unknown one is a 404.
    for k in &keys {
        let (s, _, t) = send(Method::GET, format!("/analytics/v1/summary?groupBy={k}")).await;
        assert_eq!(s, StatusCode::OK, "{k}: {t}");
    }
    for k in &kinds {
        let (s, _, t) = send(Method::POST, format!("/ingest/{k}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{k}: {t}");
    }
    let (s, _, _) = send(Method::POST, "/ingest/nothings".into()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for op in &ops {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .replace("{id}", "no-such-call")
            .replace("{kind}", "callRecords");
        let (s, _, t) = send(method.parse().unwrap(), path.clone()).await;
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{op}");
        if s == StatusCode::NOT_FOUND {
            let e: Value = serde_json::from_str(&t).unwrap();
            assert_ne!(e["error"]["code"], "BadRequest", "{op} is not routed: {t}");
        }
    }
}

/// Every operation the access table protects documents the bearer scheme with its roles and the 401 and
/// 403 answers (Graph's error body); and the server, with tokens on, does answer 401 without a token and
/// 403 with a token lacking the role, on every one of them.
#[tokio::test]
async fn protected_operations_document_401_403_and_the_bearer_scheme() {
    use callrecords_api::app_with_auth;
    use callrecords_api::auth::tokens::{StaticTokens, token_hash};
    use callrecords_api::auth::{Access, Auth, Mode, access_of};

    let doc = callrecords_api::openapi::document();
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let parsed: utoipa::openapi::OpenApi = serde_json::from_value(doc.clone()).unwrap();
    assert!(
        parsed
            .components
            .unwrap()
            .security_schemes
            .contains_key("bearer")
    );

    let dir = tempfile::tempdir().unwrap();
    let tokens = format!("{} tenant-a\n", token_hash("no-roles"));
    let app = app_with_auth(
        AppState {
            store: Arc::new(SqliteStore::open(dir.path()).unwrap()),
            config: Arc::new(Config::default()),
        },
        Arc::new(Auth::new(Mode::Static(
            StaticTokens::parse(&tokens).unwrap(),
        ))),
    );
    let mut protected = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let m: Method = method.to_uppercase().parse().unwrap();
            let access = access_of(&m, path);
            let what = format!("{method} {path}");
            if access == Access::Public {
                assert!(op.get("security").is_none(), "{what}");
                assert!(op["responses"].get("401").is_none(), "{what}");
                continue;
            }
            protected += 1;
            let roles: Vec<&str> = op["security"][0]["bearer"]
                .as_array()
                .unwrap_or_else(|| panic!("{what} names no bearer security"))
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert_eq!(roles, access.roles(), "{what}");
            for status in ["401", "403"] {
                let r = &op["responses"][status];
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/GraphError",
                    "{what} {status}"
                );
            }
            assert!(op["responses"]["401"]["headers"]["WWW-Authenticate"].is_object());
            // What the server does.
            let uri = path.replace("{id}", "x").replace("{kind}", "callRecords");
            for (token, want) in [
                (None, StatusCode::UNAUTHORIZED),
                (Some("no-roles"), StatusCode::FORBIDDEN),
            ] {
                let mut req = Request::builder().method(m.clone()).uri(&uri);
                if let Some(t) = token {
                    req = req.header("authorization", format!("Bearer {t}"));
                }
                let resp = app
                    .clone()
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(resp.status(), want, "{what} with {token:?}");
            }
        }
    }
    let total: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|i| i.as_object().unwrap().len())
        .sum();
    assert!(protected >= 8);
    assert_eq!(
        protected,
        total - 1,
        "every operation but the document itself"
    );
}
