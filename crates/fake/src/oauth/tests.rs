use std::sync::{Arc, OnceLock};

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use jsonwebtoken::{DecodingKey, EncodingKey};
use tower::ServiceExt;

use super::*;

const TENANT: &str = "dc368399-474c-4d40-900c-6265431fd81f";
const BASE: &str = "http://127.0.0.1:8080";
const CERT: &str = include_str!("../../testdata/client-cert.pem");
const CERT_KEY: &str = include_str!("../../testdata/client-key.pem");
const OTHER_CERT: &str = include_str!("../../testdata/other-cert.pem");
const OTHER_KEY: &str = include_str!("../../testdata/other-key.pem");

fn key() -> SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_seed(0).unwrap())
        .clone()
}

/// A PKCS#8 PEM private key as a signing key (jsonwebtoken's own PEM support is left out).
fn pem_key(pem: &str) -> EncodingKey {
    use base64::Engine;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let k = rsa::PrivateKey::from_pkcs8_der(&der).unwrap();
    EncodingKey::from_rsa_der(k.to_pkcs1_der().unwrap().as_bytes())
}

fn fixed_now() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

fn authority() -> Authority {
    let mut a = Authority::new(BASE, vec![TENANT.into()], key(), 0).with_clock(fixed_now);
    a.add_secret_client("fake-client", "fake-secret");
    a.add_certificate_client("cert-client", CERT).unwrap();
    a
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secret_form(secret: &str) -> Vec<(String, String)> {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "fake-client"),
        ("client_secret", secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ])
}

fn now() -> Timestamp {
    fixed_now()
}

fn err(r: Result<TokenResponse, EntraError>) -> EntraError {
    r.expect_err("should fail")
}

#[test]
fn secret_client_gets_a_graph_token() {
    let a = authority();
    let t = a
        .token_form(TENANT, &secret_form("fake-secret"), now())
        .unwrap();
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_in, 3599);
    assert_eq!(t.ext_expires_in, 3599);
    let header = jsonwebtoken::decode_header(&t.access_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(a.key().kid()));
    let c = a.validate_access_token(&t.access_token, now()).unwrap();
    assert_eq!(c.aud, GRAPH_RESOURCE);
    assert_eq!(c.iss, format!("{BASE}/{TENANT}/v2.0"));
    assert_eq!(c.tid, TENANT);
    assert_eq!(
        c.roles,
        [CALL_RECORDS_ROLE, "CallRecords.Ingest", "CallRecords.Admin"]
    );
    assert_eq!(c.appid, "fake-client");
    assert_eq!(c.azp, "fake-client");
    assert_eq!(c.appidacr, "1");
    assert_eq!(c.sub, c.oid);
    assert_eq!(c.exp - c.iat, 3600);
    assert_eq!(c.nbf, c.iat);
    assert_eq!(c.iat, now().as_second());
    // The same client always has the same object id; every token its own uti.
    let t2 = a
        .token_form(TENANT, &secret_form("fake-secret"), now())
        .unwrap();
    let c2 = a.validate_access_token(&t2.access_token, now()).unwrap();
    assert_eq!(c.oid, c2.oid);
    assert_ne!(c.uti, c2.uti);
}

#[test]
fn scope_forms() {
    let a = authority();
    for scope in [
        "https://graph.microsoft.com/.default",
        "https://graph.microsoft.com//.default",
        "00000003-0000-0000-c000-000000000000/.default",
    ] {
        let mut f = secret_form("fake-secret");
        f[3].1 = scope.into();
        assert!(a.token_form(TENANT, &f, now()).is_ok(), "{scope}");
    }
    let mut f = secret_form("fake-secret");
    f[3].1 = "https://graph.microsoft.com/CallRecords.Read.All".into();
    let e = err(a.token_form(TENANT, &f, now()));
    assert_eq!(
        (e.status, e.error, e.code),
        (StatusCode::BAD_REQUEST, "invalid_scope", 1002012)
    );
    f[3].1 = "https://contoso.example/.default".into();
    let e = err(a.token_form(TENANT, &f, now()));
    assert_eq!(
        (e.status, e.error, e.code),
        (StatusCode::BAD_REQUEST, "invalid_resource", 500011)
    );
}

