//! Access control: who may call which route, as one tower layer ([`layer`]) in front of every route.
//!
//! * [`access_of`] is the one place that maps a route family to what it needs (a role, or nothing). The
//!   route-walk test (`tests/auth.rs`) calls every route of [`crate::app`] through it, so a new route cannot
//!   skip the check: anything the table does not name needs a valid token ([`Access::Authenticated`]).
//! * [`Auth`] holds how a bearer token becomes a [`Principal`]: JWTs checked against a JWKS ([`jwt`]),
//!   hashed static tokens ([`tokens`]), or nothing (`--auth none`, loopback only).
//! * A token's `tid` becomes the request's [`RequestScope`] (every store read is limited to it) and its
//!   `appid` the owner of what it creates; the [`Principal`] itself is a request extension too (ingest checks
//!   the admin role with it).
//! * Refusals are Graph's: 401 `InvalidAuthenticationToken` with `WWW-Authenticate: Bearer`, 403
//!   `accessDenied`, built by [`ApiError`] like every other error.

pub mod jwt;
pub mod oidc;
pub mod session;
pub mod tokens;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use callrecords_store::ReadScope;

use crate::error::ErrorCode;
use crate::{ApiError, RequestScope};

/// Graph reads, subscriptions, `/analytics/v1` and the dashboard's data.
pub const READ_ROLE: &str = "CallRecords.Read.All";
/// Also accepted, besides [`READ_ROLE`], for the PSTN and direct-routing functions (spec §11).
pub const PSTN_ROLE: &str = "CallRecord-PstnCalls.Read.All";
/// `/ingest`, and ingesting into the token's own tenant.
pub const INGEST_ROLE: &str = "CallRecords.Ingest";
/// `/admin`, the building file, and ingesting into another tenant than the token's.
pub const ADMIN_ROLE: &str = "CallRecords.Admin";

/// The `WWW-Authenticate` value of every 401.
pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"callrecords\"";

/// What a route needs (ordered from least to most).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: health checks, `$metadata`, the dashboard's static files, the OpenAPI document, the Graph
    /// webhook receiver (it authenticates by `clientState`).
    Public,
    /// Any valid token (paths no route answers: their 404 is not shown to strangers).
    Authenticated,
    /// [`READ_ROLE`].
    Read,
    /// [`READ_ROLE`] or [`PSTN_ROLE`].
    ReadPstn,
    /// [`INGEST_ROLE`] (or [`ADMIN_ROLE`]).
    Ingest,
    /// [`ADMIN_ROLE`].
    Admin,
}

impl Access {
    /// The roles any one of which grants this access (empty: no role needed).
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Access::Public | Access::Authenticated => &[],
            Access::Read => &[READ_ROLE],
            Access::ReadPstn => &[READ_ROLE, PSTN_ROLE],
            Access::Ingest => &[INGEST_ROLE, ADMIN_ROLE],
            Access::Admin => &[ADMIN_ROLE],
        }
    }
}

/// The route families and what each needs: the one table. Paths are matched on their raw (encoded) form.
pub fn access_of(method: &Method, path: &str) -> Access {
    // Nothing public is spelled with dot segments, empty segments or escapes: such a path needs a token
    // whatever a router (or a proxy in front) later makes of it.
    let plain = !path.contains("/.") && !path.contains("//") && !path.contains('%');
    if !plain {
        return Access::Authenticated.max(family(method, path));
    }
    family(method, path)
}

fn family(method: &Method, path: &str) -> Access {
    let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
    match path {
        "/healthz" | "/readyz" | "/" | "/v1.0/$metadata" | "/beta/$metadata" => {
            return Access::Public;
        }
        "/analytics/v1/openapi.json" => return Access::Public,
        // sync's Graph webhook receivers: Graph cannot send our token (they check `clientState` instead).
        "/notifications/graph" | "/notifications/graph/lifecycle" => return Access::Public,
        // How the service is doing is an operator's view (counts of every tenant's requests).
        "/metrics" => return Access::Admin,
        _ => {}
    }
    if under("/dashboard") {
        return Access::Public;
    }
    // The dashboard's sign-in: starting it and coming back from the identity provider need nothing;
    // who is signed in, and signing out, need the session (or a token).
    match path {
        "/auth/login" | "/auth/callback" => return Access::Public,
        "/auth/me" | "/auth/logout" => return Access::Authenticated,
        _ => {}
    }
    if under("/v1.0") || under("/beta") {
        return if is_pstn_function(path) {
            Access::ReadPstn
        } else {
            Access::Read
        };
    }
    if under("/analytics") {
        // The building file is shared by every tenant: replacing it is an administrator's act.
        if path == "/analytics/v1/buildings" && method != Method::GET && method != Method::HEAD {
            return Access::Admin;
        }
        return Access::Read;
    }
    if under("/ingest") {
        return Access::Ingest;
    }
    if under("/admin") {
        return Access::Admin;
    }
    Access::Authenticated
}

