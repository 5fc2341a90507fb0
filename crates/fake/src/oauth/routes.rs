//! The HTTP endpoints: authorize, token, JWKS, OpenID configuration.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};

use super::{Authority, AuthorizeError, EntraError};

/// `GET /{tenant}/oauth2/v2.0/authorize`, `POST /{tenant}/oauth2/v2.0/token`,
/// `GET /{tenant}/discovery/v2.0/keys`,
/// `GET /{tenant}/v2.0/.well-known/openid-configuration` (mount at the root of the issuer base URL).
pub fn router(state: Arc<Authority>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .with_state(state)
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn entra_error(a: &Authority, e: &EntraError, headers: &HeaderMap) -> Response {
    let trace = a.next_id();
    let correlation = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| a.next_id());
    let mut r = (e.status, Json(e.body(&trace, &correlation, a.now()))).into_response();
    if let Ok(v) = HeaderValue::from_str(&correlation) {
        r.headers_mut().insert("client-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&trace) {
        r.headers_mut().insert("x-ms-request-id", v);
    }
    no_store(r)
}

async fn token(
    State(a): State<Arc<Authority>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match a.token(&tenant, &body, a.now()) {
        Ok(t) => no_store((StatusCode::OK, Json(t)).into_response()),
        Err(e) => entra_error(&a, &e, &headers),
    }
}

async fn jwks(
    State(a): State<Arc<Authority>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !a.has_tenant(&tenant) {
        return entra_error(&a, &EntraError::tenant_not_found(&tenant), &headers);
    }
    Json(a.jwks(&tenant)).into_response()
}

async fn openid_configuration(
    State(a): State<Arc<Authority>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !a.has_tenant(&tenant) {
        return entra_error(&a, &EntraError::tenant_not_found(&tenant), &headers);
    }
    Json(a.openid_configuration(&tenant)).into_response()
}

/// The user is signed in at once (no login page): a 302 to the redirect URI with the code, or with the
/// error when the request is bad but names a usable redirect URI; Entra's error JSON (400) otherwise.
async fn authorize(
    State(a): State<Arc<Authority>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    let location = match a.authorize_code(&tenant, &query, a.now()) {
        Ok(l) => l,
        Err(e @ AuthorizeError::Redirect { .. }) => e.location().unwrap_or_default(),
        Err(AuthorizeError::Page(e)) => return entra_error(&a, &e, &headers),
    };
    match HeaderValue::from_str(&location) {
        Ok(v) => no_store((StatusCode::FOUND, [(header::LOCATION, v)]).into_response()),
        Err(_) => entra_error(
            &a,
            &EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50011,
                "The redirect URI cannot be used in a Location header.",
            ),
            &headers,
        ),
    }
}
