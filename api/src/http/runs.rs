//! Test runs and batches: thin handlers over [`crate::testing::runs`].

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use crate::error::Result;
use crate::store::pagination::{Page, PageParams};
use crate::testing::runs::{self, BatchOut, RunFilter, RunOut, RunRequest, StartedRuns};

/// How long `?wait=true` waits for a batch before answering 409 (poll the batch instead): 10
/// minutes. The answer comes once the batch's last run is final ([`runs::wait`]).
pub const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_test, list_test_runs))
        .routes(routes!(run_version))
        .routes(routes!(get_run))
        .routes(routes!(list_runs))
        .routes(routes!(get_batch))
}

/// `?wait=true`: answer once every run of the batch is final.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// Wait until the runs are finished (up to 10 minutes) and answer 200 (for CI gates).
    pub wait: Option<bool>,
}

async fn answer(
    state: &AppState,
    batch_id: i64,
    wait: bool,
) -> Result<(StatusCode, axum::Json<StartedRuns>)> {
    if wait {
        Ok((
            StatusCode::OK,
            axum::Json(runs::wait(&state.test_runner(), batch_id, WAIT_TIMEOUT).await?),
        ))
    } else {
        Ok((
            StatusCode::ACCEPTED,
            axum::Json(runs::started(&state.db, batch_id).await?),
        ))
    }
}

/// Run one test: with its `template_variables`, the given `variables`, or once per row of `rows`.
#[utoipa::path(post, path = "/tests/{test_id}/runs", tag = "test-runs", request_body = RunRequest,
    params(("test_id" = i64, Path, description = "Test id"), WaitParams),
    responses(
        (status = 202, description = "The runs were queued (status pending)", body = StartedRuns),
        (status = 200, description = "With ?wait=true: the finished runs and the batch verdict", body = StartedRuns),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such test", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "With ?wait=true: not finished within 10 minutes", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing variables, unusable model config (e.g. assistants_api), or missing provider credentials (names the variable to set)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn run_test(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(w): ApiQuery<WaitParams>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<(StatusCode, axum::Json<StartedRuns>)> {
    let batch_id = runs::start_test(&state.test_runner(), id, req).await?;
    answer(&state, batch_id, w.wait.unwrap_or(false)).await
}

/// Run every enabled test of a version.
#[utoipa::path(post, path = "/versions/{version_id}/test-runs", tag = "test-runs",
    params(("version_id" = i64, Path, description = "Version id"), WaitParams),
    responses(
        (status = 202, description = "The runs were queued (status pending)", body = StartedRuns),
        (status = 200, description = "With ?wait=true: the finished runs and the batch verdict", body = StartedRuns),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "With ?wait=true: not finished within 10 minutes", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No enabled tests, missing variables, unusable model config or missing provider credentials", body = Problem, content_type = "application/problem+json"),
    ))]
async fn run_version(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(w): ApiQuery<WaitParams>,
) -> Result<(StatusCode, axum::Json<StartedRuns>)> {
    let batch_id = runs::start_version(&state.test_runner(), id).await?;
    answer(&state, batch_id, w.wait.unwrap_or(false)).await
}

/// Read a test run.
#[utoipa::path(get, path = "/test-runs/{run_id}", tag = "test-runs",
    params(("run_id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_run(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<RunOut>> {
    Ok(axum::Json(runs::find(&state.db, id).await?.into()))
}

/// A test's runs, newest first.
#[utoipa::path(get, path = "/tests/{test_id}/runs", tag = "test-runs",
    params(("test_id" = i64, Path, description = "Test id"), PageParams),
    responses(
        (status = 200, description = "A page of runs", body = Page<RunOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such test", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_test_runs(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<RunOut>>> {
    crate::testing::prompt_tests::find(&state.db, id).await?;
    let filter = RunFilter {
        test_id: Some(id),
        ..Default::default()
    };
    Ok(axum::Json(runs::list(&state.db, &filter, &page).await?))
}

/// Runs by batch, version, test or status, newest first.
#[utoipa::path(get, path = "/test-runs", tag = "test-runs",
    params(RunFilter, PageParams),
    responses(
        (status = 200, description = "A page of runs", body = Page<RunOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<RunFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<RunOut>>> {
    Ok(axum::Json(runs::list(&state.db, &filter, &page).await?))
}

/// Progress (total, finished, passed, failed, errored) and verdict of a batch.
#[utoipa::path(get, path = "/test-run-batches/{batch_id}", tag = "test-runs",
    params(("batch_id" = i64, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The batch", body = BatchOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_batch(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<BatchOut>> {
    Ok(axum::Json(runs::batch(&state.db, id).await?))
}
