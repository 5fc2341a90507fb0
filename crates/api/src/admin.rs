//! Version history, outside Graph's namespace.

use axum::Router;

use crate::AppState;

/// `/admin/...` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
