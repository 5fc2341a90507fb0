//! `GET /analytics/v1/calls`: the call list of the dashboard's Calls page — the records the quality
//! deriver has rows for, filtered, sorted and paged by the store
//! ([`callrecords_store::quality::QualityStore::quality_calls`]).
//!
//! Query: `from` / `until` (a day or an RFC 3339 timestamp, on `startDateTime`), `search` (id, organizer,
//! participant, `joinWebUrl` substring), `type`, `poorOnly=true`, `failedOnly=true`,
//! `orderBy=start|duration|participants|poorStreams` with an optional ` asc` / ` desc` (default
//! `start desc`), `$top` (1..1000, default 50), `$skip`. The answer: `{"@odata.count", "value": [...],
//! "@odata.nextLink"?}`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use callrecords_store::calls::{CallFilter, CallOrder, CallRow};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::analytics::{json_response, ready, window_of};
use crate::{ApiError, AppState};

/// Default and largest page.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 1000;

/// The route, registered with its OpenAPI operation (merged into `/analytics/v1/openapi.json` by
/// [`crate::openapi`]).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(calls))
}

fn flag(q: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match q.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(ApiError::bad_input(format!(
            "'{name}' must be true or false, not '{v}'."
        ))),
    }
}

/// The filter of a query string.
pub fn filter_of(q: &HashMap<String, String>) -> Result<CallFilter, ApiError> {
    let limit = match q.get("$top") {
        None => DEFAULT_PAGE,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::bad_input(format!("'$top' must be 1..{MAX_PAGE}.")))?,
    };
    let skip = match q.get("$skip") {
        None => 0,
        Some(s) => s
            .parse::<usize>()
            .map_err(|_| ApiError::bad_input("'$skip' must be a non-negative integer."))?,
    };
    let (order, descending) = match q.get("orderBy") {
        None => (CallOrder::Start, true),
        Some(o) => {
            let mut parts = o.split_whitespace();
            let name = parts.next().unwrap_or_default();
            let order = CallOrder::from_name(name).ok_or_else(|| {
                ApiError::bad_input(format!(
                    "Unknown orderBy '{name}'; one of: {}.",
                    CallOrder::ALL.map(CallOrder::name).join(", ")
                ))
            })?;
            let descending = match (parts.next(), parts.next()) {
                (None | Some("desc"), None) => true,
                (Some("asc"), None) => false,
                _ => {
                    return Err(ApiError::bad_input(format!(
                        "'orderBy' must be a name optionally followed by asc or desc, not '{o}'."
                    )));
                }
            };
            (order, descending)
        }
    };
    Ok(CallFilter {
        window: window_of(q)?,
        search: q
            .get("search")
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned()),
        call_type: q.get("type").filter(|s| !s.is_empty()).cloned(),
        poor_only: flag(q, "poorOnly")?,
        failed_only: flag(q, "failedOnly")?,
        order,
        descending,
        skip,
        limit,
    })
}

fn time(us: Option<i64>) -> serde_json::Value {
    us.and_then(|u| jiff::Timestamp::from_microsecond(u).ok())
        .map_or(serde_json::Value::Null, |t| json!(t.to_string()))
}

fn row_json(r: &CallRow) -> serde_json::Value {
    let duration = match (r.start_us, r.end_us) {
        (Some(s), Some(e)) if e >= s => json!((e - s) as f64 / 1e6),
        _ => serde_json::Value::Null,
    };
    json!({
        "id": r.id,
        "tenantId": r.tenant,
        "version": r.version,
        "startDateTime": time(r.start_us),
        "endDateTime": time(r.end_us),
        "durationSeconds": duration,
        "type": r.call_type,
        "modalities": r.modalities,
        "organizerId": r.organizer_id,
        "sessions": r.sessions,
        "participants": r.participants,
        "streams": r.streams,
        "poorStreams": r.poor_streams,
        "failedSessions": r.failed_sessions,
    })
}

fn next_link(q: &HashMap<String, String>, skip: usize) -> String {
    let mut params: Vec<(&str, String)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != "$skip")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    params.sort();
    params.push(("$skip", skip.to_string()));
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let qs: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    format!("/analytics/v1/calls?{}", qs.join("&"))
}

/// The call list: records with quality rows whose `startDateTime` is in the window, filtered, sorted and
/// paged (`@odata.count` is the total of the filter, `@odata.nextLink` the next page).
#[utoipa::path(get, path = "/analytics/v1/calls", tag = "analytics",
    params(
        ("from" = Option<String>, Query, description = "Calls starting on or after this day (YYYY-MM-DD) or RFC 3339 instant."),
        ("until" = Option<String>, Query, description = "Calls starting before this day or instant (exclusive)."),
        ("search" = Option<String>, Query, description = "Substring of the record id, organizer, a participant or the joinWebUrl."),
        ("type" = Option<String>, Query, description = "Call type: groupCall or peerToPeer."),
        ("poorOnly" = Option<bool>, Query, description = "Only calls with a poor audio stream."),
        ("failedOnly" = Option<bool>, Query, description = "Only calls with a failed session."),
        ("orderBy" = Option<String>, Query, description = "start, duration, participants or poorStreams, optionally followed by asc or desc (default `start desc`)."),
        ("$top" = Option<usize>, Query, description = "Page size, 1..1000 (default 50)."),
        ("$skip" = Option<usize>, Query, description = "Rows to skip."),
    ),
    responses(
        (status = 200, description = "`{\"@odata.count\", \"value\": [...], \"@odata.nextLink\"?}`.", body = Object),
        (status = 400, description = "A bad parameter value.", body = crate::openapi::GraphError),
        (status = 503, description = "This store keeps no quality data.", body = crate::openapi::GraphError),
    ))]
async fn calls(
    State(state): State<AppState>,
    scope: Option<axum::Extension<crate::RequestScope>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = filter_of(&q)?;
    let quality = ready(state.store.as_ref()).await?;
    let page = quality
        .quality_calls(&crate::scope::read_scope(&scope), &filter)
        .await?;
    let end = filter.skip.saturating_add(page.rows.len());
    let mut body = json!({
        "@odata.count": page.total,
        "value": page.rows.iter().map(row_json).collect::<Vec<_>>(),
    });
    if (end as u64) < page.total && !page.rows.is_empty() {
        body["@odata.nextLink"] = json!(next_link(&q, end));
    }
    Ok(json_response(body.to_string()))
}
