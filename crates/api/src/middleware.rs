//! The middleware stack: `request-id` on every response (echoing `client-request-id`), Graph's error body for
//! unknown paths and for panics, and response compression.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;

use crate::cache::ResponseCache;
use crate::error::{ApiError, REQUEST_IDS};

const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static(crate::error::CLIENT_REQUEST_ID);

/// Layers, innermost first: panic catcher, response cache (when given), access control (when given),
/// metrics and the request log, request ids, compression. The cache is inside the request-id layer so that
/// a cached answer still gets its own ids, and inside access control so that its key holds the caller's
/// tenant; the metrics are outside both, so that cached answers and refusals are counted.
pub(crate) fn apply(
    router: Router,
    cache: Option<ResponseCache>,
    auth: Option<std::sync::Arc<crate::auth::Auth>>,
    metrics: std::sync::Arc<crate::telemetry::Metrics>,
) -> Router {
    let router = router.layer(CatchPanicLayer::custom(
        |panic: Box<dyn std::any::Any + Send>| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ApiError::internal(format!("a handler panicked: {what}")).into_response()
        },
    ));
    let router = match cache {
        Some(c) => router.layer(middleware::from_fn_with_state(c, crate::cache::layer)),
        None => router,
    };
    let router = match auth {
        Some(a) => router.layer(middleware::from_fn_with_state(a, crate::auth::layer)),
        None => router,
    };
    router
        .layer(middleware::from_fn_with_state(
            metrics,
            crate::telemetry::observe,
        ))
        .layer(middleware::from_fn(request_ids))
        .layer(CompressionLayer::new())
}

async fn request_ids(req: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client = req
        .headers()
        .get(&CLIENT_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut resp = REQUEST_IDS
        .scope((request_id.clone(), client.clone()), async move {
            let resp = next.run(req).await;
            // axum's own 405 for a matched route has an empty body: give it Graph's error body.
            if resp.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED
                && !resp
                    .headers()
                    .contains_key(axum::http::header::CONTENT_TYPE)
            {
                let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
                let mut graph = ApiError::method_not_allowed().into_response();
                if let Some(a) = allow {
                    graph.headers_mut().insert(axum::http::header::ALLOW, a);
                }
                return graph;
            }
            resp
        })
        .await;
    crate::error::set_request_ids(resp.headers_mut(), &request_id, client.as_deref());
    resp
}

/// Any path no route answers: Graph's 404 body (405 for a write to a Graph path).
pub(crate) async fn fallback(method: Method, uri: axum::http::Uri) -> ApiError {
    let path = uri.path();
    let graph_path = path.starts_with("/v1.0/") || path.starts_with("/beta/");
    if graph_path && method != Method::GET && method != Method::HEAD {
        return ApiError::method_not_allowed();
    }
    ApiError::no_route(path)
}
