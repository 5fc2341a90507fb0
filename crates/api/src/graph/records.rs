//! `callRecords`, `callRecords/$count` and `callRecords/{id}`.

use axum::response::Response;
use callrecords_model::schema::cr;
use callrecords_odata::lower_list_filter;
use callrecords_store::{Bound, ListCursor, RecordQuery, RecordRead};

use super::children;
use super::options::{RecordExpand, check_select, only_options, select_suffix};
use super::reads::Reads;
use super::token::{SkipToken, TokenKind};
use super::{GraphRequest, MAX_RECORDS_PAGE, below_top, page_limit, render};
use crate::ApiError;

/// The record query of `$filter` (within retention).
fn filter_query(req: &GraphRequest, reads: &Reads<'_>) -> Result<RecordQuery, ApiError> {
    let mut rq = reads.record_query();
    if let Some(f) = &req.q.filter {
        let lf = lower_list_filter(f)?;
        let bound = |b: callrecords_odata::Bound| Bound {
            micros: b.micros,
            inclusive: b.inclusive,
        };
        rq.start_lower = lf.start_lower.map(bound);
        rq.start_upper = lf.start_upper.map(bound);
        rq.participant_ids = lf.participant_ids;
    }
    Ok(rq)
}

/// `GET callRecords/$count`.
pub(super) async fn count(req: &GraphRequest, reads: &Reads<'_>) -> Result<Response, ApiError> {
    only_options(&req.q, &["$filter"])?;
    let rq = filter_query(req, reads)?;
    Ok(render::count(reads.count_records(&rq).await?))
}

/// `GET callRecords`: one keyset page ordered by (startDateTime, id).
pub(super) async fn list(req: &GraphRequest, reads: &Reads<'_>) -> Result<Response, ApiError> {
    only_options(
        &req.q,
        &["$select", "$filter", "$top", "$skiptoken", "$count"],
    )?;
    let select = check_select(req.q.select.as_ref(), &cr("callRecord"), req.ver)?;
    let mut rq = filter_query(req, reads)?;
    let mut served = 0;
    if let Some(t) = &req.q.skiptoken {
        let SkipToken::Records {
            start_us,
            id,
            tenant,
            served: n,
        } = SkipToken::decode(t, TokenKind::Records, &req.audience)?
        else {
            return Err(ApiError::bad_input("$skiptoken: malformed token"));
        };
        rq.after = Some(ListCursor {
            start_us,
            id,
            tenant,
        });
        served = n;
    }
    let (page, applied) = req.page_size(MAX_RECORDS_PAGE);
    let limit = page_limit(req.q.top, served, page);
    let with_count = req.q.count == Some(true);
    // One snapshot for the page and its count (a zero-size page still answers the count).
    rq.limit = if limit == 0 { 0 } else { limit + 1 };
    let page = reads.records(&rq, with_count).await?;
    let (count, mut heads) = (page.count, page.heads);
    let more = heads.len() > limit && below_top(req.q.top, served, limit);
    heads.truncate(limit);
    let next = heads.last().filter(|_| more).map(|last| {
        let cursor = ListCursor::of(last);
        let token = SkipToken::Records {
            start_us: cursor.start_us,
            id: cursor.id,
            tenant: cursor.tenant,
            served: served + limit as u64,
        };
        req.link_with("$skiptoken", &token.encode(&req.audience))
    });
    let context = req.context(&format!(
        "communications/callRecords{}",
        select_suffix(select.as_deref(), None)
    ));
    let size = heads.iter().map(|h| h.json.len() + 256).sum::<usize>();
    let body = render::collection_with(&context, count, &heads, next, size, |out, h| {
        render::record(req, out, h, select.as_deref(), None, "")
    })?;
    Ok(req.json(body, applied))
}

/// `GET callRecords/{id}`, with at most one of `sessions` and `participants_v2` expanded (first page
/// inline, the rest behind `{nav}@odata.nextLink`).
pub(super) async fn get(
    req: &GraphRequest,
    reads: &Reads<'_>,
    id: &str,
) -> Result<Response, ApiError> {
    only_options(&req.q, &["$select", "$expand"])?;
    let select = check_select(req.q.select.as_ref(), &cr("callRecord"), req.ver)?;
    let expand = RecordExpand::parse(req)?;
    // The head and the expanded first page come from one snapshot.
    let (page_size, applied) = match &expand {
        Some(e) => req.page_size(e.child.max_page()),
        None => (0, None),
    };
    let read = match &expand {
        Some(e) => e.child.read(None, page_size + 1, e.segments, None),
        None => RecordRead::default(),
    };
    let view = reads.record_with(id, &read).await?;
    let head = &view.head;
    let context = req.context(&format!(
        "communications/callRecords{}/$entity",
        select_suffix(
            select.as_deref(),
            expand.as_ref().map(RecordExpand::context_item)
        )
    ));
    let tail = match &expand {
        Some(e) => children::expanded(req, &view, e, page_size)?,
        None => String::new(),
    };
    let mut out = String::with_capacity(head.json.len() + tail.len() + 1024);
    render::record(
        req,
        &mut out,
        head,
        select.as_deref(),
        Some(&context),
        &tail,
    )?;
    Ok(req.json(out, applied))
}
