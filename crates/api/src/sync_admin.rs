//! `GET /admin/sync`: every tenant's `callrecords sync` state (cursor, lag, last sweep's counts, pending and
//! given-up records, totals), as the sync command saved it in the store.

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use callrecords_store::ReadScope;

use crate::{ApiError, AppState, RequestScope};

/// The `/admin/sync` route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/sync", get(sync_states))
}

async fn sync_states(
    State(state): State<AppState>,
    scope: Option<Extension<RequestScope>>,
) -> Result<Response, ApiError> {
    // Only the tenants the caller may see (under `--fake`, the token's).
    let scope = scope.map_or(ReadScope::All, |Extension(s)| s.scope);
    let rows = state.store.list_sync_states(&scope).await?;
    let now_us = jiff::Timestamp::now().as_microsecond();
    let value: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut st: Value = serde_json::from_str(&r.state).unwrap_or(Value::Null);
            // The push subscription's clientState authenticates notifications: never shown.
            if let Some(cs) = st.pointer_mut("/push/clientState") {
                *cs = Value::String("<redacted>".into());
            }
            let lag_secs = st["cursor"]
                .as_str()
                .and_then(|c| c.parse::<jiff::Timestamp>().ok())
                .map(|c| (now_us - c.as_microsecond()) / 1_000_000);
            let updated = jiff::Timestamp::from_microsecond(r.updated_us)
                .map(|t| t.to_string())
                .ok();
            json!({"tenant": r.tenant, "updatedDateTime": updated, "lagSeconds": lag_secs, "state": st})
        })
        .collect();
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "value": value }).to_string(),
    )
        .into_response())
}
