//! Graph's call-records routes under `/v1.0` and `/beta`.
//!
//! One dispatcher per version parses the path below `/communications/` itself (so that key syntax
//! `callRecords('id')`, function segments and `$count` all work, percent-encoded or not) and hands off to one
//! handler per resource. Every handler does: check the query options it supports → the store calls its page
//! needs → splice stored JSON into the response ([`render`]).
//!
//! Paging: the callRecords list uses a keyset `$skiptoken` over (startDateTime µs, id); sessions and
//! participants use the ordinal of the last item served. Tokens are lower-case hex of a small JSON array
//! (`["r",start_us,"id",served]`, `["s",ordinal,served]`, `["p",ordinal,served]`), where `served` counts the
//! items already returned so `$top` caps the total across pages. Functions page with `$skip`.

mod functions;
mod metadata;
mod render;

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use callrecords_model::schema::{cr, find_property};
use callrecords_odata::{
    ExpandItem, ODataError, Prefer, QueryOptions, SYSTEM_OPTIONS, lower_list_filter,
    parse_function_segment, parse_key_segment, parse_prefer, parse_query,
};
use callrecords_store::{Bound, RecordHead, RecordQuery};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde_json::Value;

use crate::{ApiError, AppState};
use render::{Shape, push_key, push_str, push_str_member};

/// Largest page of the callRecords list and of sessions.
pub const MAX_RECORDS_PAGE: usize = 60;
/// Largest page of sessions.
pub const MAX_SESSIONS_PAGE: usize = 60;
/// Largest page of participants.
pub const MAX_PARTICIPANTS_PAGE: usize = 130;
/// Rows per page of the log functions.
pub const MAX_LOG_PAGE: usize = 1000;
/// Graph's retention of call records.
const RETENTION_US: i64 = 30 * 24 * 3600 * 1_000_000;

const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// Characters encoded in a path segment of a generated link.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|');

/// The Graph routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/$metadata", any(metadata_v1))
        .route("/beta/$metadata", any(metadata_beta))
        .route("/v1.0/communications/{*rest}", any(dispatch_v1))
        .route("/beta/communications/{*rest}", any(dispatch_beta))
}

/// API version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    Beta,
}

impl Version {
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        }
    }
    pub(crate) fn beta(self) -> bool {
        self == Version::Beta
    }
}

async fn metadata_v1(method: Method) -> Response {
    metadata_response(method, Version::V1)
}

async fn metadata_beta(method: Method) -> Response {
    metadata_response(method, Version::Beta)
}

fn metadata_response(method: Method, ver: Version) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::method_not_allowed().into_response();
    }
    let mut resp = metadata::document(ver).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

async fn dispatch_v1(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    dispatch(state, method, uri, headers, Version::V1)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn dispatch_beta(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    dispatch(state, method, uri, headers, Version::Beta)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Everything a handler needs about the request.
pub(crate) struct Ctx {
    pub state: AppState,
    pub ver: Version,
    /// `scheme://host[:port]` as the client used it.
    pub origin: String,
    /// The request path as received (still percent-encoded).
    pub raw_path: String,
    pub q: QueryOptions,
    pub prefer: Prefer,
    pub shape: Shape,
    /// Retention cut-off (µs) when Graph's 30-day retention applies.
    pub cutoff: Option<i64>,
}

impl Ctx {
    /// `{origin}/{ver}/$metadata#{rest}`.
    pub(crate) fn context(&self, rest: &str) -> String {
        format!("{}/{}/$metadata#{rest}", self.origin, self.ver.segment())
    }
    /// `{origin}/{ver}/communications/callRecords/{id}` (id encoded).
    fn record_url(&self, id: &str) -> String {
        format!(
            "{}/{}/communications/callRecords/{}",
            self.origin,
            self.ver.segment(),
            utf8_percent_encode(id, SEGMENT)
        )
    }
    /// The page size to use for a collection whose maximum is `max`, and whether the client's
    /// `odata.maxpagesize` was applied.
    pub(crate) fn page_size(&self, max: usize) -> (usize, Option<u32>) {
        match self.prefer.max_page_size {
            Some(n) if (n as usize) <= max => (n as usize, Some(n)),
            _ => (max, None),
        }
    }
    /// A JSON response with `Preference-Applied` when something was applied.
    pub(crate) fn json(&self, body: String, page_applied: Option<u32>) -> Response {
        let mut resp = (StatusCode::OK, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(v) = self.prefer_applied(page_applied)
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            h.insert(PREFERENCE_APPLIED, v);
        }
        resp
    }
    fn prefer_applied(&self, page_applied: Option<u32>) -> Option<String> {
        self.prefer.applied_header(page_applied)
    }
}

/// `'` doubled, for a key inside a context URL.
fn key_literal(id: &str) -> String {
    id.replace('\'', "''")
}

fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// `scheme://host` as the client addressed us (honours `X-Forwarded-Proto` / `X-Forwarded-Host`).
fn origin(headers: &HeaderMap, uri: &Uri) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = first("x-forwarded-proto")
        .map(str::to_ascii_lowercase)
        .filter(|s| s == "http" || s == "https")
        .or_else(|| uri.scheme_str().map(str::to_owned))
        .unwrap_or_else(|| "http".to_owned());
    let valid_host = |h: &&str| {
        h.len() <= 255
            && h.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
            })
    };
    let host = first("x-forwarded-host")
        .filter(valid_host)
        .or_else(|| first("host").filter(valid_host))
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
        .filter(|h| valid_host(&h.as_str()))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{scheme}://{host}")
}

