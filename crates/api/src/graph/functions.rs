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
use callrecords_odata::{FunctionCall, NAMESPACE, ODataError};
use callrecords_store::LogQuery;

use super::{Ctx, MAX_LOG_PAGE, Version, collection, only_options};
use crate::ApiError;

/// Longest accepted range, in µs.
const MAX_RANGE_US: i64 = 90 * 24 * 3600 * 1_000_000;

/// Answers one function call on the callRecords collection.
pub(crate) async fn call(ctx: &Ctx, call: FunctionCall) -> Result<Response, ApiError> {
    let unknown = || ApiError::no_route(&ctx.raw_path);
    if call.namespace.as_deref().is_some_and(|ns| ns != NAMESPACE) {
        return Err(unknown());
    }
    let kind = LogKind::from_function_name(&call.name).ok_or_else(unknown)?;
    if ctx.ver == Version::V1 && !kind.in_v1() {
        return Err(unknown());
    }
    only_options(&ctx.q, &["$skip", "$count"])?;
    for (name, _) in &call.params {
        if name != "fromDateTime" && name != "toDateTime" {
            return Err(ODataError::bad_request(format!(
                "function '{}' has no parameter '{name}'; its parameters are fromDateTime and toDateTime",
                call.name
            ))
            .into());
        }
    }
    let from = call.datetime_param("fromDateTime", &ctx.q.aliases)?;
    let to = call.datetime_param("toDateTime", &ctx.q.aliases)?;
    if from > to {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "{}: fromDateTime must not be later than toDateTime",
                call.name
            ),
        ));
    }
    if kind != LogKind::DirectRoutingCall && to - from > MAX_RANGE_US {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "{}: the range between fromDateTime and toDateTime must not exceed 90 days",
                call.name
            ),
        ));
    }
    let skip = ctx.q.skip.unwrap_or(0);
    let (page, applied) = ctx.page_size(MAX_LOG_PAGE);
    let mut rows = ctx
        .state
        .store
        .query_log_rows(
            kind,
            &LogQuery {
                from_us: from,
                to_us: to,
                to_inclusive: kind.to_inclusive(),
                skip,
                limit: page + 1,
            },
        )
        .await?;
    let more = rows.len() > page;
    rows.truncate(page);
    let next = more.then(|| {
        let rest = ctx.q.to_query_string(&["$skip"]);
        let sep = if rest.is_empty() { "" } else { "&" };
        format!(
            "{}{}?{rest}{sep}$skip={}",
            ctx.origin,
            ctx.raw_path,
            skip.saturating_add(page as u64)
        )
    });
    let ty = cr(kind.type_name());
    let context = ctx.context(&format!("Collection({ty})"));
    let items: Vec<&str> = rows.iter().map(String::as_str).collect();
    let body = collection(
        ctx,
        &context,
        Some(items.len() as u64),
        &items,
        &ty,
        None,
        next,
    )?;
    Ok(ctx.json(body, applied))
}
