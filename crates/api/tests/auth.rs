//! Access control and tenant isolation, in process over a two-tenant SQLite store.
//!
//! * `every_route_needs_its_role_and_answers_only_its_tenant` walks the route table: the routes are read
//!   from the sources of the router (every `.route(...)` of `crates/api/src` and `crates/dashboard/src`)
//!   and from the served OpenAPI document, so a new route is probed without editing this file.
//! * The JWT tests check every refusal (no token, expired, not yet valid, wrong audience, wrong issuer,
//!   unknown kid, bad signature, `alg` not allowed, missing role) on every route family, RS256 and ES256,
//!   and the JWKS refresh on an unknown kid and its rate limit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use callrecords_api::auth::jwt::{JwtConfig, JwtValidator, KeySource};
use callrecords_api::auth::tokens::{StaticTokens, token_hash};
use callrecords_api::auth::{
    ADMIN_ROLE, Access, Auth, INGEST_ROLE, Mode, PSTN_ROLE, READ_ROLE, access_of,
};
use callrecords_api::{AppState, Config, app_with_auth};
use callrecords_model::LogKind;
use callrecords_store::{IncomingLogRow, IncomingRecord, Store};
use callrecords_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;

const TA: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
const TB: &str = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/auth").join(name)
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn send(app: &Router, method: Method, uri: &str, token: Option<&str>, body: Body) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &Router, uri: &str, token: Option<&str>) -> Resp {
    send(app, Method::GET, uri, token, Body::empty()).await
}

/// A 401 exactly as Graph sends it.
fn assert_401(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text);
    assert_eq!(r.code(), "InvalidAuthenticationToken", "{what}");
    assert!(
        r.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{what}"
    );
    assert_eq!(
        r.json()["error"]["innerError"]["request-id"].as_str(),
        r.headers.get("request-id").and_then(|v| v.to_str().ok()),
        "{what}: the body repeats the response's request-id"
    );
}

fn assert_403(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.text);
    assert_eq!(r.code(), "accessDenied", "{what}");
}

/// Five synthetic records and some PSTN / direct-routing rows per tenant; each tenant's records name its
/// tenant id in their identities, which is how a leak is seen.
async fn two_tenant_store(dir: &Path) -> (Arc<SqliteStore>, Vec<String>, Vec<String>) {
    let store = Arc::new(SqliteStore::open(dir).unwrap());
    let mut ids = Vec::new();
    for (i, tenant) in [TA, TB].into_iter().enumerate() {
        let cfg = callrecords_synth::GenConfig {
            seed: 40 + i as u64,
            tenant_id: tenant.to_owned(),
            days: 2,
            scale: callrecords_synth::Scale::Small,
            ..Default::default()
        };
        let records: Vec<Value> = callrecords_synth::call_records(&cfg).take(5).collect();
        ids.push(
            records
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
        );
        let batch = records
            .into_iter()
            .map(IncomingRecord::from_value)
            .collect();
        store.put_records(tenant, batch).await.unwrap();
        for kind in [LogKind::PstnCall, LogKind::DirectRoutingCall] {
            let mut out = Vec::new();
            callrecords_synth::write_log_rows(&cfg, kind, 5, &mut out).unwrap();
            let rows = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| {
                    let mut v: Value = serde_json::from_str(l).unwrap();
                    // Mark every row with its tenant, so that a row of A shown to B is seen.
                    v["tenantMarker"] = json!(tenant);
                    IncomingLogRow {
                        raw: v.to_string(),
                        value: v,
                    }
                })
                .collect();
            store.put_log_rows(tenant, kind, rows, None).await.unwrap();
        }
    }
    let b = ids.pop().unwrap();
    let a = ids.pop().unwrap();
    (store, a, b)
}

fn app_over(store: Arc<SqliteStore>, auth: Auth) -> Router {
    let state = AppState {
        store,
        config: Arc::new(Config::default()),
    };
    app_with_auth(state, Arc::new(auth))
}

const TOKENS: [(&str, &str, &[&str]); 6] = [
    ("a-all", TA, &[READ_ROLE, INGEST_ROLE, ADMIN_ROLE]),
    ("b-all", TB, &[READ_ROLE, INGEST_ROLE, ADMIN_ROLE]),
    ("a-none", TA, &[]),
    ("b-ingest", TB, &[INGEST_ROLE]),
    ("b-pstn", TB, &[PSTN_ROLE]),
    ("b-read", TB, &[READ_ROLE]),
];

