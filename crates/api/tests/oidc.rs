//! The dashboard's OpenID Connect sign-in, in process: the API app (tower oneshot) signs in against the
//! fake's identity provider (its authorize and token endpoints, served on a loopback port in this process).
//!
//! Covered: the whole flow (login redirect → authorize → callback → session cookie → data call), the cookie
//! flags, a bad or missing state, a wrong PKCE verifier, a wrong nonce, a replayed callback, an expired or
//! forged session, the CSRF defence (missing, wrong, cross-origin, cross-site), open-redirect attempts,
//! roles and tenant isolation through a session, sign-out, and a server without sign-in configured.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use callrecords_api::auth::jwt::{JwtConfig, JwtValidator, KeySource};
use callrecords_api::auth::oidc::{Oidc, OidcConfig};
use callrecords_api::auth::session::{
    LOGIN_PURPOSE, LoginState, SESSION_PURPOSE, Session, SessionKey,
};
use callrecords_api::auth::{Auth, Mode, READ_ROLE};
use callrecords_api::{AppState, Config, app_with_auth};
use callrecords_fake::oauth::{Authority, SigningKey};
use callrecords_store::{IncomingRecord, Store};
use callrecords_store_sqlite::SqliteStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const TA: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
const TB: &str = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb";
const CLIENT: &str = "dashboard-client";
const SECRET: &str = "dashboard-secret";
const AUDIENCE: &str = "api://callrecords";
const ORIGIN: &str = "http://dash.test";

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
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
    fn location(&self) -> String {
        self.headers[header::LOCATION].to_str().unwrap().to_owned()
    }
    /// The `Set-Cookie` of cookie `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with(&format!("{name}=")))
    }
    /// `name=value` of a cookie set by this response (for a `Cookie` header).
    fn cookie_pair(&self, name: &str) -> String {
        let c = self
            .set_cookie(name)
            .unwrap_or_else(|| panic!("no {name} cookie set: {:?}", self.headers));
        c.split(';').next().unwrap().to_owned()
    }
}

struct Env {
    app: Router,
    key: SessionKey,
    http: reqwest::Client,
    ids_a: Vec<String>,
    _dir: tempfile::TempDir,
}

async fn store_with_two_tenants(dir: &std::path::Path) -> (Arc<SqliteStore>, Vec<String>) {
    let store = Arc::new(SqliteStore::open(dir).unwrap());
    let mut ids_a = Vec::new();
    for (i, tenant) in [TA, TB].into_iter().enumerate() {
        let cfg = callrecords_synth::GenConfig {
            seed: 70 + i as u64,
            tenant_id: tenant.to_owned(),
            days: 1,
            scale: callrecords_synth::Scale::Small,
            ..Default::default()
        };
        let records: Vec<Value> = callrecords_synth::call_records(&cfg).take(3).collect();
        if tenant == TA {
            ids_a = records
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect();
        }
        let batch = records
            .into_iter()
            .map(IncomingRecord::from_value)
            .collect();
        store.put_records(tenant, batch).await.unwrap();
    }
    (store, ids_a)
}

/// The fake identity provider on a loopback port; its base URL.
async fn identity_provider() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut a = Authority::new(
        &base,
        vec![TA.into(), TB.into()],
        SigningKey::from_seed(7).unwrap(),
        7,
    );
    a.add_secret_client(CLIENT, SECRET);
    let router = callrecords_fake::oauth::routes::router(Arc::new(a));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

