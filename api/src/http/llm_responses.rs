//! Tracked calls, evaluations and version stats: thin handlers over [`crate::tracking::responses`],
//! [`crate::evaluation::evaluations`] and [`crate::tracking::stats`].

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::JsonBody;
use super::problem::{ApiJson, ApiPath, ApiQuery, HashedJson, Problem};
use crate::AppState;
use crate::error::{Error, Result};
use crate::evaluation::evaluations::{self, EvaluationFilter, EvaluationOut, ManualEvaluation};
use crate::store::pagination::{Page, PageParams};
use crate::tracking::responses::{self, LlmResponseFilter, LlmResponseOut, TrackRequest};
use crate::tracking::stats::{self, StatsWindow, VersionStats};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_responses, track_call))
        .routes(routes!(get_response))
        .routes(routes!(create_manual_evaluation))
        .routes(routes!(list_evaluations))
        .routes(routes!(version_stats))
}

/// Record one LLM call made by a client app (a tracked call).
///
/// The version's prompts are rendered server-side from `variables`; cost comes from the
/// price table when not sent; the version's `sync` evaluators run before the answer, `async`
/// ones in the background. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/llm-responses", tag = "llm-responses", request_body = TrackRequest,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "1-255 characters; a retry with the same key and body gets the same answer and creates no second row")),
    responses(
        (status = 201, description = "The stored call with its sync evaluations (a replay also answers 201, with `Idempotent-Replayed: true`)", body = LlmResponseOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is still in flight, or the prompt version kept changing while the call was being recorded (retry)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, missing required variables, unknown prompt/version, or an Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn track_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    HashedJson(req, hash): HashedJson<TrackRequest>,
) -> Result<Response> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Error::invalid("Idempotency-Key", "must be visible ASCII"))?
                .to_owned(),
        ),
        None => None,
    };
    let tracked = responses::track(
        &state.db,
        &state.versions,
        &state.prices,
        req,
        key.map(|k| (k, hash)),
    )
    .await?;
    if tracked.queued {
        state.waker.wake();
    }
    let status = StatusCode::from_u16(tracked.status).unwrap_or(StatusCode::CREATED);
    let mut response = (status, axum::Json(tracked.body)).into_response();
    if tracked.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// List LLM responses, newest first.
#[utoipa::path(get, path = "/llm-responses", tag = "llm-responses",
    params(LlmResponseFilter, PageParams),
    responses(
        (status = 200, description = "A page of responses (without evaluations)", body = Page<LlmResponseOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_responses(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<LlmResponseFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<JsonBody> {
    Ok(JsonBody(
        responses::list(
            &state.db,
            &state.versions,
            &state.listed_responses,
            &filter,
            &page,
        )
        .await?,
    ))
}

/// Read one LLM response with its evaluations.
#[utoipa::path(get, path = "/llm-responses/{id}", tag = "llm-responses",
    params(("id" = i64, Path, description = "LLM response id")),
    responses(
        (status = 200, description = "The response and its evaluations", body = LlmResponseOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such response", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_response(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<LlmResponseOut>> {
    Ok(axum::Json(responses::get(&state.db, id).await?))
}

/// Record a manual evaluation (a person's score, context `manual`).
#[utoipa::path(post, path = "/llm-responses/{id}/evaluations", tag = "evaluations", request_body = ManualEvaluation,
    params(("id" = i64, Path, description = "LLM response id")),
    responses(
        (status = 201, description = "The evaluation", body = EvaluationOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such response", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Score outside 0-100", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_manual_evaluation(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ManualEvaluation>,
) -> Result<(StatusCode, axum::Json<EvaluationOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(evaluations::create_manual(&state.db, id, input).await?),
    ))
}

/// List evaluations, newest first.
#[utoipa::path(get, path = "/evaluations", tag = "evaluations",
    params(EvaluationFilter, PageParams),
    responses(
        (status = 200, description = "A page of evaluations", body = Page<EvaluationOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_evaluations(
    State(state): State<AppState>,
    ApiQuery(filter): ApiQuery<EvaluationFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<JsonBody> {
    Ok(JsonBody(
        evaluations::list(&state.db, &state.listed_evaluations, &filter, &page).await?,
    ))
}

/// Call count, success rate, latency p50/p95, tokens, cost and per-evaluator results of a
/// version, split into tracked calls and test calls.
#[utoipa::path(get, path = "/versions/{version_id}/stats", tag = "versions",
    params(("version_id" = i64, Path, description = "Version id"), StatsWindow),
    responses(
        (status = 200, description = "The version's statistics", body = VersionStats),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid time window", body = Problem, content_type = "application/problem+json"),
    ))]
async fn version_stats(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(window): ApiQuery<StatsWindow>,
) -> Result<axum::Json<VersionStats>> {
    Ok(axum::Json(stats::of_version(&state.db, id, &window).await?))
}
