//! The dashboard's sign-in: OpenID Connect, authorization code with PKCE (S256), the server as the client
//! (a "backend for frontend": no token ever reaches the browser's scripts).
//!
//! * `GET /auth/login?return=/#/calls` makes a `state`, a `nonce` and a PKCE verifier, keeps them in a
//!   sealed, HttpOnly cookie sent only to `/auth/callback` (ten minutes), and redirects to the identity
//!   provider's authorization endpoint (from `{issuer}/.well-known/openid-configuration`, or given).
//! * `GET /auth/callback?code&state` checks the state against the cookie, redeems the code with the verifier
//!   at the token endpoint, checks the id token (signature, issuer, audience = the client id, nonce) and the
//!   access token (with the same validator as every bearer token), and starts a session: a sealed cookie
//!   ([`super::session`]) holding what the access token granted, until it expires.
//! * `GET /auth/me` (the session or a token) says who is signed in, and gives the session's CSRF token;
//!   `POST /auth/logout` ends the session.
//! * With the session cookie, every unsafe method must carry `X-CSRF-Token` equal to the session's, and an
//!   `Origin` (when the browser sends one) equal to this server's ([`Oidc::check_csrf`]).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::session::{
    self, LOGIN_COOKIE, LOGIN_COOKIE_PATH, LOGIN_LIFETIME_SECS, LOGIN_PURPOSE, LoginState,
    SESSION_COOKIE, SESSION_PURPOSE, Session, SessionKey,
};
use super::{Auth, AuthError, Principal};
use crate::ApiError;
use crate::error::ErrorCode;

/// Where a sign-in goes back to when no `return` is given.
pub const DEFAULT_RETURN: &str = "/";
/// The header unsafe requests with the session cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the dashboard signs in.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// This server's client id at the identity provider.
    pub client_id: String,
    /// Its secret (a confidential client); `None`: a public client (PKCE only).
    pub client_secret: Option<String>,
    /// Where the identity provider sends the browser back: this server's `/auth/callback`, as the browser
    /// reaches it (its scheme and host are also the origin writes must come from).
    pub redirect_url: String,
    /// The issuer whose `/.well-known/openid-configuration` names the endpoints (unless both are given).
    pub discovery_issuer: Option<String>,
    /// The authorization endpoint (instead of discovery).
    pub authorize_url: Option<String>,
    /// The token endpoint (instead of discovery).
    pub token_url: Option<String>,
    /// The scopes asked for (must include `openid`, and a scope of this API so that the access token's
    /// audience is one `--jwt-audience` accepts).
    pub scope: String,
    /// The key sessions are sealed with.
    pub session_key: SessionKey,
    /// Mark cookies `Secure` even if the redirect URL is `http` (behind a TLS-terminating proxy that
    /// forwards plain HTTP the redirect URL is `https` anyway; this is for odd set-ups).
    pub force_secure_cookies: bool,
}

/// A sign-in setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    #[error(
        "dashboard sign-in (OpenID Connect) needs --auth jwt: its tokens are checked like bearer tokens"
    )]
    NeedsJwt,
    #[error(
        "the sign-in redirect URL must be an absolute http(s) URL ending in /auth/callback, got {0:?}"
    )]
    BadRedirectUrl(String),
    #[error(
        "the sign-in needs the identity provider's endpoints: an issuer to discover them from, or both the authorize and token URLs"
    )]
    NoEndpoints,
    #[error("the sign-in scope must include openid, got {0:?}")]
    NoOpenid(String),
}

#[derive(Debug, Clone, Deserialize)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The dashboard sign-in of a server.
pub struct Oidc {
    cfg: OidcConfig,
    /// `scheme://host[:port]` of the redirect URL.
    origin: String,
    secure: bool,
    endpoints: tokio::sync::Mutex<Option<Endpoints>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("client_id", &self.cfg.client_id)
            .field("redirect_url", &self.cfg.redirect_url)
            .field("origin", &self.origin)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The query of `/auth/callback`.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The query of `/auth/login`.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "return")]
    return_to: Option<String>,
    login_hint: Option<String>,
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn sign_in_failed(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidAuthenticationToken,
        message,
    )
}

