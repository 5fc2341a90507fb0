//! HTTP ingest, outside Graph's namespace: `POST /ingest/callRecords` and one path per log-row kind
//! (`/ingest/pstnCalls`, `/ingest/directRoutingCalls`, `/ingest/smsLogs`, `/ingest/pstnBlockedUsers`,
//! `/ingest/pstnOnlineMeetingDialouts`). A body is one object, a Graph page, or NDJSON, optionally gzip. The
//! answer comes only after the commit is on disk.

use std::io::Read;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::post;
use callrecords_model::LogKind;
use callrecords_model::reader::{RawItem, RecordKind, read_items};
use serde_json::json;

use crate::pipeline::{self, Tally};
use crate::{ApiError, AppState, Config};

/// Records per store transaction.
const BATCH: usize = 1000;

/// `/ingest/...` routes.
pub fn routes(_config: &Config) -> Router<AppState> {
    Router::new().route("/ingest/{kind}", post(ingest))
}

fn kind_from_path(segment: &str) -> Option<RecordKind> {
    if segment == "callRecords" {
        return Some(RecordKind::CallRecord);
    }
    let name = segment.strip_suffix('s')?;
    name.parse::<LogKind>().ok().map(RecordKind::Log)
}

async fn ingest(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::response::Response, ApiError> {
    let kind = kind_from_path(&segment).ok_or_else(|| ApiError::no_route(&segment))?;
    let period = dialout_period(kind, query.as_deref())?;
    let limit = state.config.ingest_limit;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));

    // Cut the body into items off the async runtime (cheap), then parse and validate batch k+1 on all cores
    // while batch k is being stored.
    let items = tokio::task::spawn_blocking(move || read_body(bytes, gzip, kind, limit))
        .await
        .map_err(|e| ApiError::internal(format!("ingest worker failed: {e}")))??;
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "BadRequest",
            "The request body holds no records.",
        ));
    }
    let mut batches = Vec::with_capacity(items.len().div_ceil(BATCH));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        batches.push(items.by_ref().take(BATCH).collect::<Vec<_>>());
    }
    let check =
        |batch: Vec<RawItem>| tokio::task::spawn_blocking(move || pipeline::check_all(batch));
    let mut batches = batches.into_iter();
    let mut next = batches.next().map(check);
    let mut results = Vec::new();
    let mut any_parsed = false;
    let mut first_error: Option<String> = None;
    while let Some(pending) = next.take() {
        let checked = pending
            .await
            .map_err(|e| ApiError::internal(format!("ingest worker failed: {e}")))?;
        next = batches.next().map(check);
        if first_error.is_none() && results.is_empty() {
            first_error = Some(
                checked[0]
                    .result
                    .as_ref()
                    .err()
                    .and_then(|e| e.first())
                    .map(|i| i.message.clone())
                    .unwrap_or_default(),
            );
        }
        any_parsed |= checked.iter().any(|c| c.parsed);
        // A batch with nothing parsed stores nothing, so a hopeless body leaves the store untouched.
        results.extend(pipeline::store_batch(state.store.as_ref(), checked, period).await?);
    }
    if !any_parsed {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "The request body is not JSON: {}",
                first_error.unwrap_or_default()
            ),
        ));
    }
    let mut tally = Tally::default();
    tally.add(&results);
    let body = json!({"kind": kind.cli_name(), "counts": tally, "results": results});
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
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
