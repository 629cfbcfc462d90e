//! `/api/v1/prompts`: thin handlers over [`crate::prompts`].

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use crate::error::Result;
use crate::prompts::{self, NewPrompt, PromptFilter, PromptOut, PromptPatch};
use crate::store::pagination::{Page, PageParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_prompts, create_prompt))
        .routes(routes!(get_prompt, update_prompt, archive_prompt))
}

/// List prompts (keyset-paginated by id).
#[utoipa::path(get, path = "/prompts", tag = "prompts",
    params(PromptFilter, PageParams),
    responses(
        (status = 200, description = "A page of prompts", body = Page<PromptOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_prompts(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<PromptFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<PromptOut>>> {
    Ok(axum::Json(prompts::list(&state.db, &filter, &page).await?))
}

/// Create a prompt; its slug is derived from the name when absent.
#[utoipa::path(post, path = "/prompts", tag = "prompts", request_body = NewPrompt,
    responses(
        (status = 201, description = "The created prompt", body = PromptOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name or slug already taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_prompt(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<NewPrompt>,
) -> Result<(StatusCode, axum::Json<PromptOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(prompts::create(&state.db, input).await?),
    ))
}

/// Read a prompt (archived prompts stay readable).
#[utoipa::path(get, path = "/prompts/{prompt_id}", tag = "prompts",
    params(("prompt_id" = i64, Path, description = "Prompt id")),
    responses(
        (status = 200, description = "The prompt", body = PromptOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_prompt(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<PromptOut>> {
    Ok(axum::Json(prompts::find(&state.db, id).await?.into()))
}

/// Update a prompt's name, slug, description, category or tags.
#[utoipa::path(patch, path = "/prompts/{prompt_id}", tag = "prompts", request_body = PromptPatch,
    params(("prompt_id" = i64, Path, description = "Prompt id")),
    responses(
        (status = 200, description = "The updated prompt", body = PromptOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name or slug already taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_prompt(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<PromptPatch>,
) -> Result<axum::Json<PromptOut>> {
    Ok(axum::Json(prompts::update(&state.db, id, patch).await?))
}

/// Archive a prompt (soft delete) and deprecate its versions.
#[utoipa::path(delete, path = "/prompts/{prompt_id}", tag = "prompts",
    params(("prompt_id" = i64, Path, description = "Prompt id")),
    responses(
        (status = 200, description = "The archived prompt", body = PromptOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt", body = Problem, content_type = "application/problem+json"),
    ))]
async fn archive_prompt(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<PromptOut>> {
    Ok(axum::Json(prompts::archive(&state.db, id).await?))
}