async fn dispatch(
    state: AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ver: Version,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed());
    }
    let raw_path = uri.path().to_owned();
    let prefix = format!("/{}/communications/", ver.segment());
    let rest = raw_path.strip_prefix(&prefix).unwrap_or_default();
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut segs: Vec<String> = Vec::new();
    for raw in rest.split('/') {
        let seg = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ApiError::no_route(&raw_path))?
            .into_owned();
        if seg.is_empty() {
            return Err(ApiError::no_route(&raw_path));
        }
        // Key syntax `callRecords('id')`, `sessions('id')` (function calls never parse as keys).
        if let Some((name, key)) = parse_key_segment(&seg) {
            segs.push(name);
            segs.push(key);
        } else {
            segs.push(seg);
        }
    }
    let q = parse_query(uri.query())?;
    if let Some(f) = &q.format {
        let f = f.to_ascii_lowercase();
        if f != "json" && !f.starts_with("application/json") {
            return Err(ODataError::bad_request(format!(
                "$format: '{f}' is not supported; only json is"
            ))
            .into());
        }
    }
    let prefer = parse_prefer(
        headers
            .get_all(HeaderName::from_static("prefer"))
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let ctx = Ctx {
        cutoff: state
            .config
            .graph_retention
            .then(|| now_us() - RETENTION_US),
        state,
        ver,
        origin: origin(&headers, &uri),
        raw_path: raw_path.clone(),
        shape: Shape {
            include_unknown: prefer.include_unknown_enum_members,
            omit_nulls: prefer.omit_nulls,
        },
        q,
        prefer,
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let no_route = || ApiError::no_route(&raw_path);
    if segs.first() != Some(&"callRecords") {
        return Err(no_route());
    }
    match segs[1..] {
        [] => list_records(&ctx).await,
        ["$count"] => count_records(&ctx).await,
        [seg] if seg.contains('(') => match parse_function_segment(seg)? {
            Some(call) => functions::call(&ctx, call).await,
            None => get_record(&ctx, seg).await,
        },
        [id] => get_record(&ctx, id).await,
        [id, ref rest @ ..] => record_child(&ctx, id, rest).await,
    }
}

async fn record_child(ctx: &Ctx, id: &str, rest: &[&str]) -> Result<Response, ApiError> {
    match rest {
        ["sessions"] => list_sessions(ctx, id).await,
        ["sessions", "$count"] => {
            let head = load_record(ctx, id).await?;
            only_options(&ctx.q, &[])?;
            Ok(count_text(head.session_count))
        }
        ["sessions", sid] => get_session(ctx, id, sid).await,
        ["sessions", sid, "segments"] => list_segments(ctx, id, sid, None).await,
        ["sessions", sid, "segments", "$count"] => list_segments(ctx, id, sid, Some(None)).await,
        ["sessions", sid, "segments", seg] => list_segments(ctx, id, sid, Some(Some(seg))).await,
        ["participants_v2"] => list_participants(ctx, id).await,
        ["participants_v2", "$count"] => {
            let head = load_record(ctx, id).await?;
            only_options(&ctx.q, &[])?;
            Ok(count_text(head.participant_count))
        }
        ["participants_v2", pid] => get_participant(ctx, id, pid).await,
        ["organizer_v2"] => get_organizer(ctx, id).await,
        _ => Err(ApiError::no_route(&ctx.raw_path)),
    }
}

fn count_text(n: u64) -> Response {
    let mut resp = (StatusCode::OK, n.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// Rejects system query options other than `allowed` (and `$format`, checked by the dispatcher).
pub(crate) fn only_options(q: &QueryOptions, allowed: &[&str]) -> Result<(), ApiError> {
    for o in q.raw_pairs() {
        let name = o.name.as_str();
        if SYSTEM_OPTIONS.contains(&name) && name != "$format" && !allowed.contains(&name) {
            return Err(ODataError::not_supported(format!(
                "the query option '{name}' is not supported on this resource{}",
                if allowed.is_empty() {
                    String::new()
                } else {
                    format!("; supported are {}", allowed.join(", "))
                }
            ))
            .into());
        }
    }
    Ok(())
}

/// Checks a `$select` list against the properties of `ty`; `None` when everything is selected.
pub(crate) fn check_select(
    sel: Option<&Vec<String>>,
    ty: &str,
    ver: Version,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(sel) = sel else { return Ok(None) };
    if sel.iter().any(|s| s == "*") {
        return Ok(None);
    }
    for s in sel {
        let known = find_property(ty, s).is_some_and(|p| !p.beta_only || ver.beta());
        if !known {
            return Err(ODataError::bad_request(format!(
                "$select: could not find a property named '{s}' on type '{ty}'"
            ))
            .into());
        }
    }
    Ok(Some(sel.clone()))
}

/// `(a,b)` for a context URL when `$select` narrowed the properties.
fn select_suffix(sel: Option<&[String]>, extra: Option<String>) -> String {
    let mut parts: Vec<String> = sel.map(|s| s.to_vec()).unwrap_or_default();
    parts.extend(extra);
    if parts.is_empty() {
        String::new()
    } else {
        format!("({})", parts.join(","))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Paging tokens

fn encode_token(v: &Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len() * 2);
    for b in text.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn decode_token(token: &str, kind: &str) -> Result<Vec<Value>, ApiError> {
    let bad = || -> ApiError {
        ODataError::bad_request(format!(
            "$skiptoken: '{}' is not a token issued for this collection",
            token.chars().take(60).collect::<String>()
        ))
        .into()
    };
    if !token.len().is_multiple_of(2) || token.len() > 4096 {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    let bytes = bytes.ok_or_else(bad)?;
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(bad());
    };
    if items.first().and_then(Value::as_str) != Some(kind) {
        return Err(bad());
    }
    Ok(items)
}

/// An ordinal cursor (`["s"|"p", ordinal, served]`).
fn ordinal_token(q: &QueryOptions, kind: &str) -> Result<(Option<u64>, u64), ApiError> {
    let Some(t) = &q.skiptoken else {
        return Ok((None, 0));
    };
    let items = decode_token(t, kind)?;
    match (
        items.get(1).and_then(Value::as_u64),
        items.get(2).and_then(Value::as_u64),
    ) {
        (Some(o), Some(n)) if items.len() == 3 => Ok((Some(o), n)),
        _ => Err(ApiError::bad_request(
            "BadRequest",
            "$skiptoken: malformed token",
        )),
    }
}

/// How many items this page may hold, given `$top` and the items already served.
fn page_limit(top: Option<u64>, served: u64, page: usize) -> usize {
    match top {
        Some(t) => (t.saturating_sub(served)).min(page as u64) as usize,
        None => page,
    }
}

/// Whether items remain under `$top` after this page.
fn below_top(top: Option<u64>, served: u64, limit: usize) -> bool {
    top.is_none_or(|t| served + (limit as u64) < t)
}

/// `{origin}{path}?{options but $skiptoken}&$skiptoken={token}`.
fn next_link(ctx: &Ctx, path: &str, token: &str) -> String {
    let rest = ctx.q.to_query_string(&["$skiptoken"]);
    let sep = if rest.is_empty() { "" } else { "&" };
    format!("{}{path}?{rest}{sep}$skiptoken={token}", ctx.origin)
}

// ---------------------------------------------------------------------------------------------------------
// callRecords

fn record_query_from_filter(ctx: &Ctx) -> Result<RecordQuery, ApiError> {
    let mut rq = RecordQuery {
        end_after_us: ctx.cutoff,
        ..RecordQuery::default()
    };
    if let Some(f) = &ctx.q.filter {
        let lf = lower_list_filter(f)?;
        rq.start_lower = lf.start_lower.map(|b| Bound {
            micros: b.micros,
            inclusive: b.inclusive,
        });
        rq.start_upper = lf.start_upper.map(|b| Bound {
            micros: b.micros,
            inclusive: b.inclusive,
        });
        rq.participant_ids = lf.participant_ids;
    }
    Ok(rq)
}

async fn count_records(ctx: &Ctx) -> Result<Response, ApiError> {
    only_options(&ctx.q, &["$filter"])?;
    let rq = record_query_from_filter(ctx)?;
    Ok(count_text(ctx.state.store.count_records(&rq).await?))
}

async fn list_records(ctx: &Ctx) -> Result<Response, ApiError> {
    only_options(
        &ctx.q,
        &["$select", "$filter", "$top", "$skiptoken", "$count"],
    )?;
    let ty = cr("callRecord");
    let select = check_select(ctx.q.select.as_ref(), &ty, ctx.ver)?;
    let mut rq = record_query_from_filter(ctx)?;
    let mut served = 0u64;
    if let Some(t) = &ctx.q.skiptoken {
        let items = decode_token(t, "r")?;
        match (
            items.get(1).and_then(Value::as_i64),
            items.get(2).and_then(Value::as_str),
            items.get(3).and_then(Value::as_u64),
        ) {
            (Some(s), Some(id), Some(n)) if items.len() == 4 => {
                rq.after = Some((s, id.to_owned()));
                served = n;
            }
            _ => {
                return Err(ApiError::bad_request(
                    "BadRequest",
                    "$skiptoken: malformed token",
                ));
            }
        }
    }
    let (page, applied) = ctx.page_size(MAX_RECORDS_PAGE);
    let limit = page_limit(ctx.q.top, served, page);
    let count = if ctx.q.count == Some(true) {
        Some(ctx.state.store.count_records(&rq).await?)
    } else {
        None
    };
    let mut heads = if limit == 0 {
        Vec::new()
    } else {
        rq.limit = limit + 1;
        ctx.state.store.list_records(&rq).await?
    };
    let more = heads.len() > limit && below_top(ctx.q.top, served, limit);
    heads.truncate(limit);

    let mut out =
        String::with_capacity(heads.iter().map(|h| h.json.len() + 256).sum::<usize>() + 256);
    out.push('{');
    let mut first = true;
    let ctx_url = ctx.context(&format!(
        "communications/callRecords{}",
        select_suffix(select.as_deref(), None)
    ));
    push_str_member(&mut out, &mut first, "@odata.context", &ctx_url);
    if let Some(c) = count {
        push_key(&mut out, &mut first, "@odata.count");
        out.push_str(&c.to_string());
    }
    push_key(&mut out, &mut first, "value");
    out.push('[');
    for (i, h) in heads.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_record(ctx, &mut out, h, select.as_deref(), None, |_| Ok(()))?;
    }
    out.push(']');
    if more && let Some(last) = heads.last() {
        let token = encode_token(&serde_json::json!([
            "r",
            last.start_us.unwrap_or(i64::MIN),
            last.id,
            served + limit as u64
        ]));
        let link = next_link(ctx, &ctx.raw_path, &token);
        push_str_member(&mut out, &mut first, "@odata.nextLink", &link);
    }
    out.push('}');
    Ok(ctx.json(out, applied))
}

/// Writes one callRecord object. `context` is the object's own `@odata.context` (get only; list items have
/// none, and no `participants_v2@odata.context`). `tail` appends expanded navigations.
fn write_record(
    ctx: &Ctx,
    out: &mut String,
    head: &RecordHead,
    select: Option<&[String]>,
    context: Option<&str>,
    tail: impl FnOnce(&mut String) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let ty = cr("callRecord");
    let fields = render::fields(&head.json, &ty, ctx.shape, select)?;
    let key = key_literal(&head.id);
    out.push('{');
    let mut first = true;
    if let Some(c) = context {
        push_str_member(out, &mut first, "@odata.context", c);
    }
    for (k, v) in &fields {
        if k == "organizer_v2" {
            let c = ctx.context(&format!(
                "communications/callRecords('{key}')/organizer_v2/$entity"
            ));
            push_str_member(out, &mut first, "organizer_v2@odata.context", &c);
        }
        push_key(out, &mut first, k);
        out.push_str(v);
    }
    if context.is_some() && render::selected(select, "participants_v2") {
        let c = ctx.context(&format!(
            "communications/callRecords('{key}')/participants_v2/$entity"
        ));
        push_str_member(out, &mut first, "participants_v2@odata.context", &c);
    }
    // `tail` writes members that each start with a comma (get always has a context first).
    tail(out)?;
    out.push('}');
    Ok(())
}

async fn load_record(ctx: &Ctx, id: &str) -> Result<RecordHead, ApiError> {
    let not_found = || {
        ApiError::not_found(format!(
            "The call record '{id}' does not exist or is no longer available."
        ))
    };
    let head = ctx
        .state
        .store
        .get_record(id)
        .await?
        .ok_or_else(not_found)?;
    if let Some(cut) = ctx.cutoff
        && head.end_us.or(head.start_us).is_none_or(|t| t < cut)
    {
        return Err(not_found());
    }
    Ok(head)
}

/// What `$expand` asked of a callRecord.
enum Expand {
    None,
    Sessions {
        segments: bool,
        select: Option<Vec<String>>,
    },
    Participants {
        select: Option<Vec<String>>,
    },
}

fn nested_unsupported(item: &ExpandItem, allow_expand: bool) -> Result<(), ApiError> {
    let o = &item.options;
    let which = if o.filter.is_some() {
        Some("$filter")
    } else if o.top.is_some() {
        Some("$top")
    } else if o.skip.is_some() {
        Some("$skip")
    } else if o.count.is_some() {
        Some("$count")
    } else if o.orderby.is_some() {
        Some("$orderby")
    } else if o.expand.is_some() && !allow_expand {
        Some("$expand")
    } else {
        None
    };
    match which {
        Some(w) => Err(ODataError::not_supported(format!(
            "$expand: the nested option '{w}' is not supported on '{}'",
            item.path
        ))
        .into()),
        None => Ok(()),
    }
}

fn parse_record_expand(ctx: &Ctx) -> Result<Expand, ApiError> {
    let Some(items) = &ctx.q.expand else {
        return Ok(Expand::None);
    };
    let items: Vec<&ExpandItem> = items.iter().filter(|i| i.path != "organizer_v2").collect();
    if items.len() > 1 {
        return Err(ODataError::not_supported(
            "$expand: only one of 'sessions' and 'participants_v2' can be expanded at a time",
        )
        .into());
    }
    let Some(item) = items.first() else {
        return Ok(Expand::None);
    };
    match item.path.as_str() {
        "sessions" => {
            nested_unsupported(item, true)?;
            let mut segments = false;
            if let Some(inner) = &item.options.expand {
                for i in inner {
                    if i.path != "segments" {
                        return Err(ODataError::bad_request(format!(
                            "$expand: '{}' is not a navigation property of 'microsoft.graph.callRecords.session'",
                            i.path
                        ))
                        .into());
                    }
                    nested_unsupported(i, false)?;
                    if i.options.select.is_some() {
                        return Err(ODataError::not_supported(
                            "$expand: $select inside 'segments' is not supported",
                        )
                        .into());
                    }
                    segments = true;
                }
            }
            let select = check_select(item.options.select.as_ref(), &cr("session"), ctx.ver)?;
            Ok(Expand::Sessions { segments, select })
        }
        "participants_v2" => {
            nested_unsupported(item, false)?;
            let select =
                check_select(item.options.select.as_ref(), &cr("participant"), ctx.ver)?;
            Ok(Expand::Participants { select })
        }
        other => Err(ODataError::bad_request(format!(
            "$expand: '{other}' is not an expandable navigation property of 'microsoft.graph.callRecords.callRecord'; use 'sessions', 'sessions($expand=segments)' or 'participants_v2'"
        ))
        .into()),
    }
}

async fn get_record(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    only_options(&ctx.q, &["$select", "$expand"])?;
    let ty = cr("callRecord");
    let select = check_select(ctx.q.select.as_ref(), &ty, ctx.ver)?;
    let expand = parse_record_expand(ctx)?;
    let head = load_record(ctx, id).await?;
    let (expand_ctx, mut applied) = (
        match &expand {
            Expand::None => None,
            Expand::Sessions { segments, select } => Some(format!(
                "sessions{}",
                if select.is_none() && !segments {
                    "()".to_owned()
                } else {
                    select_suffix(select.as_deref(), segments.then(|| "segments()".to_owned()))
                }
            )),
            Expand::Participants { select } => Some(format!(
                "participants_v2{}",
                if select.is_none() {
                    "()".to_owned()
                } else {
                    select_suffix(select.as_deref(), None)
                }
            )),
        },
        None,
    );
    let context = ctx.context(&format!(
        "communications/callRecords{}/$entity",
        select_suffix(select.as_deref(), expand_ctx)
    ));
    let mut out = String::with_capacity(head.json.len() + 1024);
    match &expand {
        Expand::None => {
            write_record(
                ctx,
                &mut out,
                &head,
                select.as_deref(),
                Some(&context),
                |_| Ok(()),
            )?;
        }
        Expand::Sessions {
            segments,
            select: nested,
        } => {
            let (page, a) = ctx.page_size(MAX_SESSIONS_PAGE);
            applied = a;
            let mut rows = ctx
                .state
                .store
                .page_sessions(&head.id, None, page + 1, *segments)
                .await?;
            let more = rows.len() > page;
            rows.truncate(page);
            let mut items = String::new();
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    items.push(',');
                }
                write_plain(ctx, &mut items, &r.json, &cr("session"), nested.as_deref())?;
            }
            let link = (more && !rows.is_empty()).then(|| {
                let last = rows.last().map_or(0, |r| r.ordinal);
                let token = encode_token(&serde_json::json!(["s", last, page]));
                let mut opts = Vec::new();
                if *segments {
                    opts.push("$expand=segments".to_owned());
                }
                if let Some(s) = nested {
                    opts.push(format!("$select={}", s.join(",")));
                }
                opts.push(format!("$skiptoken={token}"));
                format!("{}/sessions?{}", ctx.record_url(&head.id), opts.join("&"))
            });
            write_record(
                ctx,
                &mut out,
                &head,
                select.as_deref(),
                Some(&context),
                |o| {
                    o.push_str(",\"sessions\":[");
                    o.push_str(&items);
                    o.push(']');
                    if let Some(l) = &link {
                        o.push_str(",\"sessions@odata.nextLink\":");
                        push_str(o, l);
                    }
                    Ok(())
                },
            )?;
        }
        Expand::Participants { select: nested } => {
            let (page, a) = ctx.page_size(MAX_PARTICIPANTS_PAGE);
            applied = a;
            let mut rows = ctx
                .state
                .store
                .page_participants(&head.id, None, page + 1)
                .await?;
            let more = rows.len() > page;
            rows.truncate(page);
            let mut items = String::new();
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    items.push(',');
                }
                write_plain(
                    ctx,
                    &mut items,
                    &r.json,
                    &cr("participant"),
                    nested.as_deref(),
                )?;
            }
            let link = (more && !rows.is_empty()).then(|| {
                let last = rows.last().map_or(0, |r| r.ordinal);
                let token = encode_token(&serde_json::json!(["p", last, page]));
                let mut opts = Vec::new();
                if let Some(s) = nested {
                    opts.push(format!("$select={}", s.join(",")));
                }
                opts.push(format!("$skiptoken={token}"));
                format!(
                    "{}/participants_v2?{}",
                    ctx.record_url(&head.id),
                    opts.join("&")
                )
            });
            write_record(
                ctx,
                &mut out,
                &head,
                select.as_deref(),
                Some(&context),
                |o| {
                    if let Some(l) = &link {
                        o.push_str(",\"participants_v2@odata.nextLink\":");
                        push_str(o, l);
                    }
                    o.push_str(",\"participants_v2\":[");
                    o.push_str(&items);
                    o.push(']');
                    Ok(())
                },
            )?;
        }
    }
    Ok(ctx.json(out, applied))
}