async fn env_with(redirect_url: &str, tenant: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids_a) = store_with_two_tenants(dir.path()).await;
    let idp = identity_provider().await;
    let v = JwtValidator::new(JwtConfig::new(
        vec![format!("{idp}/{{tenantid}}/v2.0")],
        vec![AUDIENCE.into()],
        KeySource::Url(format!("{idp}/{TA}/discovery/v2.0/keys")),
    ))
    .await
    .unwrap();
    let key = SessionKey::random();
    let oidc = Oidc::new(OidcConfig {
        client_id: CLIENT.into(),
        client_secret: Some(SECRET.into()),
        redirect_url: redirect_url.into(),
        discovery_issuer: Some(format!("{idp}/{tenant}/v2.0")),
        authorize_url: None,
        token_url: None,
        scope: format!("openid profile {AUDIENCE}/.default"),
        session_key: key.clone(),
        force_secure_cookies: false,
    })
    .unwrap();
    let auth = Auth::new(Mode::Jwt(v)).with_oidc(oidc).unwrap();
    let state = AppState {
        store,
        config: Arc::new(Config::default()),
    };
    Env {
        app: app_with_auth(state, Arc::new(auth)),
        key,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        ids_a,
        _dir: dir,
    }
}

async fn env() -> Env {
    env_with(&format!("{ORIGIN}/auth/callback"), TA).await
}

impl Env {
    async fn send(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, uri: &str, cookie: Option<&str>) -> Resp {
        match cookie {
            Some(c) => self.send(Method::GET, uri, &[("cookie", c)], "").await,
            None => self.send(Method::GET, uri, &[], "").await,
        }
    }

