//! Entra-ID-like client-credentials token issuance, and access-token validation for the Graph routes.
//!
//! * `POST /{tenant}/oauth2/v2.0/token` (form body): `grant_type=client_credentials`, `client_id`,
//!   `scope={resource}/.default`, and either `client_secret` or `client_assertion_type=
//!   urn:ietf:params:oauth:client-assertion-type:jwt-bearer` + `client_assertion` (a JWT signed RS256/PS256
//!   with a registered certificate's key, named by its `x5t` / `x5t#S256` header; `aud` = the token
//!   endpoint URL, `iss` = `sub` = the client id, `exp`, `jti`).
//! * Answers Entra's JSON (`token_type`, `expires_in` 3599, `ext_expires_in`, `access_token`) or
//!   Entra's error JSON (`error`, `error_description` "AADSTS…", `error_codes`, `timestamp`,
//!   `trace_id`, `correlation_id`, `error_uri`) with Entra's status for the case.
//! * Access tokens: RS256 JWTs signed with [`SigningKey`] (derived from the seed: see
//!   [`SigningKey::from_seed`]), `kid` and `x5t` headers, claims as in [`Claims`].
//! * [`Authority::validate_access_token`] / [`Authority::authorize`] check them for the fake's Graph
//!   routes, failing with Graph's `401 InvalidAuthenticationToken` bodies ([`AuthError::graph_error`]).
//! * [`routes::router`] serves the token, JWKS and OpenID-configuration endpoints.

mod code;
mod keys;
pub mod routes;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use code::{AuthorizeError, CODE_LIFETIME_SECS, TEST_USERS, TestUser, UserClaims};
pub use keys::{KeyError, RegisteredCertificate, SigningKey};

use crate::config::FakeConfig;
use crate::graph_error::GraphError;

/// Where real Entra lives; also accepted as the audience of client assertions.
pub const ENTRA_BASE: &str = "https://login.microsoftonline.com";
/// The Graph resource (the `aud` of Graph tokens).
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Graph's application id (also accepted as a scope's resource).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The application permission every call-records method needs (spec §11).
pub const CALL_RECORDS_ROLE: &str = "CallRecords.Read.All";
/// Roles of callrecords' own routes (`/ingest`, `/admin`), also carried by the fake's tokens so that one
/// token drives every route of `serve --fake`.
pub const CALLRECORDS_OWN_ROLES: [&str; 2] = [INGEST_ROLE, ADMIN_ROLE];
/// callrecords' ingest role.
pub const INGEST_ROLE: &str = "CallRecords.Ingest";
/// callrecords' administrator role.
pub const ADMIN_ROLE: &str = "CallRecords.Admin";
/// Also accepted for the PSTN / direct-routing functions (spec §11).
pub const PSTN_CALLS_ROLE: &str = "CallRecord-PstnCalls.Read.All";
/// `client_assertion_type` for certificate credentials.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// `expires_in` / `ext_expires_in` of issued tokens; `exp` is `iat` + 3600.
pub const EXPIRES_IN: i64 = 3599;
/// Clock skew allowed on `exp` / `nbf` (access tokens and client assertions): 5 minutes, as Entra.
pub const LEEWAY_SECS: i64 = 300;

/// The claims of an access token the fake issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// The client id (v1 name; Graph tokens carry it).
    pub appid: String,
    /// "1" client secret, "2" certificate.
    pub appidacr: String,
    /// The client id (v2 name).
    pub azp: String,
    pub azpacr: String,
    pub idp: String,
    pub idtyp: String,
    /// The service principal's object id (derived from tenant and client id).
    pub oid: String,
    pub roles: Vec<String>,
    pub sub: String,
    pub tid: String,
    /// Unique token id.
    pub uti: String,
    pub ver: String,
}

/// An Entra token-endpoint error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    pub status: StatusCode,
    /// OAuth `error`: `invalid_request`, `invalid_client`, `unauthorized_client`, …
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// The description after `AADSTS{code}: `.
    pub message: String,
}

