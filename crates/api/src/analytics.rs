//! Call-quality analytics, outside Graph's namespace, under `/analytics/v1`: CQD summaries (overall or
//! grouped), stream rows, one call's streams, the building file and the Missing Subnet report. Every answer
//! first brings the derived tables up to date ([`crate::derive::catch_up`]); reads see every tenant (like
//! `/admin`).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use callrecords_quality::{BuildingMap, COUNTS_LEN, Counts, Group, GroupKey};
use callrecords_store::quality::{OVERALL, QualityStore, QualityWindow, StreamFilter};
use callrecords_store::{ReadScope, Store};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState, derive};

/// Default and largest page of `/analytics/v1/streams`.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;
/// CQD's Missing Subnet threshold.
pub const MISSING_SUBNET_MIN_AUDIO: u64 = 10;

/// `/analytics/v1/...` routes, each registered with its OpenAPI operation (so the router and
/// `/analytics/v1/openapi.json` list the same routes; [`crate::openapi`]).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(streams))
        .routes(routes!(call))
        .routes(routes!(get_buildings, put_buildings))
        .routes(routes!(missing_subnets))
        .routes(routes!(crate::openapi::openapi_json))
        .merge(crate::analytics_calls::api_routes())
}

/// `/analytics/v1/...` routes.
pub fn routes() -> Router<AppState> {
    api_routes().split_for_parts().0
}

/// A JSON body with its content type.
pub(crate) fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The store's quality tables, caught up with the change feed (503 when the store keeps none).
pub(crate) async fn ready(store: &dyn Store) -> Result<&dyn QualityStore, ApiError> {
    let q = store
        .quality()
        .ok_or_else(|| ApiError::unavailable("This store keeps no quality data."))?;
    derive::catch_up(store).await?;
    Ok(q)
}

/// A `from`/`until` bound: an RFC 3339 timestamp or a `YYYY-MM-DD` day (its UTC midnight), in µs.
pub fn parse_bound(name: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_microsecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>()
        && let Ok(z) = jiff::tz::TimeZone::UTC.to_timestamp(d.at(0, 0, 0, 0))
    {
        return Ok(z.as_microsecond());
    }
    Err(ApiError::bad_input(format!(
        "'{name}' must be a date (YYYY-MM-DD) or an RFC 3339 timestamp, not '{s}'."
    )))
}

/// The window of `from` / `until` query parameters ([from, until) on the record's `startDateTime`).
pub fn window_of(q: &HashMap<String, String>) -> Result<QualityWindow, ApiError> {
    Ok(QualityWindow {
        from_us: q.get("from").map(|s| parse_bound("from", s)).transpose()?,
        until_us: q
            .get("until")
            .map(|s| parse_bound("until", s))
            .transpose()?,
    })
}

fn counts_of(v: &[u64]) -> Counts {
    let mut a = [0u64; COUNTS_LEN];
    for (d, s) in a.iter_mut().zip(v) {
        *d = *s;
    }
    Counts::from_array(a)
}

/// The summary (or grouped summary) over the derived tables: the quality crate's JSON.
pub async fn summary_json(
    store: &dyn Store,
    scope: &ReadScope,
    q: &HashMap<String, String>,
) -> Result<serde_json::Value, ApiError> {
    let quality = ready(store).await?;
    let window = window_of(q)?;
    let (from, until) = (q.get("from").cloned(), q.get("until").cloned());
    let group = match q.get("groupBy") {
        None => None,
        Some(g) => Some(GroupKey::from_name(g).ok_or_else(|| {
            ApiError::bad_input(format!(
                "Unknown groupBy '{g}'; one of: {}.",
                GroupKey::ALL.map(GroupKey::name).join(", ")
            ))
        })?),
    };
    let kind = match q.get("kind") {
        None => None,
        Some(k) if SUMMARY_KINDS.contains(&k.as_str()) => Some(k.as_str()),
        Some(k) => {
            return Err(ApiError::bad_input(format!(
                "'kind' must be one of {}, not '{k}'.",
                SUMMARY_KINDS.join(", ")
            )));
        }
    };
    let key = group.map_or(OVERALL, GroupKey::name);
    let totals = quality.quality_totals(scope, window, key).await?;
    let to_json = |v: serde_json::Value| match kind {
        Some(k) => only_kind(v, k),
        None => v,
    };
    Ok(match group {
        None => {
            let c = totals
                .first()
                .map(|(_, c)| counts_of(c))
                .unwrap_or_default();
            to_json(serde_json::to_value(c.summary(from, until)).map_err(ApiError::internal)?)
        }
        Some(_) => {
            let groups: Vec<Group> = totals
                .into_iter()
                .map(|(key, c)| Group {
                    key,
                    summary: counts_of(&c).summary(from.clone(), until.clone()),
                })
                .collect();
            let groups = groups
                .into_iter()
                .map(|g| serde_json::to_value(g).map(to_json))
                .collect::<Result<Vec<_>, _>>()
                .map_err(ApiError::internal)?;
            json!({ "groups": groups })
        }
    })
}