impl Oidc {
    /// The sign-in of `cfg`.
    pub fn new(cfg: OidcConfig) -> Result<Self, OidcError> {
        let url = cfg.redirect_url.as_str();
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| *s == "http" || *s == "https")
            .ok_or_else(|| OidcError::BadRedirectUrl(url.to_owned()))?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if host.is_empty() || host.contains('@') || path != "/auth/callback" {
            return Err(OidcError::BadRedirectUrl(url.to_owned()));
        }
        if cfg.discovery_issuer.is_none()
            && (cfg.authorize_url.is_none() || cfg.token_url.is_none())
        {
            return Err(OidcError::NoEndpoints);
        }
        if !cfg.scope.split_whitespace().any(|s| s == "openid") {
            return Err(OidcError::NoOpenid(cfg.scope.clone()));
        }
        let endpoints = match (&cfg.authorize_url, &cfg.token_url) {
            (Some(a), Some(t)) => Some(Endpoints {
                authorization_endpoint: a.clone(),
                token_endpoint: t.clone(),
            }),
            _ => None,
        };
        Ok(Oidc {
            origin: format!("{scheme}://{host}"),
            secure: scheme == "https" || cfg.force_secure_cookies,
            endpoints: tokio::sync::Mutex::new(endpoints),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                // The token endpoint answers; it never redirects a POST carrying a code and verifier.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            cfg,
        })
    }

    /// The origin writes with the session cookie must come from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether cookies are marked `Secure`.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The session a cookie holds, if it is this server's and not expired.
    pub fn open_session(&self, cookie: &str) -> Result<Session, AuthError> {
        let s: Session = self
            .cfg
            .session_key
            .open(SESSION_PURPOSE, cookie)
            .ok_or(AuthError::BadSession)?;
        if s.exp <= now_s() {
            return Err(AuthError::SessionExpired);
        }
        Ok(s)
    }

    /// The CSRF defence of a request carrying the session cookie: safe methods pass; an unsafe one needs
    /// `X-CSRF-Token` equal to the session's, an `Origin` (if sent) equal to this server's, and a
    /// `Sec-Fetch-Site` (if sent) of `same-origin`.
    pub fn check_csrf(&self, req: &Request, s: &Session) -> Result<(), AuthError> {
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(());
        }
        let h = req.headers();
        let text = |name: &str| h.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
        if text("origin").is_some_and(|o| o != self.origin) {
            return Err(AuthError::Csrf);
        }
        if text("sec-fetch-site").is_some_and(|s| s != "same-origin") {
            return Err(AuthError::Csrf);
        }
        match text(CSRF_HEADER) {
            Some(t) if session::same(t, &s.csrf) => Ok(()),
            _ => Err(AuthError::Csrf),
        }
    }

    /// A `Set-Cookie` deleting the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        session::set_cookie(SESSION_COOKIE, "", "/", 0, self.secure)
    }

    async fn endpoints(&self) -> Result<Endpoints, ApiError> {
        let mut cached = self.endpoints.lock().await;
        if let Some(e) = cached.as_ref() {
            return Ok(e.clone());
        }
        let issuer = self.cfg.discovery_issuer.as_deref().unwrap_or_default();
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let unreachable = |e: String| {
            tracing::warn!("OpenID discovery at {url} failed: {e}");
            ApiError::unavailable(
                "The identity provider's OpenID configuration could not be read; see the server log.",
            )
        };
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unreachable(e.to_string()))?;
        let bytes = resp.bytes().await.map_err(|e| unreachable(e.to_string()))?;
        let e: Endpoints =
            serde_json::from_slice(&bytes).map_err(|e| unreachable(e.to_string()))?;
        *cached = Some(e.clone());
        Ok(e)
    }

    /// Starts a sign-in: the authorization URL to redirect to and the sign-in cookie to set.
    pub async fn begin(&self, q: &LoginQuery) -> Result<(String, String), ApiError> {
        let return_to = q.return_to.as_deref().unwrap_or(DEFAULT_RETURN);
        if !session::safe_return(return_to) {
            return Err(ApiError::bad_input(
                "`return` must be a path on this server (starting with a single '/').",
            ));
        }
        let endpoints = self.endpoints().await?;
        let login = LoginState {
            state: session::random_token(),
            nonce: session::random_token(),
            verifier: session::random_token(),
            return_to: return_to.to_owned(),
            exp: now_s() + LOGIN_LIFETIME_SECS,
        };
        let challenge = session::pkce_challenge(&login.verifier);
        let mut pairs = vec![
            ("response_type", "code"),
            ("response_mode", "query"),
            ("client_id", self.cfg.client_id.as_str()),
            ("redirect_uri", self.cfg.redirect_url.as_str()),
            ("scope", self.cfg.scope.as_str()),
            ("state", login.state.as_str()),
            ("nonce", login.nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(h) = q.login_hint.as_deref().filter(|h| !h.is_empty()) {
            pairs.push(("login_hint", h));
        }
        let query = serde_urlencoded::to_string(&pairs).map_err(ApiError::internal)?;
        let base = &endpoints.authorization_endpoint;
        let sep = if base.contains('?') { '&' } else { '?' };
        let location = format!("{base}{sep}{query}");
        let cookie = session::set_cookie(
            LOGIN_COOKIE,
            &self.cfg.session_key.seal(LOGIN_PURPOSE, &login),
            LOGIN_COOKIE_PATH,
            LOGIN_LIFETIME_SECS,
            self.secure,
        );
        Ok((location, cookie))
    }

    /// Finishes a sign-in: checks the state, redeems the code, checks both tokens; the path to go back to
    /// and the session cookie.
    pub async fn finish(
        &self,
        auth: &Auth,
        q: &CallbackQuery,
        login_cookie: Option<&str>,
    ) -> Result<(String, String), ApiError> {
        let login: LoginState = login_cookie
            .and_then(|c| self.cfg.session_key.open(LOGIN_PURPOSE, c))
            .filter(|l: &LoginState| l.exp > now_s())
            .ok_or_else(|| {
                ApiError::bad_input(
                    "No sign-in is in progress in this browser (or it took too long): start again at /auth/login.",
                )
            })?;
        if let Some(e) = &q.error {
            let detail = q.error_description.as_deref().unwrap_or_default();
            let first = detail.lines().next().unwrap_or_default();
            return Err(sign_in_failed(format!(
                "The identity provider refused the sign-in: {e}: {first}"
            )));
        }
        if !q
            .state
            .as_deref()
            .is_some_and(|s| session::same(s, &login.state))
        {
            return Err(ApiError::bad_input(
                "The sign-in's state does not match this browser's: start again at /auth/login.",
            ));
        }
        let code = q
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::bad_input("The callback carries no code."))?;
        let validator = auth.jwt().ok_or_else(|| {
            ApiError::internal("dashboard sign-in configured without a JWT validator")
        })?;
        let tokens = self.redeem(code, &login.verifier).await?;
        let id = validator
            .validate_id_token(&tokens.0, &self.cfg.client_id, &login.nonce)
            .await
            .map_err(|e| sign_in_failed(format!("The id token was refused: {e}")))?;
        let (principal, exp): (Principal, i64) = validator
            .validate_with_expiry(&tokens.1)
            .await
            .map_err(|e| sign_in_failed(format!("The access token was refused: {e}")))?;
        if principal.tenant != id.tenant {
            return Err(sign_in_failed(
                "The id token and the access token name different tenants.",
            ));
        }
        let s = Session {
            tenant: principal.tenant,
            app_id: principal.app_id,
            roles: principal.roles,
            exp,
            sub: id.sub,
            name: id.name,
            username: id.username,
            csrf: session::random_token(),
        };
        let cookie = session::set_cookie(
            SESSION_COOKIE,
            &self.cfg.session_key.seal(SESSION_PURPOSE, &s),
            "/",
            exp - now_s(),
            self.secure,
        );
        Ok((login.return_to, cookie))
    }

    /// The id token and the access token for `code`.
    async fn redeem(&self, code: &str, verifier: &str) -> Result<(String, String), ApiError> {
        let endpoints = self.endpoints().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.cfg.redirect_url.as_str()),
            ("client_id", self.cfg.client_id.as_str()),
            ("code_verifier", verifier),
        ];
        if let Some(s) = &self.cfg.client_secret {
            form.push(("client_secret", s.as_str()));
        }
        let body = serde_urlencoded::to_string(&form).map_err(ApiError::internal)?;
        let resp = self
            .http
            .post(&endpoints.token_endpoint)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!("the token endpoint could not be reached: {e}");
                ApiError::unavailable(
                    "The identity provider could not be reached; see the server log.",
                )
            })?;
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap_or_default();
        let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|e| {
            tracing::warn!("the token endpoint's answer ({status}) is not JSON: {e}");
            ApiError::unavailable(
                "The identity provider's answer could not be read; see the server log.",
            )
        })?;
        match (answer.id_token, answer.access_token) {
            (Some(id), Some(access)) if status.is_success() => Ok((id, access)),
            _ => {
                let e = answer.error.unwrap_or_else(|| status.to_string());
                let detail = answer.error_description.unwrap_or_default();
                let first = detail.lines().next().unwrap_or_default();
                tracing::info!("the token endpoint refused a code: {e}: {first}");
                Err(sign_in_failed(format!(
                    "The identity provider refused the code: {e}: {first}"
                )))
            }
        }
    }
}

