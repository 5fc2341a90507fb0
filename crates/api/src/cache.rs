//! A cache of rendered Graph responses, invalidated by any change to the store.
//!
//! Successful (`200`) `GET` responses under `/v1.0/` and `/beta/` are kept, body and headers, keyed by
//! everything in the request that shapes them: the URI (path and raw query, authority when absolute),
//! and the headers the handlers read — `Prefer`, `Host`, `X-Forwarded-Proto`, `X-Forwarded-Host`. The
//! layer sits inside the request-id middleware (so every response, cached or not, gets its own
//! `request-id` / `client-request-id`) and inside compression (so `Accept-Encoding` need not be in the
//! key). Error responses carry the request id in their body and are never cached.
//!
//! Invalidation: before each lookup the store's [`data_generation`](callrecords_store::Store::data_generation)
//! is read; it changes after every commit, by this process or another one on the same data
//! (`callrecords import` beside `serve`). A newer generation empties the cache. An entry is only
//! stored under the generation read *before* its response was rendered, so a response rendered
//! while a write committed is dropped at the next request instead of outliving the write.
//!
//! Not used when Graph's retention applies (answers then depend on the clock). Bounded in bytes;
//! the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use callrecords_store::Store;

use crate::ApiError;

/// Total body bytes kept by default (`serve --response-cache-mb`).
pub const MAX_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Largest body kept.
pub const MAX_CACHED_BODY: usize = 4 * 1024 * 1024;

/// Request headers that change a Graph response body or headers (besides the URI).
const KEY_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("prefer"),
    header::HOST,
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
];

struct Entry {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Inner {
    /// The store generation the entries were rendered under.
    generation: Option<u64>,
    map: HashMap<Vec<u8>, Arc<Entry>>,
    /// Keys in insertion order, for eviction.
    order: VecDeque<Vec<u8>>,
    bytes: usize,
}

/// The cache and the store whose generation guards it.
#[derive(Clone)]
pub(crate) struct ResponseCache {
    inner: Arc<Mutex<Inner>>,
    store: Arc<dyn Store>,
    max_bytes: usize,
    max_body: usize,
}

impl ResponseCache {
    /// A cache keeping at most `max_bytes` of bodies (none larger than [`MAX_CACHED_BODY`]).
    pub(crate) fn new(store: Arc<dyn Store>, max_bytes: usize) -> Self {
        ResponseCache {
            inner: Arc::default(),
            store,
            max_bytes,
            max_body: MAX_CACHED_BODY.min(max_bytes),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry for `key` if it was rendered under `generation`; a newer generation empties the cache.
    fn get(&self, generation: u64, key: &[u8]) -> Option<Arc<Entry>> {
        let mut c = self.lock();
        match c.generation {
            Some(g) if g == generation => c.map.get(key).cloned(),
            Some(g) if g > generation => None, // a request that started before the latest write
            _ => {
                c.map.clear();
                c.order.clear();
                c.bytes = 0;
                c.generation = Some(generation);
                None
            }
        }
    }

    fn insert(&self, generation: u64, key: Vec<u8>, entry: Entry) {
        let size = entry.body.len() + key.len();
        if size > self.max_bytes {
            return;
        }
        let mut c = self.lock();
        if c.generation != Some(generation) || c.map.contains_key(&key) {
            return;
        }
        while c.bytes + size > self.max_bytes {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(e) = c.map.remove(&old) {
                c.bytes -= e.body.len() + old.len();
            }
        }
        c.bytes += size;
        c.order.push_back(key.clone());
        c.map.insert(key, Arc::new(entry));
    }
}

/// Everything in the request that shapes a Graph response, the caller's tenants first (an answer to one
/// tenant is never served to another).
fn cache_key(req: &Request) -> Vec<u8> {
    let uri = req.uri().to_string();
    let mut key = Vec::with_capacity(uri.len() + 64);
    match req.extensions().get::<crate::RequestScope>() {
        None => key.push(0),
        Some(s) => {
            key.push(1);
            if let Some(t) = s.scope.tenant() {
                key.extend_from_slice(t.as_bytes());
            }
            key.push(0);
            if let Some(now) = s.now_us {
                key.extend_from_slice(&now.to_le_bytes());
            }
            key.push(0);
        }
    }
    key.extend_from_slice(uri.as_bytes());
    for name in &KEY_HEADERS {
        // Header values cannot hold NUL or 0x01: unambiguous separators.
        key.push(0);
        for v in req.headers().get_all(name) {
            key.extend_from_slice(v.as_bytes());
            key.push(1);
        }
    }
    key
}

fn cacheable(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == Method::GET
        && (path.starts_with("/v1.0/") || path.starts_with("/beta/"))
        // Subscriptions expire with the clock, not with a write.
        && !path.contains("/subscriptions")
}

/// The middleware: answer from the cache, or render and keep a successful answer.
pub(crate) async fn layer(
    State(cache): State<ResponseCache>,
    req: Request,
    next: Next,
) -> Response {
    if !cacheable(&req) {
        return next.run(req).await;
    }
    // No generation, no caching (the request is still answered).
    let Ok(generation) = cache.store.data_generation() else {
        return next.run(req).await;
    };
    let key = cache_key(&req);
    if let Some(e) = cache.get(generation, &key) {
        let mut resp = Response::new(Body::from(e.body.clone()));
        *resp.headers_mut() = e.headers.clone();
        return resp;
    }
    let resp = next.run(req).await;
    let hint = resp.body().size_hint();
    let exact = hint.upper() == Some(hint.lower());
    if resp.status() != StatusCode::OK || !exact || hint.lower() > cache.max_body as u64 {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let body = match axum::body::to_bytes(body, cache.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::internal("a response could not be buffered for the cache")
                .into_response();
        }
    };
    cache.insert(
        generation,
        key,
        Entry {
            headers: parts.headers.clone(),
            body: body.clone(),
        },
    );
    Response::from_parts(parts, Body::from(body))
}