/// The stream kinds `summary?kind=` (and `callrecords quality --kind`) select.
pub const SUMMARY_KINDS: [&str; 3] = ["audio", "video", "vbss"];

/// `kind=K`: the summary object with `"kind": K` and only K under `streams`. Sessions and calls are
/// unchanged: CQD defines a poor leg / call by its AUDIO streams and failures by the session's
/// `failureInfo`, whatever kind is looked at (docs/decisions.md, "Call quality").
fn only_kind(mut v: serde_json::Value, kind: &str) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        if let Some(serde_json::Value::Object(streams)) = o.get_mut("streams") {
            streams.retain(|k, _| k == kind);
        }
        o.insert("kind".into(), kind.into());
    }
    v
}

/// CQD summary: poor stream rates per kind, poor sessions and calls, setup and drop failure rates, over
/// the latest version of each record whose `startDateTime` is in [`from`, `until`); grouped with
/// `groupBy` (`{"groups": [{"key", …}]}`), one stream kind with `kind`.
#[utoipa::path(get, path = "/analytics/v1/summary", tag = "analytics",
    params(
        ("from" = Option<String>, Query, description = "Records starting on or after this day (YYYY-MM-DD, UTC midnight) or RFC 3339 instant."),
        ("until" = Option<String>, Query, description = "Records starting before this day or instant (exclusive)."),
        ("groupBy" = Option<String>, Query, description = "Group key."),
        ("kind" = Option<String>, Query, description = "Only this stream kind under `streams`; sessions and calls unchanged."),
    ),
    responses(
        (status = 200, description = "The summary object (or `{\"groups\": [...]}`).", body = Object),
        (status = 400, description = "A bad parameter value.", body = crate::openapi::GraphError),
        (status = 503, description = "This store keeps no quality data.", body = crate::openapi::GraphError),
    ))]
async fn summary(
    State(state): State<AppState>,
    scope: Option<axum::Extension<crate::RequestScope>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let v = summary_json(state.store.as_ref(), &crate::scope::read_scope(&scope), &q).await?;
    Ok(json_response(v.to_string()))
}

/// Stream rows of the latest versions, paged (`@odata.nextLink`), with filters.
#[utoipa::path(get, path = "/analytics/v1/streams", tag = "analytics",
    params(
        ("from" = Option<String>, Query, description = "Records starting on or after this day or instant."),
        ("until" = Option<String>, Query, description = "Records starting before this day or instant."),
        ("kind" = Option<String>, Query, description = "audio, video, vbss, appSharing or other."),
        ("class" = Option<String>, Query, description = "good, poor or unclassified."),
        ("recordId" = Option<String>, Query, description = "Only this record's streams."),
        ("$top" = Option<usize>, Query, description = "Page size, 1..1000 (default 100)."),
        ("$skiptoken" = Option<String>, Query, description = "From a previous page's `@odata.nextLink`."),
    ),
    responses(
        (status = 200, description = "`{\"value\": [stream rows], \"@odata.nextLink\"?}`.", body = Object),
        (status = 400, description = "A bad parameter value.", body = crate::openapi::GraphError),
        (status = 503, description = "This store keeps no quality data.", body = crate::openapi::GraphError),
    ))]
async fn streams(
    State(state): State<AppState>,
    scope: Option<axum::Extension<crate::RequestScope>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let quality = ready(state.store.as_ref()).await?;
    let limit = match q.get("$top") {
        None => DEFAULT_PAGE,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::bad_input(format!("'$top' must be 1..{MAX_PAGE}.")))?,
    };
    let after = q
        .get("$skiptoken")
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| ApiError::bad_input("Invalid '$skiptoken'."))
        })
        .transpose()?;
    if let Some(c) = q.get("class")
        && !["good", "poor", "unclassified"].contains(&c.as_str())
    {
        return Err(ApiError::bad_input(format!(
            "'class' must be good, poor or unclassified, not '{c}'."
        )));
    }
    if let Some(k) = q.get("kind")
        && !["audio", "video", "vbss", "appSharing", "other"].contains(&k.as_str())
    {
        return Err(ApiError::bad_input(format!(
            "'kind' must be audio, video, vbss, appSharing or other, not '{k}'."
        )));
    }
    let filter = StreamFilter {
        window: window_of(&q)?,
        kind: q.get("kind").cloned(),
        class: q.get("class").cloned(),
        record_id: q.get("recordId").cloned(),
        after,
        limit: limit + 1,
    };
    let mut rows = quality
        .quality_streams(&crate::scope::read_scope(&scope), &filter)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut body = String::from("{\"value\":[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&r.json);
    }
    body.push(']');
    if more && let Some(last) = rows.last() {
        let mut params: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "$skiptoken")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.sort();
        params.push(("$skiptoken".into(), last.seq.to_string()));
        let qs: Vec<String> = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC),
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect();
        let link = format!("/analytics/v1/streams?{}", qs.join("&"));
        body.push_str(",\"@odata.nextLink\":");
        body.push_str(&serde_json::Value::String(link).to_string());
    }
    body.push('}');
    Ok(json_response(body))
}