#[test]
fn entra_errors_for_bad_requests() {
    let a = authority();
    let e = err(a.token_form(TENANT, &secret_form("nope"), now()));
    assert_eq!(
        (e.status, e.error, e.code),
        (StatusCode::UNAUTHORIZED, "invalid_client", 7000215)
    );
    assert!(e.message.starts_with("Invalid client secret provided."));

    let mut f = secret_form("fake-secret");
    f[1].1 = "someone".into();
    let e = err(a.token_form(TENANT, &f, now()));
    assert_eq!(
        (e.status, e.error, e.code),
        (StatusCode::BAD_REQUEST, "unauthorized_client", 700016)
    );
    assert!(e.message.contains("'someone'") && e.message.contains(TENANT));

    let e = err(a.token_form("other-tenant", &secret_form("fake-secret"), now()));
    assert_eq!(
        (e.status, e.error, e.code),
        (StatusCode::BAD_REQUEST, "invalid_request", 90002)
    );

    let mut f = secret_form("fake-secret");
    f[0].1 = "password".into();
    let e = err(a.token_form(TENANT, &f, now()));
    assert_eq!(
        (e.status, e.error, e.code),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type", 70003)
    );

    for (i, name) in [(0, "grant_type"), (1, "client_id"), (3, "scope")] {
        let mut f = secret_form("fake-secret");
        f.remove(i);
        let e = err(a.token_form(TENANT, &f, now()));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, 900144),
            "{name}"
        );
        assert!(e.message.contains(&format!("'{name}'")));
    }
    let mut f = secret_form("fake-secret");
    f.remove(2);
    let e = err(a.token_form(TENANT, &f, now()));
    assert_eq!(
        (e.status, e.error, e.code),
        (StatusCode::UNAUTHORIZED, "invalid_client", 7000218)
    );

    // Not a form at all.
    let e = err(a.token(TENANT, b"\xff\xfe{", now()));
    assert_eq!(e.code, 900144);
    let e = err(a.token(TENANT, b"", now()));
    assert_eq!(e.code, 900144);
}

#[test]
fn error_body_has_entras_shape() {
    let e = EntraError::client(7000215, "Invalid client secret provided.");
    let b = e.body("trace-1", "corr-1", fixed_now());
    assert_eq!(b["error"], "invalid_client");
    assert_eq!(b["error_codes"], json!([7000215]));
    assert_eq!(b["timestamp"], "2026-12-01 10:00:00Z");
    assert_eq!(b["trace_id"], "trace-1");
    assert_eq!(b["correlation_id"], "corr-1");
    assert_eq!(
        b["error_uri"],
        "https://login.microsoftonline.com/error?code=7000215"
    );
    assert_eq!(
        b["error_description"],
        "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: trace-1\r\nCorrelation ID: corr-1\r\nTimestamp: 2026-12-01 10:00:00Z"
    );
}

#[derive(Serialize)]
struct Assertion<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    exp: i64,
    nbf: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
}

fn assertion_with(key_pem: &str, cert_pem: &str, s256: bool, claims: &Assertion<'_>) -> String {
    let cert = RegisteredCertificate::from_pem(cert_pem).unwrap();
    let mut h = Header::new(Algorithm::RS256);
    if s256 {
        h.x5t_s256 = Some(cert.x5t_s256);
    } else {
        h.x5t = Some(cert.x5t);
    }
    jsonwebtoken::encode(&h, claims, &pem_key(key_pem)).unwrap()
}

fn good_claims(aud: &str) -> Assertion<'_> {
    let n = now().as_second();
    Assertion {
        aud,
        iss: "cert-client",
        sub: "cert-client",
        exp: n + 600,
        nbf: n - 10,
        jti: Some("6e1f5b5a-2f0e-4c8f-9d1f-1a2b3c4d5e6f"),
    }
}