fn is_pstn_function(path: &str) -> bool {
    let Some(rest) = path
        .strip_prefix("/v1.0/communications/callRecords/")
        .or_else(|| path.strip_prefix("/beta/communications/callRecords/"))
    else {
        return false;
    };
    let name = rest.split(['(', '/']).next().unwrap_or_default();
    let name = name.rsplit('.').next().unwrap_or_default();
    name.starts_with("getPstn") || name == "getDirectRoutingCalls" || name == "getSmsLog"
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant (`tid`): every read and write of the request is limited to it.
    pub tenant: String,
    /// The calling application (`appid`, else `azp`, else `sub`): owns the subscriptions it creates.
    pub app_id: String,
    /// The application roles (`roles`).
    pub roles: Vec<String>,
}

impl Principal {
    /// Whether the token holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Why a token was refused (each is a 401 except [`AuthError::MissingRole`], a 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("No access token was sent (Authorization: Bearer …).")]
    Missing,
    #[error("The access token is malformed.")]
    Malformed,
    #[error("Access token validation failure. The signature is invalid.")]
    BadSignature,
    #[error("Access token validation failure. The signing key is unknown.")]
    UnknownKey,
    #[error("Access token validation failure. Invalid issuer.")]
    WrongIssuer,
    #[error("Access token validation failure. Invalid audience.")]
    WrongAudience,
    #[error("The access token has expired or is not yet valid.")]
    Expired,
    #[error("The access token names no tenant (tid).")]
    NoTenant,
    #[error("The access token is not known.")]
    UnknownToken,
    #[error("The id token's nonce is not the one of this sign-in.")]
    WrongNonce,
    #[error("The session has expired; sign in again.")]
    SessionExpired,
    #[error("The session cookie is not valid; sign in again.")]
    BadSession,
    #[error(
        "Cross-site request refused: a write with the session cookie must send the session's X-CSRF-Token \
         header, from this server's own origin."
    )]
    Csrf,
    #[error(
        "Either the signed-in user does not have sufficient privileges, or you need to use a different \
         authentication method."
    )]
    MissingRole,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::MissingRole | AuthError::Csrf => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::AccessDenied,
                e.to_string(),
            ),
            _ => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidAuthenticationToken,
                e.to_string(),
            ),
        }
    }
}

/// Runs after a token is accepted, before the route: `serve --fake` puts Graph's throttling, its faults
/// and its clock here. Answering `Some` stops the request with that answer.
pub trait AfterAuth: Send + Sync + 'static {
    /// `scope` is the request's scope so far; the hook may change it (the fake sets its clock).
    fn check(
        &self,
        req: &Request,
        principal: &Principal,
        scope: &mut RequestScope,
    ) -> Option<Response>;
}

/// How bearer tokens are checked.
#[derive(Debug)]
pub enum Mode {
    /// No check at all (`--auth none`: loopback only, every tenant visible).
    None,
    /// JWTs against a JWKS.
    Jwt(jwt::JwtValidator),
    /// Hashed static tokens.
    Static(tokens::StaticTokens),
}

/// The authentication of a server.
pub struct Auth {
    mode: Mode,
    after: Option<Arc<dyn AfterAuth>>,
    www_authenticate: HeaderValue,
    oidc: Option<oidc::Oidc>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("mode", &self.mode)
            .field("after", &self.after.is_some())
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl Auth {
    /// Authentication by `mode`.
    pub fn new(mode: Mode) -> Self {
        Auth {
            mode,
            after: None,
            www_authenticate: HeaderValue::from_static(WWW_AUTHENTICATE),
            oidc: None,
        }
    }

    /// Adds the dashboard's OpenID Connect sign-in (only JWT authentication can have it: the sign-in's
    /// tokens are checked by the same validator).
    pub fn with_oidc(mut self, oidc: oidc::Oidc) -> Result<Self, oidc::OidcError> {
        if !matches!(self.mode, Mode::Jwt(_)) {
            return Err(oidc::OidcError::NeedsJwt);
        }
        self.oidc = Some(oidc);
        Ok(self)
    }

    /// The dashboard sign-in, when configured.
    pub fn oidc(&self) -> Option<&oidc::Oidc> {
        self.oidc.as_ref()
    }

    /// The JWT validator (`--auth jwt`).
    pub fn jwt(&self) -> Option<&jwt::JwtValidator> {
        match &self.mode {
            Mode::Jwt(v) => Some(v),
            _ => None,
        }
    }

    /// Sends `value` as the `WWW-Authenticate` of every 401 (`serve --fake`: Graph's own).
    pub fn with_www_authenticate(mut self, value: &'static str) -> Self {
        self.www_authenticate = HeaderValue::from_static(value);
        self
    }

    /// No authentication.
    pub fn none() -> Self {
        Self::new(Mode::None)
    }

    /// Adds the hook run after a token is accepted.
    pub fn with_after(mut self, after: Arc<dyn AfterAuth>) -> Self {
        self.after = Some(after);
        self
    }

    /// Whether requests are checked at all.
    pub fn is_enabled(&self) -> bool {
        !matches!(self.mode, Mode::None)
    }

    /// The principal of an `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer(authorization).ok_or(AuthError::Missing)?;
        match &self.mode {
            Mode::None => Err(AuthError::Missing),
            Mode::Jwt(v) => v.validate(token).await,
            Mode::Static(t) => t.lookup(token),
        }
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive), `None` when absent or empty.
pub fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, rest) = authorization?.trim().split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn refuse(auth: &Auth, e: AuthError) -> Response {
    let unauthenticated = !matches!(e, AuthError::MissingRole | AuthError::Csrf);
    let mut resp = ApiError::from(e).into_response();
    if unauthenticated {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, auth.www_authenticate.clone());
    }
    resp
}

