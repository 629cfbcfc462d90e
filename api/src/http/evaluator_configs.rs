//! Evaluator configs on versions and tests: thin handlers over [`crate::evaluation::configs`].

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use crate::error::Result;
use crate::evaluation::configs::{
    self, CopyResult, EvaluatorConfigOut, EvaluatorConfigPatch, NewEvaluatorConfig, Owner,
};
use crate::store::pagination::{Page, PageParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_version_configs, create_version_config))
        .routes(routes!(list_test_configs, create_test_config))
        .routes(routes!(get_config, update_config, delete_config))
        .routes(routes!(copy_from_tests))
}

/// List a version's (monitoring) evaluator configs.
#[utoipa::path(get, path = "/versions/{version_id}/evaluator-configs", tag = "evaluator-configs",
    params(("version_id" = i64, Path, description = "Version id"), PageParams),
    responses(
        (status = 200, description = "A page of configs", body = Page<EvaluatorConfigOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_version_configs(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<EvaluatorConfigOut>>> {
    Ok(axum::Json(
        configs::list(&s.db, Owner::Version(id), &page).await?,
    ))
}

/// Add an evaluator config to a version: it scores the version's tracked calls.
#[utoipa::path(post, path = "/versions/{version_id}/evaluator-configs", tag = "evaluator-configs", request_body = NewEvaluatorConfig,
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 201, description = "The created config", body = EvaluatorConfigOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version already has a config for this evaluator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown evaluator, or invalid config/threshold/weight", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_version_config(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NewEvaluatorConfig>,
) -> Result<(StatusCode, axum::Json<EvaluatorConfigOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(configs::create(&s.db, Owner::Version(id), input).await?),
    ))
}

/// List a test's evaluator configs.
#[utoipa::path(get, path = "/tests/{test_id}/evaluator-configs", tag = "evaluator-configs",
    params(("test_id" = i64, Path, description = "Test id"), PageParams),
    responses(
        (status = 200, description = "A page of configs", body = Page<EvaluatorConfigOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such test", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_test_configs(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<EvaluatorConfigOut>>> {
    Ok(axum::Json(
        configs::list(&s.db, Owner::Test(id), &page).await?,
    ))
}

/// Add an evaluator config to a test: it scores the test's runs.
#[utoipa::path(post, path = "/tests/{test_id}/evaluator-configs", tag = "evaluator-configs", request_body = NewEvaluatorConfig,
    params(("test_id" = i64, Path, description = "Test id")),
    responses(
        (status = 201, description = "The created config", body = EvaluatorConfigOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such test", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The test already has a config for this evaluator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown evaluator, or invalid config/threshold/weight", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_test_config(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NewEvaluatorConfig>,
) -> Result<(StatusCode, axum::Json<EvaluatorConfigOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(configs::create(&s.db, Owner::Test(id), input).await?),
    ))
}

/// Read an evaluator config.
#[utoipa::path(get, path = "/evaluator-configs/{id}", tag = "evaluator-configs",
    params(("id" = i64, Path, description = "Evaluator config id")),
    responses(
        (status = 200, description = "The config", body = EvaluatorConfigOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such config", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_config(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<EvaluatorConfigOut>> {
    Ok(axum::Json(configs::find(&s.db, id).await?.into()))
}

/// Update an evaluator config.
#[utoipa::path(patch, path = "/evaluator-configs/{id}", tag = "evaluator-configs", request_body = EvaluatorConfigPatch,
    params(("id" = i64, Path, description = "Evaluator config id")),
    responses(
        (status = 200, description = "The updated config", body = EvaluatorConfigOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such config", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid config/threshold/weight", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_config(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<EvaluatorConfigPatch>,
) -> Result<axum::Json<EvaluatorConfigOut>> {
    Ok(axum::Json(configs::update(&s.db, id, patch).await?))
}

/// Delete an evaluator config (its evaluations stay, with a snapshot of it).
#[utoipa::path(delete, path = "/evaluator-configs/{id}", tag = "evaluator-configs",
    params(("id" = i64, Path, description = "Evaluator config id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such config", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_config(State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<StatusCode> {
    configs::delete(&s.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Copy the distinct evaluator configs of the version's tests onto the version, skipping keys it already has.
#[utoipa::path(post, path = "/versions/{version_id}/evaluator-configs/copy-from-tests", tag = "evaluator-configs",
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 200, description = "What was created and what was skipped", body = CopyResult),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
    ))]
async fn copy_from_tests(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<CopyResult>> {
    Ok(axum::Json(configs::copy_from_tests(&s.db, id).await?))
}
