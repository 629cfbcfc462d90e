//! `GET /metrics`: the service's metrics in the Prometheus text format (version 0.0.4).
//!
//! Behind the bearer token like `/api/v1` when `PROMPT_TRACKER_API_TOKEN` is set (Prometheus
//! sends it with `authorization: { credentials: ... }` in its scrape config). The process's
//! event counters and histograms ([`crate::telemetry`]) come first, then this app's state, read
//! now: the database pool, the unfinished jobs (one grouped statement) and the list caches.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use entity::job::{JobKind, JobStatus};
use sea_orm::Iterable;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::Problem;
use crate::AppState;
use crate::jobs;
use crate::telemetry::{self, Gauges};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the job counts; past it (the database is slow or away) the
/// job gauges are left out of that scrape and the rest is still served.
const JOBS_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Metrics in the Prometheus text format.
///
/// HTTP requests by route template, method and status class with latency histograms; LLM
/// provider calls by provider, api and outcome; job attempts by kind and outcome, and the jobs
/// queued and running by kind; the database pool's connections; the list caches' hits, misses
/// and size; evaluations whose config is invalid. Requires the bearer token when the server
/// has one.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "Metrics in the Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn metrics(State(state): State<AppState>) -> Response {
    let mut gauges = Gauges::default();
    if let Some(pool) = crate::store::pool_stats(&state.db) {
        gauges
            .family(
                telemetry::DB_POOL_CONNECTIONS,
                "Database connections open (in use and idle).",
            )
            .sample(&[], f64::from(pool.size));
        gauges
            .family(
                telemetry::DB_POOL_IDLE,
                "Database connections open and not in use.",
            )
            .sample(&[], f64::from(pool.idle));
        gauges
            .family(
                telemetry::DB_POOL_MAX,
                "The most database connections the pool opens.",
            )
            .sample(&[], f64::from(pool.max));
    }
    match tokio::time::timeout(JOBS_TIMEOUT, jobs::backlog(&state.db)).await {
        Ok(Ok(backlog)) => {
            let mut family = gauges.family(
                telemetry::JOBS,
                "Jobs queued and running in the database (every instance's), by kind.",
            );
            for kind in JobKind::iter() {
                for status in [JobStatus::Queued, JobStatus::Running] {
                    let count = backlog
                        .iter()
                        .find(|b| b.kind == kind && b.status == status)
                        .map_or(0, |b| b.count);
                    family.sample(
                        &[
                            ("kind", jobs::kind_name(kind)),
                            ("status", jobs::status_name(status)),
                        ],
                        count as f64,
                    );
                }
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "reading the job counts for /metrics failed"),
        Err(_) => tracing::warn!(
            timeout_ms = JOBS_TIMEOUT.as_millis() as u64,
            "reading the job counts for /metrics timed out"
        ),
    }
    let caches = [&state.listed_responses, &state.listed_evaluations];
    if caches.iter().any(|c| c.is_enabled()) {
        let mut family = gauges.family(
            telemetry::LIST_CACHE_BYTES,
            "Bytes held by the list cache (JSON and bookkeeping).",
        );
        for cache in caches.iter().filter(|c| c.is_enabled()) {
            family.sample(&[("list", cache.list())], cache.bytes() as f64);
        }
        let mut family = gauges.family(telemetry::LIST_CACHE_ROWS, "Rows held by the list cache.");
        for cache in caches.iter().filter(|c| c.is_enabled()) {
            family.sample(&[("list", cache.list())], cache.len() as f64);
        }
    }
    let mut text = state.metrics.render();
    text.push_str(&gauges.into_text());
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response()
}