/// Writes a stored object as is (after the shape transformations and `$select`), optionally preceded by an
/// `@odata.context`.
fn write_object(
    ctx: &Ctx,
    out: &mut String,
    raw: &str,
    ty: &str,
    select: Option<&[String]>,
    context: Option<&str>,
) -> Result<(), ApiError> {
    if context.is_none() && select.is_none() {
        out.push_str(&render::value_text(raw, ty, ctx.shape)?);
        return Ok(());
    }
    let fields = render::fields(raw, ty, ctx.shape, select)?;
    out.push('{');
    let mut first = true;
    if let Some(c) = context {
        push_str_member(out, &mut first, "@odata.context", c);
    }
    for (k, v) in &fields {
        push_key(out, &mut first, k);
        out.push_str(v);
    }
    out.push('}');
    Ok(())
}

fn write_plain(
    ctx: &Ctx,
    out: &mut String,
    raw: &str,
    ty: &str,
    select: Option<&[String]>,
) -> Result<(), ApiError> {
    write_object(ctx, out, raw, ty, select, None)
}

// ---------------------------------------------------------------------------------------------------------
// sessions, segments, participants, organizer

fn sessions_expand_segments(ctx: &Ctx) -> Result<bool, ApiError> {
    let Some(items) = &ctx.q.expand else {
        return Ok(false);
    };
    for i in items {
        if i.path != "segments" {
            return Err(ODataError::bad_request(format!(
                "$expand: '{}' is not a navigation property of 'microsoft.graph.callRecords.session'",
                i.path
            ))
            .into());
        }
        nested_unsupported(i, false)?;
        if i.options.select.is_some() {
            return Err(ODataError::not_supported(
                "$expand: $select inside 'segments' is not supported",
            )
            .into());
        }
    }
    Ok(!items.is_empty())
}

