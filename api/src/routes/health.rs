//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::AppState;
use crate::error::Error;

/// Body of a healthy answer.
#[derive(Serialize)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// 200 `{"status": "ok"}` while the process serves requests.
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// 200 `{"status": "ok"}` when the database answers a `SELECT 1`; 503 problem+json otherwise.
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, Error> {
    state.db.execute_unprepared("SELECT 1").await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        Error::Unavailable("The database is not reachable.".to_owned())
    })?;
    Ok(Json(Health { status: "ok" }))
}
