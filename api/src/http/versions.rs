//! `/api/v1/prompts/{prompt_id}/versions` and `/api/v1/versions/...`: thin handlers over
//! [`crate::prompts::versions`].

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use crate::error::Result;
use crate::prompts::versions::{
    self, NewVersion, RenderOut, RenderRequest, VersionOut, VersionPatch,
};
use crate::store::pagination::{Page, PageParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions, create_version))
        .routes(routes!(get_version, update_version))
        .routes(routes!(activate_version))
        .routes(routes!(render_version))
}

/// List a prompt's versions.
#[utoipa::path(get, path = "/prompts/{prompt_id}/versions", tag = "versions",
    params(("prompt_id" = i64, Path, description = "Prompt id"), PageParams),
    responses(
        (status = 200, description = "A page of versions", body = Page<VersionOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_versions(
    State(state): State<AppState>,
    ApiPath(prompt_id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<VersionOut>>> {
    Ok(axum::Json(
        versions::list(&state.db, prompt_id, &page).await?,
    ))
}

/// Create a draft version with the next version number.
#[utoipa::path(post, path = "/prompts/{prompt_id}/versions", tag = "versions", request_body = NewVersion,
    params(("prompt_id" = i64, Path, description = "Prompt id")),
    responses(
        (status = 201, description = "The created version", body = VersionOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The prompt is archived", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (templates, variables_schema, model_config)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_version(
    State(state): State<AppState>,
    ApiPath(prompt_id): ApiPath<i64>,
    ApiJson(input): ApiJson<NewVersion>,
) -> Result<(StatusCode, axum::Json<VersionOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(versions::create(&state.db, prompt_id, input).await?),
    ))
}

/// Read a version.
#[utoipa::path(get, path = "/versions/{version_id}", tag = "versions",
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 200, description = "The version", body = VersionOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_version(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<VersionOut>> {
    Ok(axum::Json(versions::find(&state.db, id).await?.into()))
}

/// Update a version; its text and model config are frozen once it has LLM responses.
#[utoipa::path(patch, path = "/versions/{version_id}", tag = "versions", request_body = VersionPatch,
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 200, description = "The updated version", body = VersionOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version has LLM responses: create a new version instead", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_version(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<VersionPatch>,
) -> Result<axum::Json<VersionOut>> {
    Ok(axum::Json(versions::update(&state.db, id, patch).await?))
}

/// Make this version the prompt's only active version (the previous one is deprecated).
#[utoipa::path(post, path = "/versions/{version_id}/activate", tag = "versions",
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 200, description = "The activated version", body = VersionOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The prompt is archived", body = Problem, content_type = "application/problem+json"),
    ))]
async fn activate_version(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<VersionOut>> {
    Ok(axum::Json(versions::activate(&state.db, id).await?))
}

/// Render the version's prompts with variables, and the request its provider would receive.
#[utoipa::path(post, path = "/versions/{version_id}/render", tag = "versions", request_body = RenderRequest,
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 200, description = "The rendered prompts and provider request", body = RenderOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A required variable is missing (one error per variable)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn render_version(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<RenderRequest>,
) -> Result<axum::Json<RenderOut>> {
    let version = versions::find(&state.db, id).await?;
    Ok(axum::Json(versions::render(&version, &input.variables)?))
}
