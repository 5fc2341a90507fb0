//! HTTP ingest, outside Graph's namespace: `POST /ingest/callRecords` and one path per log-row kind
//! (`/ingest/pstnCalls`, `/ingest/directRoutingCalls`, `/ingest/smsLogs`, `/ingest/pstnBlockedUsers`,
//! `/ingest/pstnOnlineMeetingDialouts`). A body is one object, a Graph page, or NDJSON, optionally gzip. The
//! answer comes only after the commit is on disk.

use std::io::Read;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use callrecords_ingest::{IngestError, IngestOptions, Ingestor, ItemResult, Tally};
use callrecords_model::LogKind;
use callrecords_model::reader::{RawItem, RecordKind, read_items};
use serde::Serialize;
use serde::ser::SerializeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState, Config};

/// `/ingest/...` routes, with their OpenAPI operation ([`crate::openapi`]).
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

/// `/ingest/...` routes.
pub fn routes(_config: &Config) -> Router<AppState> {
    api_routes().split_for_parts().0
}

/// The path segments `/ingest/{kind}` accepts: `callRecords` and one per log-row kind.
pub fn kinds() -> Vec<String> {
    std::iter::once("callRecords".to_owned())
        .chain(LogKind::ALL.iter().map(|k| format!("{}s", k.cli_name())))
        .filter(|s| kind_from_path(s).is_some())
        .collect()
}

fn kind_from_path(segment: &str) -> Option<RecordKind> {
    if segment == "callRecords" {
        return Some(RecordKind::CallRecord);
    }
    let name = segment.strip_suffix('s')?;
    name.parse::<LogKind>().ok().map(RecordKind::Log)
}

/// Store call records (`callRecords`) or log rows: one JSON object, a Graph page, or NDJSON, optionally
/// gzip (`Content-Encoding: gzip`). Answered after the commit is on disk, with one result per item.
#[utoipa::path(post, path = "/ingest/{kind}", tag = "ingest",
    params(
        ("kind" = String, Path, description = "callRecords or a log-row kind (plural)."),
        ("tenantId" = Option<String>, Query, description = "The tenant the items belong to (default: the nil GUID)."),
        ("fromDateTime" = Option<String>, Query, description = "pstnOnlineMeetingDialouts: the report period's start."),
        ("toDateTime" = Option<String>, Query, description = "pstnOnlineMeetingDialouts: the report period's end."),
    ),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "One JSON object, a Graph collection page (`value`), or NDJSON; `application/json` too."),
    responses(
        (status = 200, description = "`{\"kind\", \"counts\", \"results\"}`.", body = Object),
        (status = 400, description = "The body holds no records or is not JSON.", body = crate::openapi::GraphError),
        (status = 404, description = "Unknown kind.", body = crate::openapi::GraphError),
        (status = 413, description = "The body is over the ingest limit.", body = crate::openapi::GraphError),
    ))]
// Each argument is an axum extractor (what the request carries), not a parameter a caller passes.
#[allow(clippy::too_many_arguments)]
async fn ingest(
    State(state): State<AppState>,
    scope: Option<Extension<crate::RequestScope>>,
    metrics: Option<Extension<std::sync::Arc<crate::telemetry::Metrics>>>,
    principal: Option<Extension<crate::auth::Principal>>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::response::Response, ApiError> {
    let kind = kind_from_path(&segment).ok_or_else(|| ApiError::no_route(&segment))?;
    let period = dialout_period(kind, query.as_deref())?;
    let tenant = tenant_param(query.as_deref())?;
    // Behind access control the records are the token's tenant's; only an administrator's token may name
    // another tenant.
    let admin = principal.is_some_and(|Extension(p)| p.has_role(crate::auth::ADMIN_ROLE));
    let tenant = match scope.map(|Extension(s)| s.scope) {
        Some(callrecords_store::ReadScope::Tenant(t)) => match tenant {
            Some(asked) if asked != t && !admin => {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    crate::error::ErrorCode::AccessDenied,
                    format!(
                        "tenantId '{asked}' is not the tenant of the access token; only a \
                         CallRecords.Admin token may ingest into another tenant."
                    ),
                ));
            }
            Some(asked) => Some(asked),
            None => Some(t),
        },
        _ => tenant,
    };
    let limit = state.config.ingest_limit;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| body_error(&e, limit))?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));

    // The whole body is cut into items first (off the async runtime, cheap), so that a body that does not
    // decode or read is refused before anything is stored.
    let items = tokio::task::spawn_blocking(move || read_body(bytes, gzip, kind, limit))
        .await
        .map_err(|e| worker_failed(&e))??;
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "BadRequest",
            "The request body holds no records.",
        ));
    }
    let opts = IngestOptions {
        period,
        tenant,
        ..IngestOptions::new(kind)
    };
    let done = Ingestor::new(state.store.clone(), opts)
        .ingest(items)
        .await
        .map_err(|e| match e {
            IngestError::Store(e) => ApiError::from(e),
            other => worker_failed(&other),
        })?;
    // Nothing in it was JSON: a hopeless body, answered as such (its batches stored nothing).
    if done.results.iter().all(|r| r.outcome.is_malformed()) {
        let first = done.results[0]
            .outcome
            .issues()
            .first()
            .map(|i| i.message.as_str())
            .unwrap_or_default();
        return Err(ApiError::bad_request(
            "BadRequest",
            format!("The request body is not JSON: {first}"),
        ));
    }
    if let Some(Extension(m)) = &metrics {
        for r in &done.results {
            m.count_ingested(kind.cli_name(), r.outcome.kind().as_str(), 1);
        }
    }
    let body = serde_json::to_string(&Answer {
        kind: kind.cli_name(),
        counts: Counts(&done.tally),
        results: done.results.iter().map(ResultBody::from).collect(),
    })
    .map_err(|e| worker_failed(&e))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A 500 whose cause goes to the log, not to the client.
