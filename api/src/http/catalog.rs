//! `GET /api/v1/providers` (the provider/api/model catalog) and `GET /api/v1/evaluators`
//! (the evaluator registry with each config's JSON Schema).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::Problem;
use crate::AppState;
use crate::catalog::model_config::{self, ProviderInfo};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers))
        .routes(routes!(list_evaluators))
}

/// Providers, their apis (with display names), models with capabilities, and tools per api.
#[utoipa::path(get, path = "/providers", tag = "catalog",
    responses(
        (status = 200, description = "The provider catalog", body = Vec<ProviderInfo>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_providers() -> axum::Json<Vec<ProviderInfo>> {
    axum::Json(model_config::catalog().to_vec())
}

/// One evaluator of the registry.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EvaluatorInfo {
    /// Registry key used in evaluator configs, e.g. `keyword`.
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// JSON Schema (2020-12) of the evaluator's `config`, defaults included.
    #[schema(value_type = Object)]
    pub config_schema: Value,
}

/// The evaluator registry.
#[utoipa::path(get, path = "/evaluators", tag = "catalog",
    responses(
        (status = 200, description = "Every evaluator with the JSON Schema of its config", body = Vec<EvaluatorInfo>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_evaluators() -> axum::Json<Vec<EvaluatorInfo>> {
    axum::Json(
        crate::evaluation::evaluators::registry()
            .iter()
            .map(|e| EvaluatorInfo {
                key: e.key(),
                name: e.name(),
                description: e.description(),
                config_schema: e.config_schema(),
            })
            .collect(),
    )
}
