//! The HTTP layer: thin axum handlers, one module per resource, each annotated for the
//! generated OpenAPI 3.1 document (served at `/api/v1/openapi.json`, browsable at `/docs`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::error::Error;
use problem::Problem;

pub mod catalog;
pub mod datasets;
pub mod evaluator_configs;
pub mod health;
pub mod llm_responses;
pub mod problem;
pub mod prompts;
pub mod runs;
pub mod tests;
pub mod versions;

/// A JSON body serialised by the domain code (the lists that write their rows straight from
/// the database's buffers: `positional`), sent as `axum::Json` would send it.
pub struct JsonBody(pub Vec<u8>);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Prompt Tracker",
        description = "Versions LLM prompts, records every LLM call made with them, scores calls with evaluators, and runs prompt tests.\n\nErrors are RFC 9457 `application/problem+json`. Lists use keyset pagination (`limit`, `cursor`). When the server has `PROMPT_TRACKER_API_TOKEN` set, every `/api/v1` route requires `Authorization: Bearer <token>`.",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "prompts", description = "Prompts and their archive"),
        (name = "versions", description = "Prompt versions: text, variables, model config; activation and rendering"),
        (name = "tests", description = "Prompt tests of a version"),
        (name = "evaluator-configs", description = "Evaluators configured on versions (monitoring) and tests (testing)"),
        (name = "test-runs", description = "Prompt test runs against real providers, batches and server-side verdicts"),
        (name = "datasets", description = "Datasets of variable rows (manual, imported from JSONL/CSV)"),
        (name = "llm-responses", description = "Tracked calls: every LLM call made with a prompt version"),
        (name = "evaluations", description = "Scores of LLM responses"),
        (name = "catalog", description = "Providers, apis, models and tools; the evaluator registry"),
        (name = "meta", description = "Health, readiness and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// `/api/v1` resources, each module's router merged.
fn v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(prompts::router())
        .merge(versions::router())
        .merge(tests::router())
        .merge(evaluator_configs::router())
        .merge(llm_responses::router())
        .merge(runs::router())
        .merge(datasets::router())
        .merge(catalog::router())
}

/// The whole documented service: `/api/v1/...` and the probes.
fn documented(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    let mut v1 = v1().routes(utoipa_axum::routes!(openapi_json));
    if let Some(state) = state {
        v1 = v1
            .layer(DefaultBodyLimit::max(problem::BODY_LIMIT))
            .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    }
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .merge(health::router())
}

/// The generated OpenAPI document (what `openapi.yaml` must equal).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented(None).split_for_parts().1
}

/// The OpenAPI document of this service (JSON).
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi())
}

/// Every route of the service, before state is attached: `/api/v1/...` (behind the bearer
/// token when one is configured, bodies up to 1 MiB), `/api/v1/openapi.json`, `/docs`
/// (Swagger UI, vendored, reading `/docs/openapi.json`), `/healthz`, `/readyz`.
pub fn router(state: &AppState) -> Router<AppState> {
    let (routes, doc) = documented(Some(state)).split_for_parts();
    routes
        .merge(SwaggerUi::new("/docs").url("/docs/openapi.json", doc))
        .fallback(|| async { Error::NotFound("No such route.".to_owned()) })
}

/// 401 problem+json unless `Authorization: Bearer <token>` matches the configured token
/// (compared in constant time). Open when no token is configured.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = state.api_token.as_deref() else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let ok = given.len() == expected.len()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            expected.as_bytes(),
        ));
    if ok {
        next.run(request).await
    } else {
        Error::Unauthorized.into_response()
    }
}