    /// `/auth/login?…` → the identity provider: the callback URL (path and query) it sends the browser
    /// to, and the sign-in cookie.
    async fn start(&self, login: &str) -> (String, String) {
        let r = self.get(login, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        let login_cookie = r.cookie_pair("callrecords_login");
        let idp = self.http.get(r.location()).send().await.unwrap();
        assert_eq!(idp.status(), 302, "{:?}", idp.text().await);
        let back = idp.headers()["location"].to_str().unwrap().to_owned();
        let back = back
            .strip_prefix(ORIGIN)
            .unwrap_or_else(|| panic!("{back}"))
            .to_owned();
        (back, login_cookie)
    }

    /// A whole sign-in: the session cookie (`name=value`) and the callback's answer.
    async fn sign_in(&self, login: &str) -> (String, Resp) {
        let (back, login_cookie) = self.start(login).await;
        let r = self.get(&back, Some(&login_cookie)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        (r.cookie_pair("callrecords_session"), r)
    }

    async fn csrf(&self, session: &str) -> String {
        let me = self.get("/auth/me", Some(session)).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        me.json()["csrfToken"].as_str().unwrap().to_owned()
    }
}

fn query(url: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(url.split_once('?').unwrap().1).unwrap()
}

fn q<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn sign_in_gives_a_session_that_reads_its_own_tenant() {
    let e = env().await;
    // Without a session the data answers 401, the dashboard's cue to sign in.
    let r = e.get("/analytics/v1/calls", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = e
        .get("/auth/login?return=/dashboard/%3Ftab%3Dcalls", None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let to_idp = r.location();
    let p = query(&to_idp);
    assert!(
        to_idp.contains(&format!("/{TA}/oauth2/v2.0/authorize?")),
        "{to_idp}"
    );
    assert_eq!(q(&p, "response_type"), Some("code"));
    assert_eq!(q(&p, "client_id"), Some(CLIENT));
    assert_eq!(
        q(&p, "redirect_uri"),
        Some("http://dash.test/auth/callback")
    );
    assert_eq!(q(&p, "code_challenge_method"), Some("S256"));
    assert_eq!(q(&p, "code_challenge").unwrap().len(), 43);
    assert!(q(&p, "state").unwrap().len() >= 43);
    assert!(q(&p, "nonce").unwrap().len() >= 43);
    assert!(q(&p, "scope").unwrap().split(' ').any(|s| s == "openid"));
    let login = r.set_cookie("callrecords_login").unwrap();
    for flag in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/auth/callback",
        "Max-Age=600",
    ] {
        assert!(login.contains(flag), "{login}");
    }
    assert!(!login.contains("Secure"), "http redirect URL: {login}");
    // The verifier is not readable in the cookie (sealed), and not in the redirect.
    assert!(!to_idp.contains("code_verifier"));

    let (session, cb) = e
        .sign_in("/auth/login?return=/dashboard/%3Ftab%3Dcalls")
        .await;
    assert_eq!(cb.location(), "/dashboard/?tab=calls");
    let set = cb.set_cookie("callrecords_session").unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    let max_age: i64 = set
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3500..=3600).contains(&max_age),
        "session = token lifetime: {set}"
    );
    // The sign-in cookie is spent.
    assert!(
        cb.set_cookie("callrecords_login")
            .unwrap()
            .contains("Max-Age=0")
    );

    let me = e.get("/auth/me", Some(&session)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let m = me.json();
    assert_eq!(m["signedIn"], true);
    assert_eq!(m["tenantId"], TA);
    assert_eq!(m["appId"], CLIENT);
    assert_eq!(m["user"]["name"], "Test Admin");
    assert!(
        m["user"]["username"]
            .as_str()
            .unwrap()
            .starts_with("admin@")
    );
    assert!(
        m["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == READ_ROLE)
    );
    assert!(m["csrfToken"].as_str().unwrap().len() >= 43);
    assert_eq!(me.headers[header::CACHE_CONTROL], "no-store");

    // The data calls answer with the session, for its tenant only.
    let list = e
        .get("/v1.0/communications/callRecords", Some(&session))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(e.ids_a.iter().all(|id| list.text.contains(id.as_str())));
    assert!(!list.text.contains(TB));
    let calls = e.get("/analytics/v1/calls", Some(&session)).await;
    assert_eq!(calls.status, StatusCode::OK, "{}", calls.text);
    assert!(!calls.text.contains(TB));
}

#[tokio::test]
async fn the_session_cookie_is_secure_behind_https() {
    let e = env_with("https://dash.test/auth/callback", TA).await;
    let r = e.get("/auth/login", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.set_cookie("callrecords_login")
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test]
async fn writes_with_the_cookie_need_the_csrf_token_from_this_origin() {
    let e = env().await;
    let (session, _) = e.sign_in("/auth/login").await;
    let csrf = e.csrf(&session).await;
    let body = "{}";
    let uri = "/v1.0/subscriptions";
    let ok_headers = |extra: &[(&'static str, String)]| {
        let mut h: Vec<(&'static str, String)> = vec![
            ("cookie", session.clone()),
            ("content-type", "application/json".into()),
        ];
        h.extend(extra.iter().cloned());
        h
    };
    let send = |h: Vec<(&'static str, String)>| {
        let e = &e;
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            e.send(Method::POST, uri, &h, body).await
        }
    };
    for (what, extra) in [
        ("no token", vec![]),
        ("a wrong token", vec![("x-csrf-token", "nope".to_owned())]),
        (
            "another session's token length",
            vec![("x-csrf-token", format!("{csrf}x"))],
        ),
        (
            "the right token from another origin",
            vec![
                ("x-csrf-token", csrf.clone()),
                ("origin", "https://evil.example".to_owned()),
            ],
        ),
        (
            "a cross-site form post",
            vec![
                ("origin", "https://evil.example".to_owned()),
                ("sec-fetch-site", "cross-site".to_owned()),
            ],
        ),
        (
            "the right token from a cross-site fetch",
            vec![
                ("x-csrf-token", csrf.clone()),
                ("sec-fetch-site", "cross-site".to_owned()),
            ],
        ),
    ] {
        let r = send(ok_headers(&extra)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.text);
        assert_eq!(r.code(), "accessDenied", "{what}");
        assert!(r.text.contains("X-CSRF-Token"), "{what}: {}", r.text);
    }
    // The right token, same origin: past the defence (the empty subscription is then refused as bad input).
    for extra in [
        vec![("x-csrf-token", csrf.clone())],
        vec![
            ("x-csrf-token", csrf.clone()),
            ("origin", ORIGIN.to_owned()),
            ("sec-fetch-site", "same-origin".to_owned()),
        ],
    ] {
        let r = send(ok_headers(&extra)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{extra:?}: {}", r.text);
    }
    // A bearer token is not a cookie: no CSRF check applies to it (its 401 is about the token).
    let r = e
        .send(Method::POST, uri, &[("authorization", "Bearer x")], body)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // GET needs no token.
    let r = e.get("/v1.0/subscriptions", Some(&session)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn roles_come_from_the_signed_in_user() {
    let e = env().await;
    let (session, _) = e.sign_in("/auth/login?login_hint=reader").await;
    let csrf = e.csrf(&session).await;
    let r = e
        .send(
            Method::PUT,
            "/analytics/v1/buildings",
            &[("cookie", &session), ("x-csrf-token", &csrf)],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.code(), "accessDenied");
    assert!(!r.text.contains("CSRF"), "{}", r.text);
    let r = e.get("/analytics/v1/calls", Some(&session)).await;
    assert_eq!(r.status, StatusCode::OK);
    // A user without the read role signs in, and is refused the data.
    let (session, _) = e.sign_in("/auth/login?login_hint=nobody").await;
    let r = e.get("/analytics/v1/calls", Some(&session)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_tenant_signs_in_to_its_own_data() {
    let e = env_with(&format!("{ORIGIN}/auth/callback"), TB).await;
    let (session, _) = e.sign_in("/auth/login").await;
    let list = e
        .get("/v1.0/communications/callRecords", Some(&session))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains(TB));
    assert!(!list.text.contains(TA));
    assert!(e.ids_a.iter().all(|id| !list.text.contains(id.as_str())));
}

#[tokio::test]
async fn a_bad_state_or_a_missing_sign_in_cookie_starts_no_session() {
    let e = env().await;
    let (back, login_cookie) = e.start("/auth/login").await;
    let state = q(&query(&back), "state").unwrap().to_owned();
    let forged = back.replace(&state, "forged-state");
    let other_cookie = e.start("/auth/login").await.1;
    for (what, url, cookie) in [
        (
            "a forged state",
            forged.as_str(),
            Some(login_cookie.as_str()),
        ),
        ("no sign-in cookie", back.as_str(), None),
        (
            "another sign-in's cookie",
            back.as_str(),
            Some(other_cookie.as_str()),
        ),
        (
            "a forged sign-in cookie",
            back.as_str(),
            Some(
                "callrecords_login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            ),
        ),
        ("no code", "/auth/callback", Some(login_cookie.as_str())),
    ] {
        let r = e.get(url, cookie).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        assert_eq!(r.code(), "BadRequest", "{what}");
        assert!(r.json()["error"]["innerError"]["request-id"].is_string());
        assert!(r.set_cookie("callrecords_session").is_none(), "{what}");
    }
    // The identity provider's refusal, sent back with the state.
    let r = e
        .get(
            &format!("/auth/callback?error=access_denied&error_description=AADSTS50034%3A+no&state={state}"),
            Some(&login_cookie),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(r.text.contains("access_denied"));
    assert!(r.set_cookie("callrecords_session").is_none());
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let e = env().await;
    let (back, login_cookie) = e.start("/auth/login").await;
    let first = e.get(&back, Some(&login_cookie)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    // The same code (and a kept copy of the sign-in cookie): the identity provider refuses the code.
    let again = e.get(&back, Some(&login_cookie)).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.text);
    assert!(again.text.contains("invalid_grant"), "{}", again.text);
    assert!(again.set_cookie("callrecords_session").is_none());
}

/// A sign-in whose cookie says `edit` of what the server had stored: the callback must fail.
async fn tampered_sign_in(e: &Env, edit: impl Fn(&mut LoginState)) -> Resp {
    let r = e.get("/auth/login", None).await;
    let to_idp = r.location();
    let p = query(&to_idp);
    let state = q(&p, "state").unwrap().to_owned();
    let nonce = q(&p, "nonce").unwrap().to_owned();
    // The test knows the key, so it can stand in for a server that remembered another verifier or nonce.
    let mut login = LoginState {
        state,
        nonce,
        verifier: "not-the-verifier-of-this-challenge-000000000000".into(),
        return_to: "/dashboard/".into(),
        exp: jiff::Timestamp::now().as_second() + 60,
    };
    edit(&mut login);
    let cookie = format!("callrecords_login={}", e.key.seal(LOGIN_PURPOSE, &login));
    let idp = e.http.get(to_idp).send().await.unwrap();
    let back = idp.headers()["location"].to_str().unwrap().to_owned();
    e.get(back.strip_prefix(ORIGIN).unwrap(), Some(&cookie))
        .await
}

#[tokio::test]
async fn a_wrong_verifier_or_nonce_is_refused() {
    let e = env().await;
    let r = tampered_sign_in(&e, |_| {}).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(
        r.text.contains("invalid_grant"),
        "wrong verifier: {}",
        r.text
    );
    assert!(r.set_cookie("callrecords_session").is_none());

    // The right verifier cannot be had from outside; so the nonce is checked by sealing the real sign-in
    // cookie's content with only the nonce changed.
    let (back, login_cookie) = e.start("/auth/login").await;
    let sealed = login_cookie.strip_prefix("callrecords_login=").unwrap();
    let mut login: LoginState = e.key.open(LOGIN_PURPOSE, sealed).unwrap();
    login.nonce = "another-nonce".into();
    let cookie = format!("callrecords_login={}", e.key.seal(LOGIN_PURPOSE, &login));
    let r = e.get(&back, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(r.text.contains("nonce"), "{}", r.text);
    assert!(r.set_cookie("callrecords_session").is_none());

    // An expired sign-in cookie.
    let (back, login_cookie) = e.start("/auth/login").await;
    let sealed = login_cookie.strip_prefix("callrecords_login=").unwrap();
    let mut login: LoginState = e.key.open(LOGIN_PURPOSE, sealed).unwrap();
    login.exp = jiff::Timestamp::now().as_second() - 1;
    let cookie = format!("callrecords_login={}", e.key.seal(LOGIN_PURPOSE, &login));
    assert_eq!(
        e.get(&back, Some(&cookie)).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn an_expired_or_forged_session_is_a_401_that_deletes_the_cookie() {
    let e = env().await;
    let (session, _) = e.sign_in("/auth/login").await;
    let sealed = session.strip_prefix("callrecords_session=").unwrap();
    let mut s: Session = e.key.open(SESSION_PURPOSE, sealed).unwrap();
    assert_eq!(s.tenant, TA);
    s.exp = jiff::Timestamp::now().as_second() - 1;
    let expired = format!("callrecords_session={}", e.key.seal(SESSION_PURPOSE, &s));
    let other_key = format!(
        "callrecords_session={}",
        SessionKey::random().seal(SESSION_PURPOSE, &s)
    );
    // A sign-in cookie is not a session, even sealed with the same key.
    let wrong_purpose = format!("callrecords_session={}", e.key.seal(LOGIN_PURPOSE, &s));
    for (what, cookie) in [
        ("expired", expired.as_str()),
        ("sealed by another key", other_key.as_str()),
        ("sealed for another purpose", wrong_purpose.as_str()),
        ("garbage", "callrecords_session=%%%"),
    ] {
        let r = e.get("/analytics/v1/calls", Some(cookie)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(r.code(), "InvalidAuthenticationToken", "{what}");
        assert!(r.headers.contains_key(header::WWW_AUTHENTICATE), "{what}");
        let del = r.set_cookie("callrecords_session").unwrap();
        assert!(del.contains("Max-Age=0"), "{what}: {del}");
    }
    assert!(
        e.get("/analytics/v1/calls", Some(&expired))
            .await
            .text
            .contains("expired")
    );
    // The live one still works.
    assert_eq!(
        e.get("/analytics/v1/calls", Some(&session)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sign_out_needs_the_csrf_token_and_deletes_the_cookie() {
    let e = env().await;
    let (session, _) = e.sign_in("/auth/login").await;
    let r = e
        .send(Method::POST, "/auth/logout", &[("cookie", &session)], "")
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a cross-site sign-out is refused"
    );
    let csrf = e.csrf(&session).await;
    let r = e
        .send(
            Method::POST,
            "/auth/logout",
            &[("cookie", &session), ("x-csrf-token", &csrf)],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let del = r.set_cookie("callrecords_session").unwrap();
    assert!(
        del.contains("Max-Age=0") && del.contains("HttpOnly"),
        "{del}"
    );
}

#[tokio::test]
async fn no_open_redirect() {
    let e = env().await;
    for ret in [
        "https://evil.example/",
        "//evil.example/",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "dashboard/",
        "/dashboard/%0d%0aSet-Cookie:x=1",
    ] {
        let r = e.get(&format!("/auth/login?return={ret}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{ret}: {}", r.text);
        assert!(!r.headers.contains_key(header::LOCATION), "{ret}");
        assert!(r.set_cookie("callrecords_login").is_none(), "{ret}");
    }
    // A return path is kept through the sign-in (sealed in the cookie, not taken from the callback).
    let (back, login_cookie) = e.start("/auth/login?return=/dashboard/x").await;
    let r = e
        .get(
            &format!("{back}&return=https://evil.example/"),
            Some(&login_cookie),
        )
        .await;
    assert_eq!(r.location(), "/dashboard/x");
}

#[tokio::test]
async fn without_sign_in_configured_the_auth_routes_answer_404() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_two_tenants(dir.path()).await;
    let state = AppState {
        store,
        config: Arc::new(Config::default()),
    };
    let text = format!(
        "{} {TA} {READ_ROLE}\n",
        callrecords_api::auth::tokens::token_hash("tok")
    );
    let auth = Auth::new(Mode::Static(
        callrecords_api::auth::tokens::StaticTokens::parse(&text).unwrap(),
    ));
    let app = app_with_auth(state.clone(), Arc::new(auth));
    for uri in ["/auth/login", "/auth/callback?code=x&state=y"] {
        let r = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{uri}");
    }
    // /auth/me with a bearer token says who the token is (no session).
    let r = app
        .clone()
        .oneshot(
            Request::get("/auth/me")
                .header("authorization", "Bearer tok")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["signedIn"], false);
    assert_eq!(v["tenantId"], TA);
    // --auth none: nothing to sign in to, said with a 200 (the dashboard asks on every load).
    let app = callrecords_api::app(state);
    let r = app
        .clone()
        .oneshot(Request::get("/auth/me").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value =
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["signedIn"], false);
    assert_eq!(v["canSignIn"], false);
    for uri in ["/auth/login", "/auth/callback?code=x&state=y"] {
        let r = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{uri}");
    }
    // A sign-in needs JWT authentication.
    let oidc = Oidc::new(OidcConfig {
        client_id: CLIENT.into(),
        client_secret: None,
        redirect_url: format!("{ORIGIN}/auth/callback"),
        discovery_issuer: Some("http://idp.test".into()),
        authorize_url: None,
        token_url: None,
        scope: "openid".into(),
        session_key: SessionKey::random(),
        force_secure_cookies: false,
    })
    .unwrap();
    assert!(Auth::new(Mode::None).with_oidc(oidc).is_err());
}

#[test]
fn sign_in_settings_are_checked() {
    let cfg = |redirect: &str, scope: &str, discovery: bool| OidcConfig {
        client_id: CLIENT.into(),
        client_secret: None,
        redirect_url: redirect.into(),
        discovery_issuer: discovery.then(|| "http://idp.test".into()),
        authorize_url: None,
        token_url: None,
        scope: scope.into(),
        session_key: SessionKey::random(),
        force_secure_cookies: false,
    };
    assert!(Oidc::new(cfg("http://h:1/auth/callback", "openid", true)).is_ok());
    for (redirect, scope, discovery) in [
        ("ftp://h/auth/callback", "openid", true),
        ("http://h/other", "openid", true),
        ("http:///auth/callback", "openid", true),
        ("http://u@h/auth/callback", "openid", true),
        ("http://h/auth/callback", "profile", true),
        ("http://h/auth/callback", "openid", false),
    ] {
        assert!(
            Oidc::new(cfg(redirect, scope, discovery)).is_err(),
            "{redirect} {scope} {discovery}"
        );
    }
    let o = Oidc::new(cfg("https://h:8443/auth/callback", "openid", true)).unwrap();
    assert_eq!(o.origin(), "https://h:8443");
    assert!(o.secure());
}