impl EntraError {
    fn new(status: StatusCode, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        EntraError {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    fn missing(param: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }

    fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are \
                 signing into the correct cloud. Check with your subscription administrator, this may \
                 happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    fn client(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
    }

    /// Entra's error JSON.
    pub fn body(&self, trace_id: &str, correlation_id: &str, now: Timestamp) -> Value {
        let stamp = now.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {stamp}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{ENTRA_BASE}/error?code={}", self.code),
        })
    }
}

/// Entra's success JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token_type: String,
    pub expires_in: i64,
    pub ext_expires_in: i64,
    pub access_token: String,
    /// The id token (authorization-code grant only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The scopes granted (authorization-code grant only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Why an access token was refused by a Graph route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("access token is empty")]
    Empty,
    #[error("access token is malformed")]
    Malformed,
    #[error("access token signature is invalid")]
    InvalidSignature,
    #[error("access token issuer is not accepted")]
    InvalidIssuer,
    #[error("access token audience is not Graph")]
    InvalidAudience,
    #[error("access token has expired or is not yet valid")]
    Expired,
    /// Valid token without the application permission the method needs (403).
    #[error("access token lacks the required role")]
    MissingRole,
}

impl AuthError {
    /// Graph's error for this failure: 401 `InvalidAuthenticationToken` (403 `accessDenied` for a
    /// missing role).
    pub fn graph_error(&self) -> GraphError {
        let (status, code, message) = match self {
            AuthError::Empty => (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token is empty.",
            ),
            AuthError::Malformed => (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "CompactToken parsing failed with error code: 80049217",
            ),
            AuthError::InvalidSignature => (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
            ),
            AuthError::InvalidIssuer => (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid issuer.",
            ),
            AuthError::InvalidAudience => (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            ),
            AuthError::Expired => (
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            ),
            AuthError::MissingRole => (
                StatusCode::FORBIDDEN,
                "accessDenied",
                "Either the signed-in user does not have sufficient privileges, or you need to use a \
                 different authentication method.",
            ),
        };
        GraphError::new(status, code, message)
    }