async fn list_sessions(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    only_options(
        &ctx.q,
        &["$select", "$expand", "$top", "$skiptoken", "$count"],
    )?;
    list_children(ctx, id, Child::Sessions).await
}

async fn list_participants(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    only_options(&ctx.q, &["$select", "$top", "$skiptoken", "$count"])?;
    list_children(ctx, id, Child::Participants).await
}

/// A contained collection of a record that the store pages by ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Sessions,
    Participants,
}

impl Child {
    fn navigation(self) -> &'static str {
        match self {
            Child::Sessions => "sessions",
            Child::Participants => "participants_v2",
        }
    }
    fn type_name(self) -> &'static str {
        match self {
            Child::Sessions => "session",
            Child::Participants => "participant",
        }
    }
    /// The tag of this collection's `$skiptoken`s.
    fn token_tag(self) -> &'static str {
        match self {
            Child::Sessions => "s",
            Child::Participants => "p",
        }
    }
    fn max_page(self) -> usize {
        match self {
            Child::Sessions => MAX_SESSIONS_PAGE,
            Child::Participants => MAX_PARTICIPANTS_PAGE,
        }
    }
    fn count(self, head: &RecordHead) -> u64 {
        match self {
            Child::Sessions => head.session_count,
            Child::Participants => head.participant_count,
        }
    }
}