fn static_auth() -> Auth {
    let text: String = TOKENS
        .iter()
        .map(|(t, tenant, roles)| format!("{} {tenant} {}\n", token_hash(t), roles.join(",")))
        .collect();
    Auth::new(Mode::Static(StaticTokens::parse(&text).unwrap()))
}

/// Every `.route(` path literal in the router's sources (`&format!("/{ver}/…")` expanded to both versions).
fn source_routes() -> Vec<String> {
    let mut files = Vec::new();
    for dir in ["crates/api/src", "crates/dashboard/src"] {
        let mut stack = vec![repo().join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + 7..];
            let arg = rest.trim_start();
            let lit = arg
                .strip_prefix('"')
                .or_else(|| arg.strip_prefix("&format!(\""));
            let Some(lit) = lit else {
                panic!(
                    "{}: a .route( whose path this test cannot read: {}",
                    f.display(),
                    &arg[..arg.len().min(60)]
                );
            };
            let path = &lit[..lit.find('"').unwrap()];
            let path = if arg.starts_with('&') {
                path.replace("{{", "{").replace("}}", "}")
            } else {
                path.to_owned()
            };
            if path.contains("{ver}") {
                out.push(path.replace("{ver}", "v1.0"));
                out.push(path.replace("{ver}", "beta"));
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The concrete URLs a route pattern is probed at (A's ids in the parameters).
fn concrete(pattern: &str, a: &str) -> Vec<String> {
    if let Some(ver) = pattern
        .strip_suffix("/communications/{*rest}")
        .map(|v| v.trim_start_matches('/'))
    {
        let base = format!("/{ver}/communications/callRecords");
        let win = "fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-03-01T00:00:00Z";
        let mut v = vec![
            base.clone(),
            format!("{base}?$count=true"),
            format!("{base}/$count"),
            format!("{base}?$filter=id eq '{a}'").replace(' ', "%20"),
            format!("{base}/{a}"),
            format!("{base}('{a}')"),
            format!("{base}/{a}?$expand=sessions($expand=segments)"),
            format!("{base}/{a}?$expand=participants_v2"),
            format!("{base}/{a}/sessions"),
            format!("{base}/{a}/sessions/$count"),
            format!("{base}/{a}/participants_v2"),
            format!("{base}/{a}/participants_v2/$count"),
            format!("{base}/getPstnCalls({win})"),
            format!("{base}/microsoft.graph.callRecords.getDirectRoutingCalls({win})"),
        ];
        if ver == "beta" {
            v.push(format!("{base}/getSmsLog({win})"));
            v.push(format!("{base}/getPstnBlockedUsersLog({win})"));
        }
        return v;
    }
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest.find('}').unwrap();
        out.push_str(match &rest[i + 1..j] {
            "id" if pattern.contains("subscriptions") => "4f6a4c1e-1111-4111-8111-000000000000",
            "id" => a,
            "version" => "1",
            "kind" => "callRecords",
            "*path" => "app.js",
            "file" => "app.js",
            other => panic!("{pattern}: add a value for the path parameter {{{other}}} here"),
        });
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    vec![out]
}

/// What may be reached without a token: adding a public route means adding it here (and to
/// `auth::access_of`).
const PUBLIC: [&str; 12] = [
    "/healthz",
    "/readyz",
    "/",
    "/dashboard/app.js",
    "/v1.0/$metadata",
    "/beta/$metadata",
    "/analytics/v1/openapi.json",
    "/notifications/graph",
    "/notifications/graph/lifecycle",
    "/dashboard/",
    // The dashboard's sign-in: starting it, and the identity provider sending the browser back.
    "/auth/login",
    "/auth/callback",
];

#[tokio::test]
async fn every_route_needs_its_role_and_answers_only_its_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a_ids, b_ids) = two_tenant_store(dir.path()).await;
    let app = app_over(store, static_auth());
    let a = a_ids[0].as_str();

    let mut patterns = source_routes();
    let openapi = get(&app, "/analytics/v1/openapi.json", None).await.json();
    let documented: Vec<String> = openapi["paths"]
        .as_object()
        .expect("the OpenAPI document lists paths")
        .keys()
        .cloned()
        .collect();
    assert!(documented.len() >= 6, "{documented:?}");
    patterns.extend(documented);
    patterns.sort();
    patterns.dedup();
    for must in [
        "/v1.0/communications/{*rest}",
        "/admin/sync",
        "/admin/callRecords/{id}/versions",
        "/v1.0/subscriptions",
        "/analytics/v1/calls",
        "/ingest/{kind}",
    ] {
        assert!(
            patterns.iter().any(|p| p == must || p.starts_with(must)),
            "{must} not found in {patterns:?}"
        );
    }

    let mut urls: Vec<String> = patterns.iter().flat_map(|p| concrete(p, a)).collect();
    urls.push("/no/such/route".into());
    let mut shown_to_owner = Vec::new();
    for url in &urls {
        let path = url.split('?').next().unwrap();
        let access = access_of(&Method::GET, path);
        let anonymous = get(&app, url, None).await;
        if access == Access::Public {
            assert!(PUBLIC.contains(&path), "{url} is public but not listed");
            assert_ne!(anonymous.status, StatusCode::UNAUTHORIZED, "{url}");
            continue;
        }
        // Every method needs the token, not only GET.
        assert_401(&anonymous, url);
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_401(&send(&app, m, url, None, Body::empty()).await, url);
        }
        assert_401(&get(&app, url, Some("not-a-token")).await, url);
        if !access.roles().is_empty() {
            assert_403(&get(&app, url, Some("a-none")).await, url);
        }
        // A's answer (first, so that a response cache would hold it), then B's to the same URL.
        let owner = get(&app, url, Some("a-all")).await;
        if owner.text.contains(TA) || a_ids.iter().any(|id| owner.text.contains(id.as_str())) {
            shown_to_owner.push(path.to_owned());
        }
        let other = get(&app, url, Some("b-all")).await;
        assert!(
            !other.text.contains(TA),
            "{url}: tenant B was shown tenant A's data: {}",
            other.text
        );
        if other.status.is_success() {
            for id in &a_ids {
                assert!(
                    !other.text.contains(id.as_str()),
                    "{url}: B was shown A's record {id}"
                );
            }
        }
        // Another tenant's record id is a 404, exactly as a missing one.
        if url.contains(a) && !path.contains("subscriptions") && other.status.is_client_error() {
            let missing = url.replace(a, "00000000-0000-4000-8000-000000000000");
            let missing = get(&app, &missing, Some("b-all")).await;
            assert_eq!(other.status, missing.status, "{url}");
            assert_eq!(other.code(), missing.code(), "{url}");
        }
    }
    // Not vacuous: the owner does see its data on the data routes.
    for must in [
        "/v1.0/communications/callRecords",
        &format!("/v1.0/communications/callRecords/{a}"),
        &format!("/beta/communications/callRecords/{a}/sessions"),
        &format!("/v1.0/communications/callRecords/{a}/participants_v2"),
        &format!("/admin/callRecords/{a}/versions"),
        "/analytics/v1/calls",
        "/analytics/v1/streams",
    ] {
        assert!(
            shown_to_owner.iter().any(|p| p == must),
            "{must} showed the owner nothing: {shown_to_owner:?}"
        );
    }
    // B sees its own records.
    let b_list = get(&app, "/v1.0/communications/callRecords", Some("b-read")).await;
    assert_eq!(b_list.status, StatusCode::OK);
    assert!(b_ids.iter().all(|id| b_list.text.contains(id.as_str())));
    assert!(!b_list.text.contains(TA));
}

#[tokio::test]
async fn a_next_link_is_useless_to_another_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = two_tenant_store(dir.path()).await;
    let app = app_over(store, static_auth());
    for first in [
        "/v1.0/communications/callRecords",
        "/v1.0/communications/callRecords?$count=true",
    ] {
        let req = Request::get(first)
            .header(header::AUTHORIZATION, "Bearer a-all")
            .header("prefer", "odata.maxpagesize=1")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let page: Value = serde_json::from_slice(&bytes).unwrap();
        let next = page["@odata.nextLink"].as_str().expect("a nextLink");
        let rel = &next[next.find("/v1.0/").unwrap()..];
        let mine = get(&app, rel, Some("a-all")).await;
        assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
        let theirs = get(&app, rel, Some("b-all")).await;
        assert_eq!(theirs.status, StatusCode::BAD_REQUEST, "{}", theirs.text);
        assert_eq!(theirs.code(), "BadRequest");
        assert!(!theirs.text.contains(TA));
    }
}