fn assertion_form(assertion: &str) -> Vec<(String, String)> {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "cert-client"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
        ("scope", "https://graph.microsoft.com/.default"),
    ])
}

#[test]
fn certificate_client_gets_a_token() {
    let a = authority();
    let endpoint = a.token_endpoint(TENANT);
    for s256 in [false, true] {
        let jwt = assertion_with(CERT_KEY, CERT, s256, &good_claims(&endpoint));
        let t = a.token_form(TENANT, &assertion_form(&jwt), now()).unwrap();
        let c = a.validate_access_token(&t.access_token, now()).unwrap();
        assert_eq!(c.appid, "cert-client");
        assert_eq!(c.appidacr, "2");
    }
    // The real Entra endpoint is accepted as audience too (clients configured for Entra).
    let real = format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token");
    let jwt = assertion_with(CERT_KEY, CERT, false, &good_claims(&real));
    assert!(a.token_form(TENANT, &assertion_form(&jwt), now()).is_ok());
}

#[test]
fn certificate_assertion_failures() {
    let a = authority();
    let endpoint = a.token_endpoint(TENANT);
    let code = |jwt: &str| {
        let e = err(a.token_form(TENANT, &assertion_form(jwt), now()));
        assert_eq!(e.error, "invalid_client", "{e:?}");
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        e.code
    };
    // Certificate not registered.
    assert_eq!(
        code(&assertion_with(
            OTHER_KEY,
            OTHER_CERT,
            false,
            &good_claims(&endpoint)
        )),
        700027
    );
    // Registered certificate named, signed with another key.
    assert_eq!(
        code(&assertion_with(
            OTHER_KEY,
            CERT,
            false,
            &good_claims(&endpoint)
        )),
        700027
    );
    // Wrong audience.
    assert_eq!(
        code(&assertion_with(
            CERT_KEY,
            CERT,
            false,
            &good_claims("https://example.com/token")
        )),
        50013
    );
    // Expired (beyond the 5-minute leeway) and not yet valid.
    let n = now().as_second();
    let expired = Assertion {
        exp: n - 301,
        nbf: n - 900,
        ..good_claims(&endpoint)
    };
    assert_eq!(
        code(&assertion_with(CERT_KEY, CERT, false, &expired)),
        700024
    );
    let within_leeway = Assertion {
        exp: n - 299,
        ..good_claims(&endpoint)
    };
    assert!(
        a.token_form(
            TENANT,
            &assertion_form(&assertion_with(CERT_KEY, CERT, false, &within_leeway)),
            now()
        )
        .is_ok()
    );
    let future = Assertion {
        nbf: n + 600,
        exp: n + 1200,
        ..good_claims(&endpoint)
    };
    assert_eq!(
        code(&assertion_with(CERT_KEY, CERT, false, &future)),
        700024
    );
    // iss / sub not the client id.
    let other = Assertion {
        iss: "someone",
        ..good_claims(&endpoint)
    };
    assert_eq!(code(&assertion_with(CERT_KEY, CERT, false, &other)), 700021);
    let other = Assertion {
        sub: "someone",
        ..good_claims(&endpoint)
    };
    assert_eq!(code(&assertion_with(CERT_KEY, CERT, false, &other)), 700021);
    // No jti.
    let no_jti = Assertion {
        jti: None,
        ..good_claims(&endpoint)
    };
    assert_eq!(code(&assertion_with(CERT_KEY, CERT, false, &no_jti)), 50027);
    // Garbage.
    assert_eq!(code("not-a-jwt"), 50027);
    assert_eq!(code("a.b.c"), 50027);
    // Wrong / missing assertion type.
    let mut f = assertion_form("x");
    f[2].1 = "urn:something:else".into();
    let e = err(a.token_form(TENANT, &f, now()));
    assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 50027));
    f.remove(2);
    let e = err(a.token_form(TENANT, &f, now()));
    assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 900144));
}

fn sign_claims(c: &Claims, kid: &str, key: &EncodingKey) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, c, key).unwrap()
}