fn worker_failed(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "ingest failed");
    ApiError::internal("The ingest failed; see the server log.")
}

/// The answer: `{"kind", "counts": {"received", <outcome>: n…}, "results": […]}`.
#[derive(Serialize)]
struct Answer<'a> {
    kind: &'static str,
    counts: Counts<'a>,
    results: Vec<ResultBody<'a>>,
}

/// `{"received": n, "<outcome>": n, …}`, outcomes that occurred, in name order.
struct Counts<'a>(&'a Tally);

impl Serialize for Counts<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("received", &self.0.received())?;
        for (kind, n) in self.0.iter() {
            map.serialize_entry(kind.as_str(), &n)?;
        }
        map.end()
    }
}

/// One item's result on the wire.
#[derive(Serialize)]
struct ResultBody<'a> {
    /// `source:line[index]`.
    location: String,
    /// 1-based line (NDJSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    /// 0-based index inside a page.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    /// `stored`, `duplicate`, `conflict`, `stale`, `partial` or `invalid`.
    outcome: &'static str,
    /// Why it is invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<String>,
    /// Warnings (kept anyway).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

impl<'a> From<&'a ItemResult> for ResultBody<'a> {
    fn from(r: &'a ItemResult) -> Self {
        ResultBody {
            location: r.location.to_string(),
            line: r.location.line,
            index: r.location.index,
            id: r.id.as_deref(),
            version: r.version,
            outcome: r.outcome.kind().as_str(),
            errors: r.outcome.issues().iter().map(ToString::to_string).collect(),
            warnings: r.warnings.iter().map(ToString::to_string).collect(),
        }
    }
}

fn read_body(
    bytes: Bytes,
    gzip: bool,
    kind: RecordKind,
    limit: usize,
) -> Result<Vec<RawItem>, ApiError> {
    let mut out = Vec::new();
    let reader: Box<dyn Read> = if gzip {
        // Decode here so that the limit applies to the decompressed size too.
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(limit as u64 + 1)
            .read_to_end(&mut decoded)
            .map_err(|e| {
                ApiError::bad_request("BadRequest", format!("The gzip body does not decode: {e}"))
            })?;
        if decoded.len() > limit {
            return Err(ApiError::too_large(limit));
        }
        Box::new(std::io::Cursor::new(decoded))
    } else {
        Box::new(std::io::Cursor::new(bytes))
    };
    read_items("body", reader, kind, &mut |item| out.push(item)).map_err(|e| {
        ApiError::bad_request("BadRequest", format!("The body could not be read: {e}"))
    })?;
    Ok(out)
}

/// Dial-out report rows carry no date: they are stored with the period they cover, from `?from=…&to=…`
/// (or `fromDateTime`/`toDateTime`).
/// `?tenantId=T`: the tenant the body's records belong to (the default tenant when absent).
/// Why a body could not be read: over the limit (413), stalled past the server's idle timeout (408), or
/// cut off by the client (400).
fn body_error(e: &axum::Error, limit: usize) -> ApiError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return ApiError::too_large(limit);
        }
        if c.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                crate::error::ErrorCode::RequestTimeout,
                "The request body stalled; it must keep arriving without long pauses.",
            );
        }
        cause = c.source();
    }
    ApiError::bad_input("The request body could not be read to its end.")
}

fn tenant_param(query: Option<&str>) -> Result<Option<String>, ApiError> {
    let q = callrecords_odata::parse_query(query)?;
    match q.custom_value("tenantId") {
        None => Ok(None),
        Some(t) if !t.is_empty() && t.len() <= 128 && !t.chars().any(char::is_control) => {
            Ok(Some(t.to_owned()))
        }
        Some(_) => Err(ApiError::bad_input(
            "tenantId must be 1 to 128 characters without control characters.",
        )),
    }
}

fn dialout_period(kind: RecordKind, query: Option<&str>) -> Result<Option<(i64, i64)>, ApiError> {
    if kind != RecordKind::Log(LogKind::PstnOnlineMeetingDialout) {
        return Ok(None);
    }
    let q = callrecords_odata::parse_query(query)?;
    let get = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|n| q.custom_value(n).map(str::to_owned))
    };
    let (Some(from), Some(to)) = (get(["from", "fromDateTime"]), get(["to", "toDateTime"])) else {
        return Err(ApiError::bad_request(
            "BadRequest",
            "Dial-out report rows carry no date: give the period they cover with ?from=YYYY-MM-DD&to=YYYY-MM-DD.",
        ));
    };
    let from = callrecords_odata::parse_datetime_literal(&from)?;
    let to = callrecords_odata::parse_datetime_literal(&to)?;
    if from > to {
        return Err(ApiError::bad_request("BadRequest", "`from` is after `to`."));
    }
    Ok(Some((from, to)))
}