#[tokio::test]
async fn ingest_goes_to_the_tokens_tenant_and_elsewhere_only_for_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = two_tenant_store(dir.path()).await;
    let app = app_over(store.clone(), static_auth());
    let cfg = callrecords_synth::GenConfig {
        seed: 99,
        scale: callrecords_synth::Scale::Small,
        ..Default::default()
    };
    let rec = callrecords_synth::call_records(&cfg).next().unwrap();
    let id = rec["id"].as_str().unwrap().to_owned();
    let post = |uri: String, token: &'static str| {
        let app = app.clone();
        let body = rec.to_string();
        async move { send(&app, Method::POST, &uri, Some(token), Body::from(body)).await }
    };
    let versions = format!("/admin/callRecords/{id}/versions");
    // No Ingest role: 403.
    assert_403(
        &post("/ingest/callRecords".into(), "b-read").await,
        "read-only",
    );
    // Into its own tenant by default, and by name.
    let r = post("/ingest/callRecords".into(), "b-ingest").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        get(&app, &versions, Some("b-all")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, &versions, Some("a-all")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = post(format!("/ingest/callRecords?tenantId={TB}"), "b-ingest").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Into another tenant: refused without CallRecords.Admin, nothing stored.
    let r = post(format!("/ingest/callRecords?tenantId={TA}"), "b-ingest").await;
    assert_403(&r, "cross-tenant ingest");
    assert_eq!(
        get(&app, &versions, Some("a-all")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = post(format!("/ingest/callRecords?tenantId={TA}"), "b-all").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        get(&app, &versions, Some("a-all")).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_pstn_role_reads_the_pstn_functions_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = two_tenant_store(dir.path()).await;
    let app = app_over(store, static_auth());
    let win = "fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-03-01T00:00:00Z";
    let r = get(
        &app,
        &format!("/v1.0/communications/callRecords/getPstnCalls({win})"),
        Some("b-pstn"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains(TB) && !r.text.contains(TA));
    assert_403(
        &get(&app, "/v1.0/communications/callRecords", Some("b-pstn")).await,
        "list with the PSTN role",
    );
}

// --- JWT ---------------------------------------------------------------------------------------------

const ISSUER: &str = "https://login.example.test/{tenantid}/v2.0";
const AUDIENCE: &str = "api://callrecords";

fn rsa(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_der(&std::fs::read(fixture(name)).unwrap())
}

fn ec() -> EncodingKey {
    EncodingKey::from_ec_der(&std::fs::read(fixture("ec1.der")).unwrap())
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn claims(tid: &str, roles: &[&str]) -> Value {
    json!({
        "iss": ISSUER.replace("{tenantid}", tid),
        "aud": AUDIENCE,
        "tid": tid,
        "appid": "11111111-0000-0000-0000-000000000001",
        "roles": roles,
        "iat": now(),
        "nbf": now() - 10,
        "exp": now() + 3600,
    })
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

fn good(tid: &str, roles: &[&str]) -> String {
    sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &claims(tid, roles),
        &rsa("rsa1.der"),
    )
}

async fn jwt_auth(jwks: &Path, min_refresh: Duration) -> Auth {
    let mut cfg = JwtConfig::new(
        vec![ISSUER.to_owned()],
        vec![AUDIENCE.to_owned()],
        KeySource::File(jwks.to_owned()),
    );
    cfg.min_refresh = min_refresh;
    Auth::new(Mode::Jwt(JwtValidator::new(cfg).await.unwrap()))
}

/// One request per route family, with the role it needs.
fn families(a: &str) -> Vec<(Method, String, &'static str)> {
    let win = "fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-03-01T00:00:00Z";
    vec![
        (
            Method::GET,
            "/v1.0/communications/callRecords".into(),
            READ_ROLE,
        ),
        (
            Method::GET,
            format!("/beta/communications/callRecords/{a}/sessions"),
            READ_ROLE,
        ),
        (
            Method::GET,
            format!("/v1.0/communications/callRecords/getPstnCalls({win})"),
            READ_ROLE,
        ),
        (Method::GET, "/v1.0/subscriptions".into(), READ_ROLE),
        (Method::GET, "/analytics/v1/summary".into(), READ_ROLE),
        (Method::PUT, "/analytics/v1/buildings".into(), ADMIN_ROLE),
        (Method::POST, "/ingest/callRecords".into(), INGEST_ROLE),
        (Method::GET, "/admin/sync".into(), ADMIN_ROLE),
        (
            Method::GET,
            format!("/admin/callRecords/{a}/versions"),
            ADMIN_ROLE,
        ),
    ]
}

#[tokio::test]
async fn every_refusal_on_every_route_family() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a_ids, _) = two_tenant_store(dir.path()).await;
    let app = app_over(
        store,
        jwt_auth(&fixture("jwks.json"), Duration::from_secs(30)).await,
    );
    let key1 = rsa("rsa1.der");
    let key2 = rsa("rsa2.der");
    let all = [READ_ROLE, INGEST_ROLE, ADMIN_ROLE];
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(TA, &all);
        f(&mut c);
        sign(Algorithm::RS256, Some("rsa-1"), &c, &key1)
    };
    let refusals: Vec<(&str, String)> = vec![
        ("expired", with(&|c| c["exp"] = json!(now() - 3600))),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 3600))),
        (
            "no exp",
            with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "wrong audience",
            with(&|c| c["aud"] = json!("api://someone-else")),
        ),
        (
            "wrong issuer",
            with(&|c| c["iss"] = json!("https://evil.example/aaaa/v2.0")),
        ),
        (
            "issuer of another tenant",
            with(&|c| c["iss"] = json!(ISSUER.replace("{tenantid}", TB))),
        ),
        (
            "no tid",
            with(&|c| drop(c.as_object_mut().unwrap().remove("tid"))),
        ),
        (
            "unknown kid",
            sign(Algorithm::RS256, Some("nope"), &claims(TA, &all), &key1),
        ),
        (
            "no kid",
            sign(Algorithm::RS256, None, &claims(TA, &all), &key1),
        ),
        (
            "bad signature",
            sign(Algorithm::RS256, Some("rsa-1"), &claims(TA, &all), &key2),
        ),
        (
            "ES256 header on an RSA key",
            sign(Algorithm::ES256, Some("rsa-1"), &claims(TA, &all), &ec()),
        ),
        (
            "HS256 with the JWKS's octet key",
            sign(
                Algorithm::HS256,
                Some("hmac-ignored"),
                &claims(TA, &all),
                &EncodingKey::from_secret(b"secret").unwrap(),
            ),
        ),
        ("alg none", {
            let h = base64_url(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
            let p = base64_url(claims(TA, &all).to_string().as_bytes());
            format!("{h}.{p}.")
        }),
        ("garbage", "a.b.c".into()),
    ];
    let a = a_ids[0].as_str();
    for (method, uri, role) in families(a) {
        let what = format!("{method} {uri}");
        let r = send(&app, method.clone(), &uri, None, Body::empty()).await;
        assert_401(&r, &format!("{what}: no token"));
        for (why, token) in &refusals {
            let r = send(&app, method.clone(), &uri, Some(token), Body::empty()).await;
            assert_401(&r, &format!("{what}: {why}"));
        }
        // A valid token without the role.
        let others: Vec<&str> = all.iter().copied().filter(|r| *r != role).collect();
        let no_role = if role == INGEST_ROLE {
            good(TA, &[READ_ROLE]) // Admin implies Ingest
        } else {
            good(TA, &others)
        };
        assert_403(
            &send(&app, method.clone(), &uri, Some(&no_role), Body::empty()).await,
            &what,
        );
        // The right role (RS256, then ES256) passes the gate.
        for token in [
            good(TA, &[role]),
            sign(Algorithm::ES256, Some("ec-1"), &claims(TA, &[role]), &ec()),
        ] {
            let r = send(&app, method.clone(), &uri, Some(&token), Body::empty()).await;
            assert!(
                r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
                "{what}: {} {}",
                r.status,
                r.text
            );
        }
    }
    // Within the leeway (60 s) an expired token still passes.
    let late = with(&|c| c["exp"] = json!(now() - 20));
    let r = get(&app, "/v1.0/communications/callRecords", Some(&late)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The token's tenant scopes it: B's token does not see A's record.
    let b = good(TB, &[READ_ROLE]);
    let r = get(
        &app,
        &format!("/v1.0/communications/callRecords/{a}"),
        Some(&b),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "itemNotFound");
}