#[test]
fn access_token_validation_failures() {
    let a = authority();
    let t = a
        .token_form(TENANT, &secret_form("fake-secret"), now())
        .unwrap()
        .access_token;
    let good = a.validate_access_token(&t, now()).unwrap();
    assert_eq!(a.validate_access_token("", now()), Err(AuthError::Empty));
    assert_eq!(a.validate_access_token("   ", now()), Err(AuthError::Empty));
    assert_eq!(
        a.validate_access_token("garbage", now()),
        Err(AuthError::Malformed)
    );
    assert_eq!(
        a.validate_access_token("a.b.c", now()),
        Err(AuthError::Malformed)
    );
    // Expiry with the 5-minute leeway, and nbf.
    let at = |s: i64| Timestamp::from_second(s).unwrap();
    assert!(a.validate_access_token(&t, at(good.exp + 300)).is_ok());
    assert_eq!(
        a.validate_access_token(&t, at(good.exp + 301)),
        Err(AuthError::Expired)
    );
    assert_eq!(
        a.validate_access_token(&t, at(good.nbf - 301)),
        Err(AuthError::Expired)
    );
    // Tampered payload: signature no longer matches.
    let mut parts: Vec<&str> = t.split('.').collect();
    let other = a
        .token_form(TENANT, &secret_form("fake-secret"), now())
        .unwrap()
        .access_token;
    let other_payload = other.split('.').nth(1).unwrap().to_string();
    parts[1] = &other_payload;
    assert_eq!(
        a.validate_access_token(&parts.join("."), now()),
        Err(AuthError::InvalidSignature)
    );
    // Signed by someone else's key, claiming our kid.
    let foreign = pem_key(OTHER_KEY);
    assert_eq!(
        a.validate_access_token(&sign_claims(&good, a.key().kid(), &foreign), now()),
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(
        a.validate_access_token(
            &sign_claims(&good, "unknown-kid", a.key().encoding()),
            now()
        ),
        Err(AuthError::InvalidSignature)
    );
    // Our key, wrong audience / issuer.
    let wrong_aud = Claims {
        aud: "https://management.azure.com".into(),
        ..good.clone()
    };
    assert_eq!(
        a.validate_access_token(
            &sign_claims(&wrong_aud, a.key().kid(), a.key().encoding()),
            now()
        ),
        Err(AuthError::InvalidAudience)
    );
    let wrong_iss = Claims {
        iss: "https://sts.windows.net/x/".into(),
        ..good.clone()
    };
    assert_eq!(
        a.validate_access_token(
            &sign_claims(&wrong_iss, a.key().kid(), a.key().encoding()),
            now()
        ),
        Err(AuthError::InvalidIssuer)
    );
    let wrong_tid = Claims {
        tid: "other".into(),
        ..good.clone()
    };
    assert_eq!(
        a.validate_access_token(
            &sign_claims(&wrong_tid, a.key().kid(), a.key().encoding()),
            now()
        ),
        Err(AuthError::InvalidIssuer)
    );
}

#[test]
fn authorize_reads_the_header_and_checks_roles() {
    let a = authority();
    let t = a
        .token_form(TENANT, &secret_form("fake-secret"), now())
        .unwrap()
        .access_token;
    let h = format!("Bearer {t}");
    assert!(a.authorize(Some(&h), &[CALL_RECORDS_ROLE], now()).is_ok());
    assert!(
        a.authorize(
            Some(&format!("bearer  {t}")),
            &[PSTN_CALLS_ROLE, CALL_RECORDS_ROLE],
            now()
        )
        .is_ok()
    );
    assert_eq!(
        a.authorize(None, &[CALL_RECORDS_ROLE], now()),
        Err(AuthError::Empty)
    );
    assert_eq!(
        a.authorize(Some("Bearer"), &[CALL_RECORDS_ROLE], now()),
        Err(AuthError::Empty)
    );
    assert_eq!(
        a.authorize(Some(&format!("Basic {t}")), &[CALL_RECORDS_ROLE], now()),
        Err(AuthError::Empty)
    );
    assert_eq!(
        a.authorize(Some(&h), &[PSTN_CALLS_ROLE], now()),
        Err(AuthError::MissingRole)
    );
    let e = AuthError::MissingRole.graph_error();
    assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, "accessDenied"));
    assert!(AuthError::MissingRole.www_authenticate().is_none());
    let e = AuthError::Empty.graph_error();
    assert_eq!(
        (e.status, e.code, e.message.as_str()),
        (
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty."
        )
    );
    assert_eq!(
        AuthError::Expired.graph_error().message,
        "Access token has expired or is not yet valid."
    );
    assert!(AuthError::Expired.www_authenticate().is_some());
}