/// `GET .../sessions` and `GET .../participants_v2`: one page, read by ordinal, with its nextLink.
async fn list_children(ctx: &Ctx, id: &str, child: Child) -> Result<Response, ApiError> {
    let ty = cr(child.type_name());
    let select = check_select(ctx.q.select.as_ref(), &ty, ctx.ver)?;
    let segments = child == Child::Sessions && sessions_expand_segments(ctx)?;
    let (after, served) = ordinal_token(&ctx.q, child.token_tag())?;
    let head = load_record(ctx, id).await?;
    let (page, applied) = ctx.page_size(child.max_page());
    let limit = page_limit(ctx.q.top, served, page);
    let store = &ctx.state.store;
    let mut rows: Vec<(u64, String)> = match (limit, child) {
        (0, _) => Vec::new(),
        (_, Child::Sessions) => store
            .page_sessions(&head.id, after, limit + 1, segments)
            .await?
            .into_iter()
            .map(|r| (r.ordinal, r.json))
            .collect(),
        (_, Child::Participants) => store
            .page_participants(&head.id, after, limit + 1)
            .await?
            .into_iter()
            .map(|r| (r.ordinal, r.json))
            .collect(),
    };
    let more = rows.len() > limit && below_top(ctx.q.top, served, limit);
    rows.truncate(limit);
    let context = ctx.context(&format!(
        "communications/callRecords('{}')/{}{}",
        key_literal(&head.id),
        child.navigation(),
        select_suffix(select.as_deref(), None)
    ));
    let count = (ctx.q.count == Some(true)).then_some(child.count(&head));
    let link = (more && !rows.is_empty()).then(|| {
        let last = rows.last().map_or(0, |r| r.0);
        let token = encode_token(&serde_json::json!([
            child.token_tag(),
            last,
            served + limit as u64
        ]));
        next_link(ctx, &ctx.raw_path, &token)
    });
    let items: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let body = collection(ctx, &context, count, &items, &ty, select.as_deref(), link)?;
    Ok(ctx.json(body, applied))
}