/// Every stream of one record's served version, with its class and reasons.
#[utoipa::path(get, path = "/analytics/v1/calls/{id}", tag = "analytics",
    params(("id" = String, Path, description = "The call record id.")),
    responses(
        (status = 200, description = "`{\"id\", \"version\", \"streams\": [stream rows]}`.", body = Object),
        (status = 404, description = "No such record.", body = crate::openapi::GraphError),
        (status = 503, description = "This store keeps no quality data.", body = crate::openapi::GraphError),
    ))]
async fn call(
    State(state): State<AppState>,
    scope: Option<axum::Extension<crate::RequestScope>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let quality = ready(state.store.as_ref()).await?;
    let head = state
        .store
        .read_record(&crate::scope::read_scope(&scope), &id, &Default::default())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("No call record with id '{id}'.")))?
        .head;
    let filter = StreamFilter {
        record_id: Some(id.clone()),
        limit: usize::MAX / 2,
        ..Default::default()
    };
    let rows = quality
        .quality_streams(&crate::scope::read_scope(&scope), &filter)
        .await?;
    let streams: Vec<String> = rows.into_iter().map(|r| r.json).collect();
    Ok(json_response(format!(
        "{{\"id\":{},\"version\":{},\"streams\":[{}]}}",
        serde_json::Value::String(id),
        head.version,
        streams.join(",")
    )))
}

/// The CQD building file in force, as uploaded; an empty file (no rows) before the first upload, so a
/// fresh server answers 200 like one whose file maps no subnet.
#[utoipa::path(get, path = "/analytics/v1/buildings", tag = "analytics",
    responses(
        (status = 200, description = "The building file (empty before the first upload).", body = String, content_type = "text/csv"),
    ))]
async fn get_buildings(State(state): State<AppState>) -> Result<Response, ApiError> {
    let q = state
        .store
        .quality()
        .ok_or_else(|| ApiError::unavailable("This store keeps no quality data."))?;
    let text = q.quality_meta().await?.buildings.unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response())
}

/// Validate a CQD building file; the error names every bad row.
pub fn check_buildings(text: &str) -> Result<BuildingMap, ApiError> {
    BuildingMap::parse(text).map_err(|e| ApiError::bad_input(e.to_string()))
}

/// Replace the CQD building file (CSV or TSV, no header, 14 or 15 columns) and derive building slicers
/// again; a bad file is rejected whole, every bad row named.
#[utoipa::path(put, path = "/analytics/v1/buildings", tag = "analytics",
    request_body(content = String, content_type = "text/csv", description = "CQD building file."),
    responses(
        (status = 200, description = "`{\"buildings\": rows}`.", body = Object),
        (status = 400, description = "Rejected rows, by line.", body = crate::openapi::GraphError),
    ))]
async fn put_buildings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    let _ = headers;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_input("The building file must be UTF-8 text."))?
        .to_owned();
    let map = check_buildings(&text)?;
    derive::put_buildings(state.store.as_ref(), text).await?;
    Ok(json_response(
        json!({"buildings": map.buildings().len()}).to_string(),
    ))
}

/// CQD's Missing Subnet report: subnets with at least 10 audio streams that no building row covers.
#[utoipa::path(get, path = "/analytics/v1/missingSubnets", tag = "analytics",
    params(
        ("from" = Option<String>, Query, description = "Records starting on or after this day or instant."),
        ("until" = Option<String>, Query, description = "Records starting before this day or instant."),
    ),
    responses(
        (status = 200, description = "`{\"value\": [{\"subnet\", \"audioStreams\"}]}`.", body = Object),
        (status = 400, description = "A bad parameter value.", body = crate::openapi::GraphError),
        (status = 503, description = "This store keeps no quality data.", body = crate::openapi::GraphError),
    ))]
async fn missing_subnets(
    State(state): State<AppState>,
    scope: Option<axum::Extension<crate::RequestScope>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let quality = ready(state.store.as_ref()).await?;
    let rows = quality
        .quality_missing_subnets(
            &crate::scope::read_scope(&scope),
            window_of(&q)?,
            MISSING_SUBNET_MIN_AUDIO,
        )
        .await?;
    let value: Vec<_> = rows
        .into_iter()
        .map(|(subnet, n)| json!({"subnet": subnet, "audioStreams": n}))
        .collect();
    Ok(json_response(json!({ "value": value }).to_string()))
}