/// The routes: `/auth/login`, `/auth/callback`, `/auth/me`, `/auth/logout` (each answers 404 when sign-in
/// is not configured).
pub fn routes<S: Clone + Send + Sync + 'static>(auth: Option<Arc<Auth>>) -> Router<S> {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/me", get(me))
        .route("/auth/logout", post(logout))
        .with_state(auth)
}

fn configured(auth: &Option<Arc<Auth>>) -> Result<(&Auth, &Oidc), ApiError> {
    auth.as_deref()
        .and_then(|a| a.oidc().map(|o| (a, o)))
        .ok_or_else(|| {
            ApiError::not_found(
                "Dashboard sign-in is not configured on this server (serve --auth jwt --oidc-client-id …).",
            )
        })
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(location: &str, cookies: &[String]) -> Result<Response, ApiError> {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(location).map_err(ApiError::internal)?,
    );
    for c in cookies {
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_str(c).map_err(ApiError::internal)?,
        );
    }
    Ok(no_store(r))
}

async fn login(
    State(auth): State<Option<Arc<Auth>>>,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let (_, oidc) = configured(&auth)?;
    let q: LoginQuery = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|_| ApiError::bad_input("The query of /auth/login cannot be read."))?;
    let (location, cookie) = oidc.begin(&q).await?;
    redirect(&location, &[cookie])
}

