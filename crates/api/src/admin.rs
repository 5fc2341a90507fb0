//! Administration outside Graph's namespace: every version of a record ever received (each one's JSON
//! exactly as received), the store's size, and erasure requests (`POST /admin/purge`, `POST /admin/redact`;
//! see `docs/erasure.md`).

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callrecords_store::ReadScope;
use serde_json::json;

use crate::{ApiError, AppState, RequestScope};

/// The tenants a request may see: those of the [`RequestScope`] an outer layer set (`serve --fake`: the
/// token's tenant), every tenant in plain `serve`.
fn scope_of(scope: Option<Extension<RequestScope>>) -> ReadScope {
    scope.map_or(ReadScope::All, |Extension(s)| s.scope)
}

/// `/admin/...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/callRecords/{id}/versions", get(versions))
        .route("/admin/callRecords/{id}/versions/{version}", get(version))
        .route("/admin/storage", get(storage))
        .route("/admin/purge", post(purge))
        .route("/admin/redact", post(redact))
}

/// The body of `POST /admin/purge` (`record`) and `POST /admin/redact` (`user`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ErasureBody {
    record: Option<String>,
    user: Option<String>,
    tenant: Option<String>,
}

/// The body parsed, and the tenants the erasure may touch: the caller's, narrowed to `tenant` when given
/// (a tenant outside the caller's scope is a 404, as a record of another tenant is).
fn erasure_request(scope: ReadScope, body: &[u8]) -> Result<(ErasureBody, ReadScope), ApiError> {
    let b: ErasureBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_input(format!("The body is not a valid erasure request: {e}"))
    })?;
    let scope = match (scope, b.tenant.clone()) {
        (ReadScope::All, Some(t)) => ReadScope::Tenant(t),
        (ReadScope::Tenant(mine), Some(t)) if mine != t => {
            return Err(ApiError::not_found(format!(
                "No tenant '{t}' in your scope."
            )));
        }
        (s, _) => s,
    };
    Ok((b, scope))
}

fn actor_of(scope: &Option<Extension<RequestScope>>) -> String {
    let app = scope.as_ref().and_then(|Extension(s)| s.app_id.clone());
    format!("http:{}", app.as_deref().unwrap_or("serve"))
}

fn erasure_answer(r: &callrecords_store::erasure::ErasureReport) -> Response {
    let body = json!({
        "records": r.records.len(),
        "versions": r.versions,
        "logRows": r.log_rows,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Erase one record (see `docs/erasure.md`): `{"record": ID, "tenant": T?}`.
async fn purge(
    State(state): State<AppState>,
    scope: Option<Extension<RequestScope>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = actor_of(&scope);
    let (b, scope) = erasure_request(scope_of(scope), &body)?;
    let id = b
        .record
        .filter(|r| !r.trim().is_empty() && b.user.is_none())
        .ok_or_else(|| ApiError::bad_input("Name the call record to purge: {\"record\": ID}."))?;
    let r = crate::erasure::purge(&*state.store, &scope, &id, &actor).await?;
    Ok(erasure_answer(&r))
}

/// Replace a user by their pseudonym (see `docs/erasure.md`): `{"user": ID, "tenant": T?}`.
async fn redact(
    State(state): State<AppState>,
    scope: Option<Extension<RequestScope>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let actor = actor_of(&scope);
    let (b, scope) = erasure_request(scope_of(scope), &body)?;
    let user = b
        .user
        .filter(|u| !u.trim().is_empty() && b.record.is_none())
        .ok_or_else(|| ApiError::bad_input("Name the user to redact: {\"user\": ID}."))?;
    let key = state.config.pseudonym_key.as_ref().ok_or_else(|| {
        ApiError::unavailable("Redaction over HTTP needs serve --pseudonym-key-file.")
    })?;
    let r = crate::erasure::redact(&*state.store, &scope, &user, &key.0, &actor).await?;
    Ok(erasure_answer(&r))
}

/// What the store holds for the caller's tenants: served records, stored versions and their bytes; the
/// database's size in bytes only when the caller sees every tenant (plain `serve`), so a tenant's token
/// (`--fake`) learns nothing about other tenants' volume. 404 when the backend cannot say.
async fn storage(
    State(state): State<AppState>,
    scope: Option<Extension<RequestScope>>,
) -> Result<Response, ApiError> {
    let scope = scope_of(scope);
    let size = state
        .store
        .storage_size(&scope)
        .await?
        .ok_or_else(|| ApiError::not_found("This store does not report its size."))?;
    let body = json!({
        "scope": match &scope { ReadScope::All => "all", ReadScope::Tenant(_) => "tenant" },
        "tenant": scope.tenant(),
        "records": size.records,
        "versions": size.versions,
        "rawBytes": size.raw_bytes,
        "databaseBytes": size.database_bytes,
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

async fn versions(
    State(state): State<AppState>,
    scope: Option<Extension<RequestScope>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let list = state.store.list_versions(&scope_of(scope), &id).await?;
    if list.is_empty() {
        return Err(ApiError::not_found(format!(
            "No call record with id '{id}' was ever received."
        )));
    }
    let value: Vec<_> = list
        .iter()
        .map(|v| {
            json!({"version": v.version, "lastModifiedDateTime": v.last_modified, "receivedDateTime": v.received_at,
                   "outcome": v.outcome.as_str(), "revision": v.revision, "served": v.served})
        })
        .collect();
    let body = json!({"id": id, "value": value});
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

async fn version(
    State(state): State<AppState>,
    scope: Option<Extension<RequestScope>>,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version: i64 = version
        .parse()
        .map_err(|_| ApiError::bad_input(format!("'{version}' is not a version number.")))?;
    let raw = state
        .store
        .get_version(&scope_of(scope), &id, version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No version {version} of call record '{id}' was received."
            ))
        })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], raw).into_response())
}
