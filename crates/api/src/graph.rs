//! Graph's call-records routes under `/v1.0` and `/beta` (to be written).

use axum::Router;

use crate::AppState;

/// The Graph routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
