//! HTTP ingest, outside Graph's namespace.

use axum::Router;

use crate::{AppState, Config};

/// `/ingest/...` routes.
pub fn routes(_config: &Config) -> Router<AppState> {
    Router::new()
}
