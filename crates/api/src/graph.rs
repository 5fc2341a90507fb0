//! Graph's call-records routes under `/v1.0` and `/beta`.
//!
//! Every request below `/{ver}/communications/` goes the same way: extract a `GraphRequest` (method,
//! version, origin, decoded path, query options, `Prefer`), parse its path once into a `GraphRoute`, and
//! dispatch on that to a handler. A handler checks the query options its resource supports, reads what its
//! page needs through `Reads` (the only place that calls the store), and splices stored JSON into the
//! response (`render`).
//!
//! | file | owns |
//! |---|---|
//! | `request.rs` | `GraphRequest` extractor, `Version`, origin, links, JSON responses |
//! | `route.rs` | `GraphRoute`: path → resource, key syntax, function segments |
//! | `options.rs` | supported query options, `$select`, `$expand` (record and segments) |
//! | `token.rs` | typed, opaque `$skiptoken`s |
//! | `reads.rs` | every store call, retention |
//! | `records.rs` | `callRecords`, `$count`, `callRecords/{id}` |
//! | `children.rs` | sessions, segments, participants, organizer, inline expansion |
//! | `functions.rs` | the log functions |
//! | `render.rs` | writing response JSON |
//! | `metadata.rs` | `$metadata` |
//!
//! Paging: the callRecords list uses a keyset `$skiptoken` over (startDateTime µs, id); sessions and
//! participants use the ordinal of the last item served (`token`). Functions page with `$skip`.

mod children;
mod functions;
mod metadata;
mod options;
mod reads;
mod records;
mod render;
mod request;
mod route;
mod token;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::{ApiError, AppState};
use children::Child;
use reads::Reads;
pub(crate) use request::{GraphRequest, Version, origin as origin_of};
use route::GraphRoute;

/// Largest page of the callRecords list.
pub const MAX_RECORDS_PAGE: usize = 60;
/// Largest page of sessions.
pub const MAX_SESSIONS_PAGE: usize = 60;
/// Largest page of participants.
pub const MAX_PARTICIPANTS_PAGE: usize = 130;
/// Rows per page of the log functions.
pub const MAX_LOG_PAGE: usize = 1000;

/// The Graph routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1.0/$metadata", any(metadata))
        .route("/beta/$metadata", any(metadata))
        .route("/v1.0/communications/{*rest}", any(communications))
        .route("/beta/communications/{*rest}", any(communications))
}

async fn metadata(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::method_not_allowed().into_response();
    }
    let ver = Version::of_path(uri.path()).unwrap_or(Version::V1);
    let mut resp = metadata::document(ver).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    resp
}

async fn communications(
    State(state): State<AppState>,
    scope: Option<axum::Extension<crate::RequestScope>>,
    req: GraphRequest,
) -> Response {
    let scope = scope.map(|s| s.0).unwrap_or_default();
    let reads = Reads::new(&state, scope);
    dispatch(&req, &reads)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn dispatch(req: &GraphRequest, reads: &Reads<'_>) -> Result<Response, ApiError> {
    use GraphRoute as R;
    match GraphRoute::parse(req)? {
        R::List => records::list(req, reads).await,
        R::Count => records::count(req, reads).await,
        R::Get { id } => records::get(req, reads, &id).await,
        R::Sessions { id } => children::list(req, reads, &id, Child::Sessions).await,
        R::SessionCount { id } => children::count(req, reads, &id, Child::Sessions).await,
        R::Session { id, sid } => children::session(req, reads, &id, &sid).await,
        R::Segments { id, sid } => children::segments(req, reads, &id, &sid).await,
        R::SegmentCount { id, sid } => children::segment_count(req, reads, &id, &sid).await,
        R::Segment { id, sid, seg } => children::segment(req, reads, &id, &sid, &seg).await,
        R::Participants { id } => children::list(req, reads, &id, Child::Participants).await,
        R::ParticipantCount { id } => children::count(req, reads, &id, Child::Participants).await,
        R::Participant { id, pid } => children::participant(req, reads, &id, &pid).await,
        R::Organizer { id } => children::organizer(req, reads, &id).await,
        R::Function { kind, call } => functions::call(req, reads, kind, &call).await,
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