fn base64_url(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..=n {
            out.push(A[((v >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_jwks_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, _) = two_tenant_store(dir.path()).await;
    let token2 = sign(
        Algorithm::RS256,
        Some("rsa-2"),
        &claims(TA, &[READ_ROLE]),
        &rsa("rsa2.der"),
    );
    let list = "/v1.0/communications/callRecords";

    // Refresh allowed at once: the rotated key is picked up on the first request that names it.
    let jwks = dir.path().join("jwks.json");
    std::fs::copy(fixture("jwks.json"), &jwks).unwrap();
    let app = app_over(store.clone(), jwt_auth(&jwks, Duration::ZERO).await);
    assert_401(&get(&app, list, Some(&token2)).await, "before the rotation");
    std::fs::copy(fixture("jwks-rotated.json"), &jwks).unwrap();
    let r = get(&app, list, Some(&token2)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Refresh rate-limited: right after the start the new key is not fetched.
    let jwks = dir.path().join("jwks-limited.json");
    std::fs::copy(fixture("jwks.json"), &jwks).unwrap();
    let app = app_over(store, jwt_auth(&jwks, Duration::from_secs(3600)).await);
    std::fs::copy(fixture("jwks-rotated.json"), &jwks).unwrap();
    assert_401(&get(&app, list, Some(&token2)).await, "inside the interval");
    assert_eq!(
        get(&app, list, Some(&good(TA, &[READ_ROLE]))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_jwks_url_is_fetched_at_start_and_again_only_for_an_unknown_kid() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let fetches = Arc::new(AtomicUsize::new(0));
    let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (f, r) = (fetches.clone(), rotated.clone());
    let idp = Router::new().route(
        "/keys",
        axum::routing::get(move || {
            let (f, r) = (f.clone(), r.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let name = if r.load(Ordering::SeqCst) {
                    "jwks-rotated.json"
                } else {
                    "jwks.json"
                };
                std::fs::read_to_string(fixture(name)).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, idp).await.unwrap() });

    let mut cfg = JwtConfig::new(
        vec![ISSUER.to_owned()],
        vec![AUDIENCE.to_owned()],
        KeySource::Url(format!("http://{addr}/keys")),
    );
    cfg.min_refresh = Duration::from_millis(300);
    let v = JwtValidator::new(cfg).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert_eq!(v.kids(), ["ec-1", "rsa-1"]);
    // Known kids: no fetch.
    for _ in 0..5 {
        v.validate(&good(TA, &[READ_ROLE])).await.unwrap();
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    let token2 = sign(
        Algorithm::RS256,
        Some("rsa-2"),
        &claims(TA, &[READ_ROLE]),
        &rsa("rsa2.der"),
    );
    // An unknown kid within the interval: refused without a fetch, however often.
    for _ in 0..20 {
        assert!(v.validate(&token2).await.is_err());
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // After the interval, after the rotation: one fetch, and the new key works.
    rotated.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let p = v.validate(&token2).await.unwrap();
    assert_eq!(p.tenant, TA);
    assert_eq!(p.app_id, "11111111-0000-0000-0000-000000000001");
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn odd_spellings_of_a_path_do_not_slip_past_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let (store, a_ids, _) = two_tenant_store(dir.path()).await;
    let app = app_over(store, static_auth());
    let a = a_ids[0].as_str();
    for path in [
        "//admin/sync".to_owned(),
        "/admin//sync".to_owned(),
        "/admin/sync/".to_owned(),
        "/%61dmin/sync".to_owned(),
        "/ADMIN/sync".to_owned(),
        "/./admin/sync".to_owned(),
        "/healthz/../admin/sync".to_owned(),
        "/dashboard/../admin/sync".to_owned(),
        "/dashboard/%2e%2e/admin/sync".to_owned(),
        format!("/dashboard/../admin/callRecords/{a}/versions"),
        format!("/dashboard/../v1.0/communications/callRecords/{a}"),
        "/dashboard/..%2fanalytics/v1/calls".to_owned(),
        format!("//v1.0/communications/callRecords/{a}"),
        format!("/v1.0//communications/callRecords/{a}"),
        "/%761.0/communications/callRecords".to_owned(),
        "/ingest//callRecords".to_owned(),
    ] {
        // A valid token without roles, and no token at all: neither may reach data.
        for token in [Some("a-none"), None] {
            let r = get(&app, &path, token).await;
            assert!(
                !r.status.is_success() && !r.text.contains(TA),
                "{path} with {token:?}: {} {}",
                r.status,
                r.text
            );
        }
    }
}
