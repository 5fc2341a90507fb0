#![forbid(unsafe_code)]
//! The HTTP face of callrecords: Graph's call-records routes under `/v1.0` and `/beta` ([`graph`]), the ingest
//! routes under `/ingest` ([`ingest`], a front of the `callrecords-ingest` pipeline), version history under
//! `/admin` ([`admin`]), health checks, and the middleware every response goes through (request ids,
//! compression, Graph-shaped errors).
//!
//! Handlers are thin: extract → one store call → render. Every error is an [`ApiError`], mapped once to
//! Graph's error body.

pub mod admin;
pub mod analytics;
pub mod analytics_calls;
pub mod auth;
mod cache;
pub mod derive;
pub mod erasure;
pub mod error;
pub mod graph;
pub mod ingest;
mod middleware;
pub mod openapi;
mod ready;
pub mod retention;
pub mod scope;
pub mod subscriptions;
pub mod sync_admin;
pub mod sync_receiver;
pub mod telemetry;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use callrecords_store::Store;

pub use error::ApiError;
pub use scope::RequestScope;

/// Server settings that handlers need.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest accepted ingest body, in bytes (decompressed).
    pub ingest_limit: usize,
    /// Behave like Graph's 30-day retention: older records are excluded from lists and 404 on get.
    pub graph_retention: bool,
    /// How subscriptions reach webhooks (guard, handshake timeout).
    pub webhooks: subscriptions::WebhookSettings,
    /// Bytes of rendered Graph answers the response cache keeps; 0 turns it off.
    pub response_cache_bytes: usize,

    /// The secret `POST /admin/redact` derives pseudonyms with (`serve --pseudonym-key-file`); without it
    /// that route answers 503.
    pub pseudonym_key: Option<erasure::PseudonymKey>,

    /// `/readyz`: a tenant whose last successful sync sweep is older than this is stalled; `None`: three
    /// times the interval `sync` saved in its state.
    pub sync_stall_after: Option<std::time::Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ingest_limit: 256 * 1024 * 1024,
            graph_retention: false,
            webhooks: subscriptions::WebhookSettings::default(),
            response_cache_bytes: cache::MAX_CACHE_BYTES,

            pseudonym_key: None,

            sync_stall_after: None,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Settings.
    pub config: Arc<Config>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The whole application without access control (`--auth none`, and tests of the routes themselves).
pub fn app(state: AppState) -> Router {
    build(state, None, Arc::new(telemetry::Metrics::new()))
}

/// The whole application behind `auth` ([`auth::layer`]: every route but the public ones needs a token,
/// and the token's tenant scopes the request).
pub fn app_with_auth(state: AppState, auth: Arc<auth::Auth>) -> Router {
    app_with_metrics(state, auth, Arc::new(telemetry::Metrics::new()))
}

/// Like [`app_with_auth`], reporting into `metrics`, which background jobs of the same process (the
/// notifier, retention) report into too.
pub fn app_with_metrics(
    state: AppState,
    auth: Arc<auth::Auth>,
    metrics: Arc<telemetry::Metrics>,
) -> Router {
    let enabled = auth.is_enabled();
    build(state, enabled.then_some(auth), metrics)
}

fn build(
    state: AppState,
    auth: Option<Arc<auth::Auth>>,
    metrics: Arc<telemetry::Metrics>,
) -> Router {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(telemetry::metrics))
        .route("/readyz", get(ready::readyz))
        .merge(graph::routes())
        .merge(ingest::routes(&state.config))
        .merge(admin::routes())
        .merge(subscriptions::routes())
        .merge(analytics::routes())
        .merge(sync_admin::routes())
        .merge(sync_receiver::routes())
        .merge(callrecords_dashboard::routes())
        .merge(auth::oidc::routes(auth.clone()))
        .fallback(middleware::fallback)
        .with_state(state.clone())
        .layer(axum::Extension(metrics.clone()));
    // Rendered Graph answers are cached unless they depend on the clock (retention) or the cache is off.
    let cache = (!state.config.graph_retention && state.config.response_cache_bytes > 0)
        .then(|| cache::ResponseCache::new(state.store.clone(), state.config.response_cache_bytes));
    middleware::apply(router, cache, auth, metrics)
}
