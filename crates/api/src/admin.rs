//! Version history, outside Graph's namespace: every version of a record ever received, and each one's JSON
//! exactly as received.

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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
