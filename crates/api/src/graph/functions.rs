//! The log functions bound to `communications/callRecords`: `getPstnCalls`, `getDirectRoutingCalls` (v1.0 and
//! beta) and the beta-only `getSmsLog`, `getPstnBlockedUsersLog`, `getPstnOnlineMeetingDialoutReport`.
//!
//! Rules: both `fromDateTime` and `toDateTime` are required (date-only or full DateTimeOffset literals, quoted or
//! not, or `@alias` parameters); `fromDateTime > toDateTime` is a 400; the range may span at most 90 days
//! (400 `BadRequest`) for every function except `getDirectRoutingCalls`, whose documentation states no limit
//! (we accept longer ranges there rather than reject requests Graph may answer). `toDateTime` is inclusive
//! except for direct routing. Pages hold 1,000 rows (fewer with `Prefer: odata.maxpagesize`); the next page
//! is the same URL with `$skip` advanced; `@odata.count` is the number of rows in this page.

use axum::response::Response;
use callrecords_model::LogKind;
use callrecords_model::schema::cr;
use callrecords_odata::{FunctionCall, ODataError};
use callrecords_store::LogQuery;

use super::options::only_options;
use super::reads::Reads;
use super::{GraphRequest, MAX_LOG_PAGE, render};
use crate::ApiError;

/// Longest accepted range, in µs.
const MAX_RANGE_US: i64 = 90 * 24 * 3600 * 1_000_000;

/// Answers one call of the function that reads `kind` (resolved with the route).
pub(super) async fn call(
    req: &GraphRequest,
    reads: &Reads<'_>,
    kind: LogKind,
    call: &FunctionCall,
) -> Result<Response, ApiError> {
    only_options(&req.q, &["$skip", "$count"])?;
    for (name, _) in &call.params {
        if name != "fromDateTime" && name != "toDateTime" {
            return Err(ODataError::bad_request(format!(
                "function '{}' has no parameter '{name}'; its parameters are fromDateTime and toDateTime",
                call.name
            ))
            .into());
        }
    }
    let from = call.datetime_param("fromDateTime", &req.q.aliases)?;
    let to = call.datetime_param("toDateTime", &req.q.aliases)?;
    if from > to {
        return Err(ApiError::bad_input(format!(
            "{}: fromDateTime must not be later than toDateTime",
            call.name
        )));
    }
    if kind != LogKind::DirectRoutingCall && to - from > MAX_RANGE_US {
        return Err(ApiError::bad_input(format!(
            "{}: the range between fromDateTime and toDateTime must not exceed 90 days",
            call.name
        )));
    }
    let skip = req.q.skip.unwrap_or(0);
    let (page, applied) = req.page_size(MAX_LOG_PAGE);
    let query = LogQuery {
        from_us: from,
        to_us: to,
        to_inclusive: kind.to_inclusive(),
        skip,
        limit: page + 1,
    };
    let mut rows = reads.log_rows(kind, &query).await?;
    let more = rows.len() > page;
    rows.truncate(page);
    let next = more.then(|| req.link_with("$skip", &skip.saturating_add(page as u64).to_string()));
    let ty = cr(kind.type_name());
    let context = req.context(&format!("Collection({ty})"));
    let items: Vec<&str> = rows.iter().map(String::as_str).collect();
    let count = Some(items.len() as u64);
    let body = render::collection(req, &context, count, &items, &ty, None, next)?;
    Ok(req.json(body, applied))
}