/// The layer (`axum::middleware::from_fn_with_state(auth, layer)`): public routes pass; every other route
/// needs a valid token, and the role [`access_of`] names; the token's tenant scopes the request.
pub async fn layer(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    if !auth.is_enabled() {
        return next.run(req).await;
    }
    let access = access_of(req.method(), req.uri().path());
    if access == Access::Public {
        return next.run(req).await;
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // A bearer token wins; without one, the dashboard's session cookie (when sign-in is configured).
    let session_cookie = auth
        .oidc
        .as_ref()
        .filter(|_| authorization.is_none())
        .and_then(|o| session::cookie(req.headers(), session::SESSION_COOKIE).map(|c| (o, c)));
    let mut session = None;
    let principal = match session_cookie {
        Some((oidc, cookie)) => match oidc.open_session(cookie) {
            Ok(s) => {
                if let Err(e) = oidc.check_csrf(&req, &s) {
                    return refuse(&auth, e);
                }
                let p = s.principal();
                session = Some(s);
                p
            }
            // A dead cookie is deleted with the 401, so the dashboard starts a new sign-in.
            Err(e) => {
                let mut resp = refuse(&auth, e);
                if let Ok(v) = HeaderValue::from_str(&oidc.clear_session_cookie()) {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
                return resp;
            }
        },
        None => match auth.authenticate(authorization).await {
            Ok(p) => p,
            Err(e) => return refuse(&auth, e),
        },
    };
    let roles = access.roles();
    if !roles.is_empty() && !roles.iter().any(|r| principal.has_role(r)) {
        return refuse(&auth, AuthError::MissingRole);
    }
    let mut scope = RequestScope {
        scope: ReadScope::Tenant(principal.tenant.clone()),
        now_us: None,
        app_id: Some(principal.app_id.clone()),
    };
    if let Some(after) = &auth.after
        && let Some(resp) = after.check(&req, &principal, &mut scope)
    {
        return resp;
    }
    req.extensions_mut().insert(scope);
    req.extensions_mut().insert(principal);
    if let Some(s) = session {
        req.extensions_mut().insert(s);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let get = Method::GET;
        for (path, want) in [
            ("/healthz", Access::Public),
            ("/", Access::Public),
            ("/dashboard/app.js", Access::Public),
            ("/v1.0/$metadata", Access::Public),
            ("/notifications/graph", Access::Public),
            ("/notifications/graph/lifecycle", Access::Public),
            ("/metrics", Access::Admin),
            ("/analytics/v1/openapi.json", Access::Public),
            ("/v1.0/communications/callRecords", Access::Read),
            ("/v1.0/subscriptions", Access::Read),
            (
                "/beta/communications/callRecords/getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-01-02)",
                Access::ReadPstn,
            ),
            (
                "/v1.0/communications/callRecords/microsoft.graph.callRecords.getDirectRoutingCalls(x)",
                Access::ReadPstn,
            ),
            ("/analytics/v1/summary", Access::Read),
            ("/analytics/v1/buildings", Access::Read),
            ("/ingest/callRecords", Access::Ingest),
            ("/admin/sync", Access::Admin),
            ("/adminx", Access::Authenticated),
            ("/dashboardx", Access::Authenticated),
            ("/auth/login", Access::Public),
            ("/auth/callback", Access::Public),
            ("/auth/me", Access::Authenticated),
            ("/auth/logout", Access::Authenticated),
            ("/auth/loginx", Access::Authenticated),
            ("/nope", Access::Authenticated),
            ("/dashboard/../admin/sync", Access::Authenticated),
            ("/dashboard/%2e%2e/x", Access::Authenticated),
            ("//healthz", Access::Authenticated),
            ("/v1.0/communications/callRecords('a%2Fb')", Access::Read),
        ] {
            assert_eq!(access_of(&get, path), want, "{path}");
        }
        assert_eq!(
            access_of(&Method::PUT, "/analytics/v1/buildings"),
            Access::Admin
        );
    }

    #[test]
    fn bearer_values() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(Some("Bearer")), None);
        assert_eq!(bearer(None), None);
    }
}