/// `{"@odata.context", ["@odata.count"], "value": [...], ["@odata.nextLink"]}`.
pub(crate) fn collection(
    ctx: &Ctx,
    context: &str,
    count: Option<u64>,
    items: &[&str],
    ty: &str,
    select: Option<&[String]>,
    next: Option<String>,
) -> Result<String, ApiError> {
    let mut out = String::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 512);
    out.push('{');
    let mut first = true;
    push_str_member(&mut out, &mut first, "@odata.context", context);
    if let Some(c) = count {
        push_key(&mut out, &mut first, "@odata.count");
        out.push_str(&c.to_string());
    }
    push_key(&mut out, &mut first, "value");
    out.push('[');
    for (i, raw) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_plain(ctx, &mut out, raw, ty, select)?;
    }
    out.push(']');
    if let Some(l) = next {
        push_str_member(&mut out, &mut first, "@odata.nextLink", &l);
    }
    out.push('}');
    Ok(out)
}

async fn get_session(ctx: &Ctx, id: &str, sid: &str) -> Result<Response, ApiError> {
    only_options(&ctx.q, &["$select", "$expand"])?;
    let ty = cr("session");
    let select = check_select(ctx.q.select.as_ref(), &ty, ctx.ver)?;
    let segments = sessions_expand_segments(ctx)?;
    let head = load_record(ctx, id).await?;
    let row = ctx
        .state
        .store
        .get_session(&head.id, sid, segments)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The session '{sid}' was not found.")))?;
    let context = ctx.context(&format!(
        "communications/callRecords('{}')/sessions{}/$entity",
        key_literal(&head.id),
        select_suffix(select.as_deref(), segments.then(|| "segments()".to_owned()))
    ));
    let mut out = String::with_capacity(row.json.len() + 256);
    write_object(
        ctx,
        &mut out,
        &row.json,
        &ty,
        select.as_deref(),
        Some(&context),
    )?;
    Ok(ctx.json(out, None))
}

