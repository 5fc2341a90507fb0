//! The API's one error type and its one mapping to HTTP: Graph's error body
//! `{"error":{"code","message","innerError":{"request-id","date"}}}` with the right status.
//!
//! Error policy (for every layer, not only this one):
//!
//! - One error type per layer: the OData parser has `ODataError`, the store has `StoreError`, this crate has
//!   [`ApiError`]. A layer returns its own type; the layer above converts it once, at
//!   the boundary.
//! - One mapping to HTTP: the `From` conversions into [`ApiError`] here decide status and Graph code, and
//!   [`ApiError`]'s `IntoResponse` is the only place an error becomes a response. Handlers use `?`; they do not
//!   build error responses by hand.
//! - Every error response carries Graph's error body,
//!   `{"error":{"code","message","innerError":{"request-id","date"}}}` (plus `client-request-id` when the
//!   client sent one), with `Content-Type: application/json`.
//! - A 500 never carries internal error text: no store, SQLite, I/O, panic or join-error message reaches the
//!   client. The cause is logged (`tracing::error!`) and the client gets a fixed message.

use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use callrecords_odata::ErrorCode;
use callrecords_odata::ODataError;
use callrecords_store::StoreError;

/// The message of every 500: what failed is logged, never sent.
pub const INTERNAL_MESSAGE: &str = "The server failed to answer this request; see the server log.";

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Graph error code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Seconds for a `Retry-After` header, when the client should come back (503 of a busy store).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    /// A 400 `BadRequest`.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    /// A 400 with the code spelled `code` (`BadRequest` when it names no [`ErrorCode`]). The older form of
    /// [`ApiError::bad_input`], kept for callers that still pass the code as text.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        let code = ErrorCode::from_code(code).unwrap_or(ErrorCode::BadRequest);
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// A 404 `itemNotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::ItemNotFound, message)
    }
    /// A 404 for a path no route answers (Graph's code for it is `BadRequest`).
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::BadRequest,
            format!(
                "Resource not found for the segment '{}'.",
                last_segment(path)
            ),
        )
    }
    /// A 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "The HTTP method is not allowed on this resource; call-records resources are read-only.",
        )
    }
    /// A 413.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestEntityTooLarge,
            format!("The request body exceeds the limit of {limit} bytes."),
        )
    }
    /// A 500 `generalException`. `detail` is logged (`tracing::error!`); the body carries only
    /// [`INTERNAL_MESSAGE`], so no internal text (store errors, paths, panics) reaches a client.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(detail = %detail, "answering 500");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::GeneralException,
            INTERNAL_MESSAGE,
        )
    }
    /// A 503 for a store that could not take the request now (lock timeout, pool exhausted): `detail` is
    /// logged, the client gets a fixed message and `Retry-After: 1`.
    pub fn busy(detail: impl fmt::Display) -> Self {
        tracing::warn!(detail = %detail, "answering 503: store busy");
        let mut e = Self::unavailable("The store is busy; retry the request shortly.");
        e.retry_after = Some(1);
        e
    }
    /// A 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ServiceNotAvailable,
            message,
        )
    }
}

fn last_segment(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

impl From<ODataError> for ApiError {
    fn from(e: ODataError) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: e.code,
            message: e.message,
            retry_after: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::InvalidInput(m) => ApiError::bad_input(m),
            StoreError::Busy(m) => ApiError::busy(m),
            e @ (StoreError::Incompatible(_) | StoreError::Backend(_)) => ApiError::internal(e),
        }
    }
}

tokio::task_local! {
    /// The ids of the request being answered (`request-id`, and the client's `client-request-id`), set by the
    /// request-id middleware so that error bodies repeat them.
    pub static REQUEST_IDS: (String, Option<String>);
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (request_id, client_request_id) = REQUEST_IDS
            .try_with(Clone::clone)
            .unwrap_or_else(|_| (uuid::Uuid::new_v4().to_string(), None));
        let body = error_body(
            self.code,
            &self.message,
            &request_id,
            client_request_id.as_deref(),
        );
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl ApiError {
    /// The answer for a request that is refused before it reaches the middleware stack (the listener's
    /// limits): a fresh `request-id` in the header and the body alike, the client's `client-request-id`
    /// echoed, as every other answer does.
    pub fn into_response_for(self, request: &axum::http::HeaderMap) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client = request
            .get(CLIENT_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut resp = REQUEST_IDS.sync_scope((request_id.clone(), client.clone()), || {
            self.into_response()
        });
        set_request_ids(resp.headers_mut(), &request_id, client.as_deref());
        resp
    }
}

/// The `client-request-id` header.
pub(crate) const CLIENT_REQUEST_ID: &str = "client-request-id";

/// `request-id` (and the echoed `client-request-id`) on a response.
pub(crate) fn set_request_ids(
    headers: &mut axum::http::HeaderMap,
    request_id: &str,
    client: Option<&str>,
) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("request-id", v);
    }
    if let Some(c) = client.and_then(|c| HeaderValue::from_str(c).ok()) {
        headers.insert(CLIENT_REQUEST_ID, c);
    }
}

/// Graph's error body.
pub fn error_body(
    code: ErrorCode,
    message: &str,
    request_id: &str,
    client_request_id: Option<&str>,
) -> String {
    let date = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let mut inner = serde_json::json!({"date": date, "request-id": request_id});
    if let Some(c) = client_request_id {
        inner["client-request-id"] = serde_json::Value::String(c.to_owned());
    }
    serde_json::json!({"error": {"code": code.as_str(), "message": message, "innerError": inner}})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(e: ApiError) -> (StatusCode, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_store_failure_answers_500_without_backend_text() {
        for e in [
            StoreError::Backend("disk I/O error at /var/lib/secret.db page 7".into()),
            StoreError::Incompatible("disk I/O error at /var/lib/secret.db page 7".into()),
        ] {
            let (status, body) = body_of(ApiError::from(e)).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body["error"]["code"], "generalException");
            assert_eq!(body["error"]["message"], INTERNAL_MESSAGE);
            let text = body.to_string();
            assert!(!text.contains("secret") && !text.contains("I/O"), "{text}");
        }
        let (status, body) = body_of(ApiError::internal("worker panicked: index 3")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("index 3"));
    }

    #[tokio::test]
    async fn a_busy_store_answers_503_with_retry_after_and_no_store_text() {
        let resp = ApiError::from(StoreError::Busy(
            "database is locked (sqlite code 5)".into(),
        ))
        .into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "serviceNotAvailable");
        assert!(!body.to_string().contains("sqlite"), "{body}");
    }

    #[tokio::test]
    async fn client_errors_keep_their_code_and_message() {
        let (status, body) = body_of(StoreError::InvalidInput("bad id".into()).into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "BadRequest");
        assert_eq!(body["error"]["message"], "bad id");
        let (_, body) = body_of(ApiError::bad_request("invalidRequest", "x")).await;
        assert_eq!(body["error"]["code"], "invalidRequest");
        let (status, body) = body_of(ApiError::no_route("/v1.0/nope/x")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "BadRequest");
        assert_eq!(
            body["error"]["message"],
            "Resource not found for the segment 'x'."
        );
    }
}
