//! Prompt tests: thin handlers over [`crate::testing::prompt_tests`].

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use crate::error::Result;
use crate::store::pagination::{Page, PageParams};
use crate::testing::prompt_tests::{self, NewPromptTest, PromptTestOut, PromptTestPatch};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tests, create_test))
        .routes(routes!(get_test, update_test, delete_test))
}

/// List a version's tests.
#[utoipa::path(get, path = "/versions/{version_id}/tests", tag = "tests",
    params(("version_id" = i64, Path, description = "Version id"), PageParams),
    responses(
        (status = 200, description = "A page of tests", body = Page<PromptTestOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_tests(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<PromptTestOut>>> {
    Ok(axum::Json(prompt_tests::list(&s.db, id, &page).await?))
}

/// Create a test on a version (its model config defaults to the version's).
#[utoipa::path(post, path = "/versions/{version_id}/tests", tag = "tests", request_body = NewPromptTest,
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 201, description = "The created test", body = PromptTestOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version already has a test of that name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_test(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NewPromptTest>,
) -> Result<(StatusCode, axum::Json<PromptTestOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(prompt_tests::create(&s.db, id, input).await?),
    ))
}

/// Read a test.
#[utoipa::path(get, path = "/tests/{test_id}", tag = "tests",
    params(("test_id" = i64, Path, description = "Test id")),
    responses(
        (status = 200, description = "The test", body = PromptTestOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such test", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_test(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<PromptTestOut>> {
    Ok(axum::Json(prompt_tests::find(&s.db, id).await?.into()))
}

/// Update a test.
#[utoipa::path(patch, path = "/tests/{test_id}", tag = "tests", request_body = PromptTestPatch,
    params(("test_id" = i64, Path, description = "Test id")),
    responses(
        (status = 200, description = "The updated test", body = PromptTestOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such test", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version already has a test of that name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_test(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<PromptTestPatch>,
) -> Result<axum::Json<PromptTestOut>> {
    Ok(axum::Json(prompt_tests::update(&s.db, id, patch).await?))
}

/// Delete a test and its evaluator configs (refused when it has runs: disable it instead).
#[utoipa::path(delete, path = "/tests/{test_id}", tag = "tests",
    params(("test_id" = i64, Path, description = "Test id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such test", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The test has runs", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_test(State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<StatusCode> {
    prompt_tests::delete(&s.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
