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

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callrecords_odata::ODataError;
use callrecords_store::StoreError;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Graph error code (`itemNotFound`, `BadRequest`, …).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }
    /// A 404 `itemNotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "itemNotFound",
            message: message.into(),
        }
    }
    /// A 404 for a path no route answers.
    pub fn no_route(path: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "BadRequest",
            message: format!(
                "Resource not found for the segment '{}'.",
                last_segment(path)
            ),
        }
    }
    /// A 405.
    pub fn method_not_allowed() -> Self {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "methodNotAllowed",
            message: "The HTTP method is not allowed on this resource; call-records resources are read-only.".into(),
        }
    }
    /// A 413.
    pub fn too_large(limit: usize) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "requestEntityTooLarge",
            message: format!("The request body exceeds the limit of {limit} bytes."),
        }
    }
    /// A 500 that does not leak internals beyond the message.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "generalException",
            message: message.into(),
        }
    }
    /// A 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "serviceNotAvailable",
            message: message.into(),
        }
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
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::InvalidInput(m) => ApiError::bad_request("BadRequest", m),
            StoreError::Busy(m) => ApiError::unavailable(m),
            StoreError::Incompatible(m) | StoreError::Backend(m) => {
                tracing::error!(error = %m, "store failure");
                ApiError::internal("The store failed to answer; see the server log.")
            }
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
        resp
    }
}

/// Graph's error body.
pub fn error_body(
    code: &str,
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
    serde_json::json!({"error": {"code": code, "message": message, "innerError": inner}})
        .to_string()
}