#[test]
fn key_is_deterministic_per_seed_and_from_config() {
    let cfg = FakeConfig::default();
    let a = Authority::from_config(&cfg, BASE).unwrap();
    assert_eq!(a.key().kid(), key().kid());
    assert_eq!(a.key().kid().len(), 27);
    assert!(
        a.token_form(
            callrecords_synth::DEFAULT_TENANT_ID,
            &secret_form("fake-secret"),
            now()
        )
        .is_ok()
    );
}

async fn call(router: axum::Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let resp = router.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post_token(tenant: &str, body: &str) -> Request<Body> {
    Request::post(format!("/{tenant}/oauth2/v2.0/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("client-request-id", "11111111-2222-4333-8444-555555555555")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn http_token_jwks_and_openid_configuration() {
    let a = Arc::new(authority());
    let r = routes::router(a.clone());
    let body = serde_urlencoded::to_string(secret_form("fake-secret")).unwrap();
    let (s, h, v) = call(r.clone(), post_token(TENANT, &body)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["cache-control"], "no-store, no-cache");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    let token = v["access_token"].as_str().unwrap().to_string();

    // A client can check the token with the published JWKS alone.
    let (s, _, jwks) = call(
        r.clone(),
        Request::get(format!("/{TENANT}/discovery/v2.0/keys"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let k = &jwks["keys"][0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["kid"], a.key().kid());
    let dk = DecodingKey::from_rsa_components(k["n"].as_str().unwrap(), k["e"].as_str().unwrap())
        .unwrap();
    let mut val = Validation::new(Algorithm::RS256);
    val.set_audience(&[GRAPH_RESOURCE]);
    val.validate_exp = false;
    assert!(jsonwebtoken::decode::<Claims>(&token, &dk, &val).is_ok());

    let (s, _, oidc) = call(
        r.clone(),
        Request::get(format!("/{TENANT}/v2.0/.well-known/openid-configuration"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(oidc["issuer"], format!("{BASE}/{TENANT}/v2.0"));
    assert_eq!(
        oidc["token_endpoint"],
        format!("{BASE}/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(
        oidc["jwks_uri"],
        format!("{BASE}/{TENANT}/discovery/v2.0/keys")
    );
}

#[tokio::test]
async fn http_errors() {
    let r = routes::router(Arc::new(authority()));
    let body = serde_urlencoded::to_string(secret_form("wrong")).unwrap();
    let (s, h, v) = call(r.clone(), post_token(TENANT, &body)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"], "invalid_client");
    assert_eq!(v["error_codes"], json!([7000215]));
    assert_eq!(v["correlation_id"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(
        h["client-request-id"],
        "11111111-2222-4333-8444-555555555555"
    );
    assert_eq!(v["timestamp"], "2026-12-01 10:00:00Z");
    assert!(v["trace_id"].as_str().unwrap().len() == 36);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: ")
    );

    let (s, _, v) = call(r.clone(), post_token("nobody", &body)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_codes"], json!([90002]));
    let (s, _, v) = call(r.clone(), post_token(TENANT, "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_codes"], json!([900144]));
    let (s, _, v) = call(
        r.clone(),
        Request::get("/nobody/discovery/v2.0/keys")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error_codes"], json!([90002]));
    let (s, _, _) = call(
        r.clone(),
        Request::get("/nobody/v2.0/.well-known/openid-configuration")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // GET on the token endpoint is not routed.
    let (s, _, _) = call(
        r,
        Request::get(format!("/{TENANT}/oauth2/v2.0/token"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

mod code_flow {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::{Digest, Sha256};

    const REDIRECT: &str = "http://127.0.0.1:9999/auth/callback";
    const VERIFIER: &str = "a-verifier-of-the-test-that-is-long-enough-0123456789";

    fn challenge(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
    }

    fn authorize_query(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let ch = challenge(VERIFIER);
        let mut q = form(&[
            ("response_type", "code"),
            ("client_id", "fake-client"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile api://callrecords/.default"),
            ("state", "st-1"),
            ("nonce", "n-1"),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ]);
        for (k, v) in extra {
            q.retain(|(x, _)| x != k);
            if !v.is_empty() {
                q.push((k.to_string(), v.to_string()));
            }
        }
        q
    }

    /// The query pairs of a redirect.
    fn query_of(location: &str) -> Vec<(String, String)> {
        let q = location.split_once('?').unwrap().1;
        serde_urlencoded::from_str(q).unwrap()
    }

    fn code_of(location: &str) -> String {
        assert!(location.starts_with(REDIRECT), "{location}");
        let q = query_of(location);
        assert_eq!(param(&q, "state"), Some("st-1"));
        param(&q, "code").unwrap().to_owned()
    }

    fn redeem_form(code: &str, verifier: &str, redirect: &str) -> Vec<(String, String)> {
        form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "fake-client"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ])
    }

    fn claims(token: &str, a: &Authority, aud: &str) -> UserClaims {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[aud]);
        v.validate_exp = false;
        jsonwebtoken::decode::<UserClaims>(token, a.key().decoding(), &v)
            .unwrap()
            .claims
    }

    #[test]
    fn a_code_becomes_an_id_token_and_an_access_token_once() {
        let a = authority();
        let loc = a
            .authorize_code(TENANT, &authorize_query(&[]), now())
            .unwrap();
        let code = code_of(&loc);
        let t = a
            .token_form(TENANT, &redeem_form(&code, VERIFIER, REDIRECT), now())
            .unwrap();
        let id = claims(t.id_token.as_deref().unwrap(), &a, "fake-client");
        assert_eq!(id.nonce.as_deref(), Some("n-1"));
        assert_eq!(id.tid, TENANT);
        assert_eq!(id.iss, format!("{BASE}/{TENANT}/v2.0"));
        assert_eq!(id.name, "Test Admin");
        let at = claims(&t.access_token, &a, "api://callrecords");
        assert_eq!(at.azp, "fake-client");
        assert_eq!(at.nonce, None);
        assert_eq!(at.scp.as_deref(), Some(".default"));
        assert_eq!(
            at.roles,
            [CALL_RECORDS_ROLE, "CallRecords.Ingest", "CallRecords.Admin"]
        );
        assert_eq!(at.exp - at.iat, 3600);
        // Redeemed once: a replay is refused.
        let e = err(a.token_form(TENANT, &redeem_form(&code, VERIFIER, REDIRECT), now()));
        assert_eq!((e.error, e.code), ("invalid_grant", 54005));
    }

    #[test]
    fn the_verifier_the_redirect_uri_and_the_client_must_match() {
        let a = authority();
        let fresh = || {
            code_of(
                &a.authorize_code(TENANT, &authorize_query(&[]), now())
                    .unwrap(),
            )
        };
        let e = err(a.token_form(
            TENANT,
            &redeem_form(&fresh(), "wrong-verifier", REDIRECT),
            now(),
        ));
        assert_eq!((e.error, e.code), ("invalid_grant", 501481));
        let e = err(a.token_form(
            TENANT,
            &redeem_form(&fresh(), VERIFIER, "http://127.0.0.1:9999/other"),
            now(),
        ));
        assert_eq!((e.error, e.code), ("invalid_grant", 50011));
        let mut f = redeem_form(&fresh(), VERIFIER, REDIRECT);
        f[1].1 = "cert-client".into();
        let e = err(a.token_form(TENANT, &f, now()));
        assert_eq!((e.error, e.code), ("invalid_grant", 700005));
        // A wrong verifier used the code up: the right one no longer helps.
        let code = fresh();
        assert!(
            a.token_form(TENANT, &redeem_form(&code, "nope", REDIRECT), now())
                .is_err()
        );
        let e = err(a.token_form(TENANT, &redeem_form(&code, VERIFIER, REDIRECT), now()));
        assert_eq!(e.code, 54005);
        // Unknown and expired codes.
        let e = err(a.token_form(TENANT, &redeem_form("made-up", VERIFIER, REDIRECT), now()));
        assert_eq!(e.code, 70008);
        let later = Timestamp::from_second(now().as_second() + CODE_LIFETIME_SECS + 1).unwrap();
        let e = err(a.token_form(TENANT, &redeem_form(&fresh(), VERIFIER, REDIRECT), later));
        assert_eq!(e.code, 70008);
        // A confidential client's secret is checked when sent.
        let mut f = redeem_form(&fresh(), VERIFIER, REDIRECT);
        f.push(("client_secret".into(), "wrong".into()));
        assert_eq!(err(a.token_form(TENANT, &f, now())).code, 7000215);
        let mut f = redeem_form(&fresh(), VERIFIER, REDIRECT);
        f.push(("client_secret".into(), "fake-secret".into()));
        assert!(a.token_form(TENANT, &f, now()).is_ok());
    }

    #[test]
    fn authorize_refusals() {
        let a = authority();
        // Sent back to the client, with the state.
        for (extra, code) in [
            (vec![("code_challenge_method", "plain")], 501491),
            (vec![("code_challenge_method", "")], 501491),
            (vec![("code_challenge", "")], 900144),
            (vec![("code_challenge", "short")], 501491),
            (vec![("response_type", "token")], 700054),
            (vec![("scope", "api://callrecords/.default")], 900144),
            (vec![("login_hint", "mallory@x.example")], 50034),
        ] {
            let e = a
                .authorize_code(TENANT, &authorize_query(&extra), now())
                .unwrap_err();
            let AuthorizeError::Redirect { ref error, .. } = e else {
                panic!("{extra:?}: {e:?}");
            };
            assert_eq!(error.code, code, "{extra:?}");
            let q = query_of(&e.location().unwrap());
            assert_eq!(param(&q, "state"), Some("st-1"));
            assert!(param(&q, "error").is_some());
            assert!(param(&q, "code").is_none());
        }
        // Nowhere safe to go back to: an error page.
        for extra in [
            vec![("client_id", "unknown")],
            vec![("redirect_uri", "javascript:alert(1)")],
            vec![("redirect_uri", "")],
        ] {
            let e = a
                .authorize_code(TENANT, &authorize_query(&extra), now())
                .unwrap_err();
            assert!(matches!(e, AuthorizeError::Page(_)), "{extra:?}");
        }
        assert!(matches!(
            a.authorize_code("other-tenant", &authorize_query(&[]), now()),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn login_hint_picks_the_test_user() {
        let a = authority();
        let loc = a
            .authorize_code(
                TENANT,
                &authorize_query(&[("login_hint", "reader@x")]),
                now(),
            )
            .unwrap();
        let t = a
            .token_form(
                TENANT,
                &redeem_form(&code_of(&loc), VERIFIER, REDIRECT),
                now(),
            )
            .unwrap();
        let at = claims(&t.access_token, &a, "api://callrecords");
        assert_eq!(at.roles, [CALL_RECORDS_ROLE]);
        assert_eq!(at.name, "Test Reader");
    }

    #[tokio::test]
    async fn the_authorize_route_redirects() {
        let router = routes::router(Arc::new(authority()));
        let q = serde_urlencoded::to_string(authorize_query(&[])).unwrap();
        let req = Request::get(format!("/{TENANT}/oauth2/v2.0/authorize?{q}"))
            .body(Body::empty())
            .unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let loc = resp.headers()["location"].to_str().unwrap();
        code_of(loc);
        let req = Request::get(format!("/{TENANT}/oauth2/v2.0/authorize?client_id=nobody"))
            .body(Body::empty())
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "unauthorized_client");
    }
}