async fn callback(
    State(auth): State<Option<Arc<Auth>>>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let (a, oidc) = configured(&auth)?;
    // A query that does not parse (a repeated parameter) is treated as carrying nothing.
    let q: CallbackQuery =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let login_cookie = session::cookie(&headers, LOGIN_COOKIE);
    // The sign-in cookie is spent whatever the outcome.
    let spent = session::set_cookie(LOGIN_COOKIE, "", LOGIN_COOKIE_PATH, 0, oidc.secure());
    match oidc.finish(a, &q, login_cookie).await {
        Ok((return_to, cookie)) => redirect(&return_to, &[cookie, spent]),
        Err(e) => {
            let mut r = e.into_response();
            if let Ok(v) = HeaderValue::from_str(&spent) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(no_store(r))
        }
    }
}

async fn me(
    State(auth): State<Option<Arc<Auth>>>,
    principal: Option<axum::Extension<Principal>>,
    session: Option<axum::Extension<Session>>,
) -> Result<Response, ApiError> {
    let Some(axum::Extension(p)) = principal else {
        if auth.as_ref().is_some_and(|a| a.is_enabled()) {
            return Err(ApiError::internal("/auth/me reached without a principal"));
        }
        // `--auth none`: nobody to sign in, and nothing to sign in to. An answer rather than a 404, so the
        // dashboard's first question is not a failed request.
        let body = json!({"signedIn": false, "canSignIn": false, "authentication": "none"});
        return Ok(no_store(axum::Json(body).into_response()));
    };
    let body = match session {
        Some(axum::Extension(s)) => json!({
            "signedIn": true,
            "tenantId": p.tenant,
            "appId": p.app_id,
            "roles": p.roles,
            "user": {"sub": s.sub, "name": s.name, "username": s.username},
            "expires": jiff::Timestamp::from_second(s.exp).map(|t| t.to_string()).unwrap_or_default(),
            "csrfToken": s.csrf,
        }),
        None => json!({
            "signedIn": false,
            "tenantId": p.tenant,
            "appId": p.app_id,
            "roles": p.roles,
            "user": null,
        }),
    };
    Ok(no_store(axum::Json(body).into_response()))
}

async fn logout(State(auth): State<Option<Arc<Auth>>>) -> Result<Response, ApiError> {
    let (_, oidc) = configured(&auth)?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&oidc.clear_session_cookie()).map_err(ApiError::internal)?,
    );
    Ok(no_store(r))
}
