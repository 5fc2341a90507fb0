//! What a call record contains: `sessions` (and their `segments`), `participants_v2` and `organizer_v2`,
//! and the first page of `sessions`/`participants_v2` expanded inline in a record.

use axum::response::Response;
use callrecords_model::schema::cr;
use callrecords_odata::QueryOptions;
use callrecords_store::{RecordHead, RecordRead, RecordView, SessionRow, Window};
use serde_json::value::RawValue;

use super::options::{RecordExpand, check_select, expand_segments, only_options, select_suffix};
use super::reads::Reads;
use super::render::{self, key_literal, push_str};
use super::token::{SkipToken, TokenKind};
use super::{GraphRequest, MAX_PARTICIPANTS_PAGE, MAX_SESSIONS_PAGE, below_top, page_limit};
use crate::ApiError;

/// A contained collection of a record that the store pages by ordinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Child {
    Sessions,
    Participants,
}

impl Child {
    pub(crate) fn navigation(self) -> &'static str {
        match self {
            Child::Sessions => "sessions",
            Child::Participants => "participants_v2",
        }
    }
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Child::Sessions => "session",
            Child::Participants => "participant",
        }
    }
    pub(crate) fn max_page(self) -> usize {
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
    /// The query options its list takes.
    fn options(self) -> &'static [&'static str] {
        match self {
            Child::Sessions => &["$select", "$expand", "$top", "$skiptoken", "$count"],
            Child::Participants => &["$select", "$top", "$skiptoken", "$count"],
        }
    }
    /// The token of the page after `ordinal` of `head` (pinned to its stored copy), `served` items having
    /// been served.
    fn token(self, ordinal: u64, served: u64, head: &RecordHead) -> SkipToken {
        let revision = head.revision;
        match self {
            Child::Sessions => SkipToken::Sessions {
                ordinal,
                served,
                revision,
            },
            Child::Participants => SkipToken::Participants {
                ordinal,
                served,
                revision,
            },
        }
    }
    /// What the store reads for a page of this collection: up to `limit` items after `after`, of the copy
    /// `pin` (the served one when `None`).
    pub(crate) fn read(
        self,
        after: Option<u64>,
        limit: usize,
        segments: bool,
        pin: Option<i64>,
    ) -> RecordRead {
        let window = Some(Window { after, limit });
        match self {
            Child::Sessions => RecordRead {
                sessions: window,
                with_segments: segments,
                participants: None,
                pin,
            },
            Child::Participants => RecordRead {
                participants: window,
                pin,
                ..RecordRead::default()
            },
        }
    }
    /// Where the page asked for starts: after which ordinal, how many items were served before it, and
    /// the stored copy the token was issued for.
    fn cursor(
        self,
        q: &QueryOptions,
        audience: &str,
    ) -> Result<(Option<u64>, u64, Option<i64>), ApiError> {
        let Some(t) = &q.skiptoken else {
            return Ok((None, 0, None));
        };
        let kind = match self {
            Child::Sessions => TokenKind::Sessions,
            Child::Participants => TokenKind::Participants,
        };
        match (self, SkipToken::decode(t, kind, audience)?) {
            (
                Child::Sessions,
                SkipToken::Sessions {
                    ordinal,
                    served,
                    revision,
                },
            )
            | (
                Child::Participants,
                SkipToken::Participants {
                    ordinal,
                    served,
                    revision,
                },
            ) => Ok((Some(ordinal), served, Some(revision))),
            _ => Err(ApiError::bad_input("$skiptoken: malformed token")),
        }
    }
}

/// The items of `child` in `view`, as (ordinal, stored JSON).
fn rows(view: &RecordView, child: Child) -> Vec<(u64, &str)> {
    match child {
        Child::Sessions => view
            .sessions
            .iter()
            .map(|r| (r.ordinal, r.json.as_str()))
            .collect(),
        Child::Participants => view
            .participants
            .iter()
            .map(|r| (r.ordinal, r.json.as_str()))
            .collect(),
    }
}