/// `sessions/{sid}/segments` (`which = None`), `/$count` (`Some(None)`) or `/{segId}` (`Some(Some(id))`).
async fn list_segments(
    ctx: &Ctx,
    id: &str,
    sid: &str,
    which: Option<Option<&str>>,
) -> Result<Response, ApiError> {
    match which {
        Some(None) => only_options(&ctx.q, &[])?,
        _ => only_options(&ctx.q, &["$select", "$count"])?,
    }
    let ty = cr("segment");
    let select = check_select(ctx.q.select.as_ref(), &ty, ctx.ver)?;
    let head = load_record(ctx, id).await?;
    let row = ctx
        .state
        .store
        .get_session(&head.id, sid, true)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The session '{sid}' was not found.")))?;
    let fields = render::shallow(&row.json)?;
    let items = match fields.iter().find(|(k, _)| k == "segments") {
        Some((_, v)) if v.get() != "null" => render::array_items(v.get())?,
        _ => Vec::new(),
    };
    let record_key = key_literal(&head.id);
    let session_key = key_literal(sid);
    match which {
        Some(None) => Ok(count_text(items.len() as u64)),
        None => {
            let context = ctx.context(&format!(
                "communications/callRecords('{record_key}')/sessions('{session_key}')/segments{}",
                select_suffix(select.as_deref(), None)
            ));
            let count = (ctx.q.count == Some(true)).then_some(items.len() as u64);
            let raw: Vec<&str> = items.iter().map(|v| v.get()).collect();
            let body = collection(ctx, &context, count, &raw, &ty, select.as_deref(), None)?;
            Ok(ctx.json(body, None))
        }
        Some(Some(seg_id)) => {
            if ctx.q.count.is_some() {
                only_options(&ctx.q, &["$select"])?;
            }
            let mut found = None;
            for item in &items {
                let f = render::shallow(item.get())?;
                let matches = f.iter().any(|(k, v)| {
                    k == "id" && serde_json::from_str::<String>(v.get()).is_ok_and(|s| s == seg_id)
                });
                if matches {
                    found = Some(item.get());
                    break;
                }
            }
            let raw = found.ok_or_else(|| {
                ApiError::not_found(format!("The segment '{seg_id}' was not found."))
            })?;
            let context = ctx.context(&format!(
                "communications/callRecords('{record_key}')/sessions('{session_key}')/segments{}/$entity",
                select_suffix(select.as_deref(), None)
            ));
            let mut out = String::with_capacity(raw.len() + 256);
            write_object(ctx, &mut out, raw, &ty, select.as_deref(), Some(&context))?;
            Ok(ctx.json(out, None))
        }
    }
}