    /// The `WWW-Authenticate` header Graph sends with a 401.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            AuthError::MissingRole => None,
            _ => Some(
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", \
                 client_id=\"00000003-0000-0000-c000-000000000000\"",
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Client {
    secrets: Vec<String>,
    certificates: Vec<RegisteredCertificate>,
}

/// The fake identity provider: tenants, registered clients, the signing key.
#[derive(Debug)]
pub struct Authority {
    issuer_base: String,
    tenants: Vec<String>,
    clients: HashMap<String, Client>,
    key: SigningKey,
    seed: u64,
    counter: AtomicU64,
    now: fn() -> Timestamp,
    /// Authorization codes handed out by `/authorize` and not expired yet.
    codes: std::sync::Mutex<HashMap<String, code::Grant>>,
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    aud: Option<Value>,
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn guid_from(seed: u64, parts: &[&str]) -> String {
    let mut h = seed;
    for p in parts {
        h = crate::rng::mix(h ^ crate::rng::hash_str(p));
    }
    crate::rng::guid(&mut crate::rng::rng(h))
}

impl Authority {
    /// An authority for `tenants` issuing as `{issuer_base}/{tenant}/v2.0` (e.g. the fake's own
    /// base URL, `http://127.0.0.1:8080`), signing with `key`, with no clients yet.
    pub fn new(issuer_base: &str, tenants: Vec<String>, key: SigningKey, seed: u64) -> Self {
        Authority {
            issuer_base: issuer_base.trim_end_matches('/').to_string(),
            tenants,
            clients: HashMap::new(),
            key,
            seed,
            counter: AtomicU64::new(0),
            now: Timestamp::now,
            codes: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The authority for a [`FakeConfig`]: its tenants, secret and certificate clients, and the
    /// seed-derived key.
    pub fn from_config(cfg: &FakeConfig, issuer_base: &str) -> Result<Self, KeyError> {
        let mut a = Authority::new(
            issuer_base,
            cfg.tenants.clone(),
            SigningKey::from_seed(cfg.seed)?,
            cfg.seed,
        );
        for c in &cfg.clients {
            a.add_secret_client(&c.client_id, &c.secret);
        }
        for c in &cfg.certificate_clients {
            a.add_certificate_client(&c.client_id, &c.certificate_pem)?;
        }
        Ok(a)
    }

    /// Uses `now` instead of the system clock in the HTTP handlers (for tests).
    pub fn with_clock(mut self, now: fn() -> Timestamp) -> Self {
        self.now = now;
        self
    }

    pub(crate) fn now(&self) -> Timestamp {
        (self.now)()
    }

    /// Registers (another) secret for `client_id`.
    pub fn add_secret_client(&mut self, client_id: &str, secret: &str) {
        self.clients
            .entry(client_id.to_string())
            .or_default()
            .secrets
            .push(secret.to_string());
    }

    /// Registers a PEM certificate for `client_id`.
    pub fn add_certificate_client(&mut self, client_id: &str, pem: &str) -> Result<(), KeyError> {
        let cert = RegisteredCertificate::from_pem(pem)?;
        self.clients
            .entry(client_id.to_string())
            .or_default()
            .certificates
            .push(cert);
        Ok(())
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    pub fn has_tenant(&self, tenant: &str) -> bool {
        self.tenants.iter().any(|t| t == tenant)
    }

    /// `{issuer_base}/{tenant}/v2.0`.
    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.issuer_base)
    }

    /// `{issuer_base}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.issuer_base)
    }

    /// A fresh GUID-shaped id (trace ids, `uti`): deterministic per seed and call order.
    pub(crate) fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        guid_from(self.seed, &["id", &n.to_string()])
    }

    /// The JWKS document (`/{tenant}/discovery/v2.0/keys`).
    pub fn jwks(&self, tenant: &str) -> Value {
        json!({"keys": [self.key.jwk(&self.issuer(tenant))]})
    }

    /// The OpenID configuration (`/{tenant}/v2.0/.well-known/openid-configuration`), Entra's v2 shape.
    pub fn openid_configuration(&self, tenant: &str) -> Value {
        let b = &self.issuer_base;
        json!({
            "token_endpoint": self.token_endpoint(tenant),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{b}/{tenant}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer(tenant),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": format!("{b}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{b}/{tenant}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{b}/{tenant}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid",
                "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{b}/{tenant}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        })
    }

    /// Handles a token request for `tenant` with the form-encoded `body`, at `now`.
    pub fn token(
        &self,
        tenant: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<TokenResponse, EntraError> {
        let form: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| EntraError::missing("grant_type"))?;
        self.token_form(tenant, &form, now)
    }

    /// [`token`](Self::token) with the form already parsed.
    pub fn token_form(
        &self,
        tenant: &str,
        form: &[(String, String)],
        now: Timestamp,
    ) -> Result<TokenResponse, EntraError> {
        if !self.has_tenant(tenant) {
            return Err(EntraError::tenant_not_found(tenant));
        }
        let grant = param(form, "grant_type").ok_or_else(|| EntraError::missing("grant_type"))?;
        if grant == "authorization_code" {
            return self.redeem_code(tenant, form, now);
        }
        if grant != "client_credentials" {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{grant}'."),
            ));
        }
        let client_id = param(form, "client_id").ok_or_else(|| EntraError::missing("client_id"))?;
        let Some(client) = self.clients.get(client_id) else {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                700016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{tenant}'. \
                     This can happen if the application has not been installed by the administrator of the \
                     tenant or consented to by any user in the tenant. You may have sent your authentication \
                     request to the wrong tenant."
                ),
            ));
        };
        let scope = param(form, "scope").ok_or_else(|| EntraError::missing("scope"))?;
        let audience = self.resource_of(scope, tenant)?;
        let acr = self.authenticate_client(tenant, client_id, client, form, now)?;
        Ok(self.issue(tenant, client_id, &audience, acr, now))
    }

    /// The resource of a `…/.default` scope (only Graph is known here).
    fn resource_of(&self, scope: &str, tenant: &str) -> Result<String, EntraError> {
        let scope = scope.trim();
        let Some(resource) = scope.strip_suffix("/.default") else {
            return Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a \
                     scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        };
        let r = resource.trim_end_matches('/');
        if r.eq_ignore_ascii_case(GRAPH_RESOURCE) || r.eq_ignore_ascii_case(GRAPH_APP_ID) {
            Ok(GRAPH_RESOURCE.to_string())
        } else {
            Err(EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_resource",
                500011,
                format!(
                    "The resource principal named {resource} was not found in the tenant named {tenant}. This \
                     can happen if the application has not been installed by the administrator of the tenant \
                     or consented to by any user in the tenant. You might have sent your authentication \
                     request to the wrong tenant."
                ),
            ))
        }
    }

    /// Checks the client's credential; returns the `appidacr` ("1" secret, "2" certificate).
    fn authenticate_client(
        &self,
        tenant: &str,
        client_id: &str,
        client: &Client,
        form: &[(String, String)],
        now: Timestamp,
    ) -> Result<&'static str, EntraError> {
        if let Some(assertion) = param(form, "client_assertion") {
            let ty = param(form, "client_assertion_type")
                .ok_or_else(|| EntraError::missing("client_assertion_type"))?;
            if ty != JWT_BEARER {
                return Err(EntraError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    50027,
                    format!("Invalid client_assertion_type '{ty}'; expected '{JWT_BEARER}'."),
                ));
            }
            self.check_assertion(tenant, client_id, client, assertion, now)?;
            return Ok("2");
        }
        let Some(secret) = param(form, "client_secret") else {
            return Err(EntraError::client(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        };
        if client.secrets.iter().any(|s| s == secret) {
            Ok("1")
        } else {
            Err(EntraError::client(
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client \
                     secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            ))
        }
    }

    fn check_assertion(
        &self,
        tenant: &str,
        client_id: &str,
        client: &Client,
        assertion: &str,
        now: Timestamp,
    ) -> Result<(), EntraError> {
        let malformed = || EntraError::client(50027, "JWT token is invalid or malformed.");
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| malformed())?;
        let cert = client.certificates.iter().find(|c| {
            header.x5t.as_deref() == Some(c.x5t.as_str())
                || header.x5t_s256.as_deref() == Some(c.x5t_s256.as_str())
                || header
                    .kid
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(&c.thumbprint_hex))
        });
        let Some(cert) = cert else {
            let used = header
                .x5t
                .or(header.x5t_s256)
                .or(header.kid)
                .unwrap_or_default();
            return Err(EntraError::client(
                700027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on \
                     application. [Reason - The key was not found., Thumbprint of key used by client: '{used}', \
                     Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured \
                     keys for app Id '{client_id}'.]"
                ),
            ));
        };
        let mut v = Validation::new(Algorithm::RS256);
        v.algorithms = vec![Algorithm::RS256, Algorithm::PS256];
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let claims = match jsonwebtoken::decode::<AssertionClaims>(assertion, &cert.decoding, &v) {
            Ok(d) => d.claims,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm
                ) =>
            {
                return Err(EntraError::client(
                    700027,
                    "Client assertion failed signature validation.",
                ));
            }
            Err(_) => return Err(malformed()),
        };
        if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
            return Err(EntraError::client(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            ));
        }
        let endpoint = self.token_endpoint(tenant);
        let accepted = [
            endpoint.clone(),
            format!("{ENTRA_BASE}/{tenant}/oauth2/v2.0/token"),
        ];
        let aud_ok = |a: &str| {
            accepted
                .iter()
                .any(|x| x.trim_end_matches('/') == a.trim_end_matches('/'))
        };
        let aud_matches = match &claims.aud {
            Some(Value::String(a)) => aud_ok(a),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(aud_ok),
            _ => false,
        };
        if !aud_matches {
            let aud = claims
                .aud
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default();
            return Err(EntraError::client(
                50013,
                format!(
                    "Assertion audience claim does not match the required value. The audience in the \
                     assertion was {aud} and the expected audience is '{endpoint}'."
                ),
            ));
        }
        let (Some(exp), Some(_jti)) = (claims.exp, claims.jti.as_deref()) else {
            return Err(malformed());
        };
        let now_s = now.as_second();
        let nbf = claims.nbf.unwrap_or(i64::MIN);
        if exp.saturating_add(LEEWAY_SECS) < now_s || nbf.saturating_sub(LEEWAY_SECS) > now_s {
            let show = |s: i64| {
                Timestamp::from_second(s)
                    .map(|t| t.strftime("%m/%d/%Y %H:%M:%S").to_string())
                    .unwrap_or_else(|_| s.to_string())
            };
            return Err(EntraError::client(
                700024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, assertion valid \
                     from {}, expiry time of assertion {}.",
                    crate::tenant::format_ts7(now),
                    claims.nbf.map(show).unwrap_or_default(),
                    show(exp)
                ),
            ));
        }
        Ok(())
    }

    fn issue(
        &self,
        tenant: &str,
        client_id: &str,
        audience: &str,
        acr: &str,
        now: Timestamp,
    ) -> TokenResponse {
        let iat = now.as_second();
        let oid = guid_from(self.seed, &["oid", tenant, client_id]);
        let claims = Claims {
            aud: audience.to_string(),
            iss: self.issuer(tenant),
            iat,
            nbf: iat,
            exp: iat + EXPIRES_IN + 1,
            appid: client_id.to_string(),
            appidacr: acr.to_string(),
            azp: client_id.to_string(),
            azpacr: acr.to_string(),
            idp: self.issuer(tenant),
            idtyp: "app".into(),
            oid: oid.clone(),
            roles: std::iter::once(CALL_RECORDS_ROLE)
                .chain(CALLRECORDS_OWN_ROLES)
                .map(str::to_string)
                .collect(),
            sub: oid,
            tid: tenant.to_string(),
            uti: self.next_id(),
            ver: "2.0".into(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.key.kid().to_string());
        header.x5t = Some(self.key.kid().to_string());
        // Signing with a well-formed key and serializable claims cannot fail; an empty token (which
        // every Graph route refuses) is the safe fallback if it ever did.
        let access_token =
            jsonwebtoken::encode(&header, &claims, self.key.encoding()).unwrap_or_default();
        TokenResponse {
            token_type: "Bearer".into(),
            expires_in: EXPIRES_IN,
            ext_expires_in: EXPIRES_IN,
            access_token,
            id_token: None,
            scope: None,
        }
    }

    /// Checks an access token for the fake's Graph routes: signature (this authority's key), issuer
    /// (one of its tenants), audience (Graph), `exp` / `nbf` against `now` with [`LEEWAY_SECS`].
    pub fn validate_access_token(&self, token: &str, now: Timestamp) -> Result<Claims, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Empty);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        if header.kid.as_deref() != Some(self.key.kid()) {
            return Err(AuthError::InvalidSignature);
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.set_audience(&[GRAPH_RESOURCE, &format!("{GRAPH_RESOURCE}/"), GRAPH_APP_ID]);
        let issuers: Vec<String> = self.tenants.iter().map(|t| self.issuer(t)).collect();
        v.set_issuer(&issuers);
        let claims = jsonwebtoken::decode::<Claims>(token, self.key.decoding(), &v)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthError::InvalidSignature
                }
                ErrorKind::InvalidIssuer => AuthError::InvalidIssuer,
                ErrorKind::InvalidAudience => AuthError::InvalidAudience,
                _ => AuthError::Malformed,
            })?
            .claims;
        if self.issuer(&claims.tid) != claims.iss {
            return Err(AuthError::InvalidIssuer);
        }
        let now_s = now.as_second();
        if claims.exp.saturating_add(LEEWAY_SECS) < now_s
            || claims.nbf.saturating_sub(LEEWAY_SECS) > now_s
        {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }

    /// For a Graph route: the `Authorization` header value (if any) → the token's claims, checked
    /// with [`validate_access_token`](Self::validate_access_token) and for one of `roles`.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        roles: &[&str],
        now: Timestamp,
    ) -> Result<Claims, AuthError> {
        let token = authorization
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .unwrap_or("");
        let claims = self.validate_access_token(token, now)?;
        if roles.iter().any(|r| claims.roles.iter().any(|c| c == r)) {
            Ok(claims)
        } else {
            Err(AuthError::MissingRole)
        }
    }
}

#[cfg(test)]
mod tests;