/// `GET .../sessions` and `GET .../participants_v2`: one page, read by ordinal, with its nextLink.
pub(super) async fn list(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
    child: Child,
) -> Result<Response, ApiError> {
    only_options(&req.q, child.options())?;
    let ty = cr(child.type_name());
    let select = check_select(req.q.select.as_ref(), &ty, req.ver)?;
    let segments = child == Child::Sessions && expand_segments(req.q.expand.as_ref())?;
    let (after, served, pin) = child.cursor(&req.q, &req.audience)?;
    let (page_size, applied) = req.page_size(child.max_page());
    let limit = page_limit(req.q.top, served, page_size);
    // One snapshot of one stored copy: the one the nextLink was issued for.
    let read = child.read(after, if limit == 0 { 0 } else { limit + 1 }, segments, pin);
    let view = reads.record_with(id, &read).await?;
    let head = &view.head;
    let mut rows = rows(&view, child);
    let more = rows.len() > limit && below_top(req.q.top, served, limit);
    rows.truncate(limit);
    let context = req.context(&format!(
        "communications/callRecords('{}')/{}{}",
        key_literal(&head.id),
        child.navigation(),
        select_suffix(select.as_deref(), None)
    ));
    let count = (req.q.count == Some(true)).then_some(child.count(head));
    let next = rows.last().filter(|_| more).map(|last| {
        let token = child.token(last.0, served + limit as u64, head);
        req.link_with("$skiptoken", &token.encode(&req.audience))
    });
    let items: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let body = render::collection(req, &context, count, &items, &ty, select.as_deref(), next)?;
    Ok(req.json(body, applied))
}

/// `GET .../sessions/$count` and `GET .../participants_v2/$count`.
pub(super) async fn count(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
    child: Child,
) -> Result<Response, ApiError> {
    let head = reads.record(id).await?;
    only_options(&req.q, &[])?;
    Ok(render::count(child.count(&head)))
}

/// The members a record gets for `$expand`: the first page of the collection (read with the head, up to
/// `page_size + 1` items) and, when there is more, a nextLink to `.../sessions` or `.../participants_v2`
/// with the nested options, pinned to the copy read.
pub(super) fn expanded(
    req: &GraphRequest,
    view: &RecordView,
    e: &RecordExpand,
    page_size: usize,
) -> Result<String, ApiError> {
    let child = e.child;
    let head = &view.head;
    let mut rows = rows(view, child);
    let more = rows.len() > page_size;
    rows.truncate(page_size);
    let ty = cr(child.type_name());
    let nav = child.navigation();
    // The items are written straight into the answer's buffer (they are nearly all of its bytes).
    let mut array = String::with_capacity(rows.iter().map(|r| r.1.len() + 1).sum::<usize>() + 32);
    array.push_str(",\"");
    array.push_str(nav);
    array.push_str("\":[");
    render::items(&mut array, &rows, |out, r| {
        render::object(req, out, r.1, &ty, e.select.as_deref(), None)
    })?;
    array.push(']');
    let link = rows.last().filter(|_| more).map(|last| {
        let token = child.token(last.0, page_size as u64, head);
        let mut opts = Vec::new();
        if e.segments {
            opts.push("$expand=segments".to_owned());
        }
        if let Some(s) = &e.select {
            opts.push(format!("$select={}", s.join(",")));
        }
        opts.push(format!("$skiptoken={}", token.encode(&req.audience)));
        let url = format!(
            "{}/{}?{}",
            req.record_url(&head.id),
            child.navigation(),
            opts.join("&")
        );
        let mut m = String::with_capacity(url.len() + nav.len() + 24);
        m.push_str(",\"");
        m.push_str(nav);
        m.push_str("@odata.nextLink\":");
        push_str(&mut m, &url);
        m
    });
    // Graph's order: sessions before their nextLink, participants_v2 after theirs.
    let tail = match (child, link) {
        (_, None) => array,
        (Child::Sessions, Some(link)) => {
            array.push_str(&link);
            array
        }
        (Child::Participants, Some(mut link)) => {
            link.push_str(&array);
            link
        }
    };
    Ok(tail)
}

/// `GET .../sessions/{sid}` (`$expand=segments` inlines its segments).
pub(super) async fn session(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
    sid: &str,
) -> Result<Response, ApiError> {
    only_options(&req.q, &["$select", "$expand"])?;
    let ty = cr("session");
    let select = check_select(req.q.select.as_ref(), &ty, req.ver)?;
    let segments = expand_segments(req.q.expand.as_ref())?;
    let head = reads.record(id).await?;
    let row = reads.session(&head, sid, segments).await?;
    let context = req.context(&format!(
        "communications/callRecords('{}')/sessions{}/$entity",
        key_literal(&head.id),
        select_suffix(select.as_deref(), segments.then(|| "segments()".to_owned()))
    ));
    let body = render::entity(req, &row.json, &ty, select.as_deref(), &context)?;
    Ok(req.json(body, None))
}

/// The record and its session `sid` with segments.
async fn session_with_segments(
    reads: &Reads<'_>,
    id: &str,
    sid: &str,
) -> Result<(RecordHead, SessionRow), ApiError> {
    let head = reads.record(id).await?;
    let row = reads.session(&head, sid, true).await?;
    Ok((head, row))
}

