//! Version history, outside Graph's namespace: every version of a record ever received, and each one's JSON
//! exactly as received.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use callrecords_store::ReadScope;
use serde_json::json;

use crate::{ApiError, AppState};

/// `/admin/...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/callRecords/{id}/versions", get(versions))
        .route("/admin/callRecords/{id}/versions/{version}", get(version))
}

async fn versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let list = state.store.list_versions(&ReadScope::All, &id).await?;
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
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version: i64 = version
        .parse()
        .map_err(|_| ApiError::bad_input(format!("'{version}' is not a version number.")))?;
    let raw = state
        .store
        .get_version(&ReadScope::All, &id, version)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No version {version} of call record '{id}' was received."
            ))
        })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], raw).into_response())
}
