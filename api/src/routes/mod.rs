//! Thin axum handlers, one module per resource.

use axum::Router;

use crate::AppState;

pub mod health;
pub mod problem;

/// Every route of the service, before state is attached.
pub fn router() -> Router<AppState> {
    Router::new().merge(health::router())
}