/// The stored segments of a session.
fn segment_items(row: &SessionRow) -> Result<Vec<&RawValue>, ApiError> {
    let fields = render::shallow(&row.json)?;
    match fields.into_iter().find(|(k, _)| k == "segments") {
        Some((_, v)) if v.get() != "null" => render::array_items(v.get()),
        _ => Ok(Vec::new()),
    }
}

/// `'record'` and `'session'` keys of a segments context URL.
fn segments_context(req: &GraphRequest, head: &RecordHead, sid: &str, rest: &str) -> String {
    req.context(&format!(
        "communications/callRecords('{}')/sessions('{}')/segments{rest}",
        key_literal(&head.id),
        key_literal(sid)
    ))
}

/// `GET .../sessions/{sid}/segments`.
pub(super) async fn segments(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
    sid: &str,
) -> Result<Response, ApiError> {
    only_options(&req.q, &["$select", "$count"])?;
    let ty = cr("segment");
    let select = check_select(req.q.select.as_ref(), &ty, req.ver)?;
    let (head, row) = session_with_segments(reads, id, sid).await?;
    let items = segment_items(&row)?;
    let context = segments_context(req, &head, sid, &select_suffix(select.as_deref(), None));
    let count = (req.q.count == Some(true)).then_some(items.len() as u64);
    let raw: Vec<&str> = items.iter().map(|v| v.get()).collect();
    let body = render::collection(req, &context, count, &raw, &ty, select.as_deref(), None)?;
    Ok(req.json(body, None))
}

/// `GET .../sessions/{sid}/segments/$count`.
pub(super) async fn segment_count(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
    sid: &str,
) -> Result<Response, ApiError> {
    only_options(&req.q, &[])?;
    let (_, row) = session_with_segments(reads, id, sid).await?;
    Ok(render::count(segment_items(&row)?.len() as u64))
}

/// `GET .../sessions/{sid}/segments/{seg}`.
pub(super) async fn segment(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
    sid: &str,
    seg: &str,
) -> Result<Response, ApiError> {
    only_options(&req.q, &["$select", "$count"])?;
    let ty = cr("segment");
    let select = check_select(req.q.select.as_ref(), &ty, req.ver)?;
    let (head, row) = session_with_segments(reads, id, sid).await?;
    let items = segment_items(&row)?;
    if req.q.count.is_some() {
        only_options(&req.q, &["$select"])?;
    }
    let mut found = None;
    for item in &items {
        let is_it = render::shallow(item.get())?.iter().any(|(k, v)| {
            k == "id" && serde_json::from_str::<String>(v.get()).is_ok_and(|s| s == seg)
        });
        if is_it {
            found = Some(item.get());
            break;
        }
    }
    let raw =
        found.ok_or_else(|| ApiError::not_found(format!("The segment '{seg}' was not found.")))?;
    let context = segments_context(
        req,
        &head,
        sid,
        &format!("{}/$entity", select_suffix(select.as_deref(), None)),
    );
    let body = render::entity(req, raw, &ty, select.as_deref(), &context)?;
    Ok(req.json(body, None))
}

/// `GET .../participants_v2/{pid}`.
pub(super) async fn participant(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
    pid: &str,
) -> Result<Response, ApiError> {
    only_options(&req.q, &["$select"])?;
    let ty = cr("participant");
    let select = check_select(req.q.select.as_ref(), &ty, req.ver)?;
    let head = reads.record(id).await?;
    let row = reads.participant(&head, pid).await?;
    let context = req.context(&format!(
        "communications/callRecords('{}')/participants_v2{}/$entity",
        key_literal(&head.id),
        select_suffix(select.as_deref(), None)
    ));
    let body = render::entity(req, &row.json, &ty, select.as_deref(), &context)?;
    Ok(req.json(body, None))
}

/// `GET .../organizer_v2`: the record's inline organizer.
pub(super) async fn organizer(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
) -> Result<Response, ApiError> {
    only_options(&req.q, &["$select"])?;
    let ty = cr("organizer");
    let select = check_select(req.q.select.as_ref(), &ty, req.ver)?;
    let head = reads.record(id).await?;
    let fields = render::shallow(&head.json)?;
    let raw = fields
        .iter()
        .find(|(k, v)| k == "organizer_v2" && v.get().trim_start().starts_with('{'))
        .map(|(_, v)| v.get())
        .ok_or_else(|| {
            ApiError::not_found(format!("The call record '{id}' has no organizer_v2."))
        })?;
    let context = req.context(&format!(
        "communications/callRecords('{}')/organizer_v2{}/$entity",
        key_literal(&head.id),
        select_suffix(select.as_deref(), None)
    ));
    let body = render::entity(req, raw, &ty, select.as_deref(), &context)?;
    Ok(req.json(body, None))
}