async fn get_participant(ctx: &Ctx, id: &str, pid: &str) -> Result<Response, ApiError> {
    only_options(&ctx.q, &["$select"])?;
    let ty = cr("participant");
    let select = check_select(ctx.q.select.as_ref(), &ty, ctx.ver)?;
    let head = load_record(ctx, id).await?;
    let row = ctx
        .state
        .store
        .get_participant(&head.id, pid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The participant '{pid}' was not found.")))?;
    let context = ctx.context(&format!(
        "communications/callRecords('{}')/participants_v2{}/$entity",
        key_literal(&head.id),
        select_suffix(select.as_deref(), None)
    ));
    let mut out = String::with_capacity(row.json.len() + 256);
    write_object(
        ctx,
        &mut out,
        &row.json,
        &ty,
        select.as_deref(),
        Some(&context),
    )?;
    Ok(ctx.json(out, None))
}

async fn get_organizer(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    only_options(&ctx.q, &["$select"])?;
    let ty = cr("organizer");
    let select = check_select(ctx.q.select.as_ref(), &ty, ctx.ver)?;
    let head = load_record(ctx, id).await?;
    let fields = render::shallow(&head.json)?;
    let raw = fields
        .iter()
        .find(|(k, v)| k == "organizer_v2" && v.get().trim_start().starts_with('{'))
        .map(|(_, v)| v.get())
        .ok_or_else(|| {
            ApiError::not_found(format!("The call record '{id}' has no organizer_v2."))
        })?;
    let context = ctx.context(&format!(
        "communications/callRecords('{}')/organizer_v2{}/$entity",
        key_literal(&head.id),
        select_suffix(select.as_deref(), None)
    ));
    let mut out = String::with_capacity(raw.len() + 256);
    write_object(ctx, &mut out, raw, &ty, select.as_deref(), Some(&context))?;
    Ok(ctx.json(out, None))
}
