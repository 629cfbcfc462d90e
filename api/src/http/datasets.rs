//! Datasets and their rows: thin handlers over [`crate::testing::datasets`].

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{ApiJson, ApiPath, ApiQuery, Problem};
use crate::AppState;
use crate::error::{Error, Result};
use crate::store::pagination::{Page, PageParams};
use crate::testing::datasets::{
    self, DatasetOut, DatasetPatch, DatasetRowOut, ImportFormat, ImportParams, ImportReport,
    NewDataset, NewRow,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_datasets, create_dataset))
        .routes(routes!(get_dataset, update_dataset, delete_dataset))
        .routes(routes!(list_rows, add_row))
        .routes(routes!(delete_row))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import_rows))
                .layer(DefaultBodyLimit::max(datasets::IMPORT_LIMIT)),
        )
}

/// List a version's datasets.
#[utoipa::path(get, path = "/versions/{version_id}/datasets", tag = "datasets",
    params(("version_id" = i64, Path, description = "Version id"), PageParams),
    responses(
        (status = 200, description = "A page of datasets", body = Page<DatasetOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_datasets(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<DatasetOut>>> {
    Ok(axum::Json(datasets::list(&s.db, id, &page).await?))
}

/// Create a dataset on a version (its schema is the version's variables_schema).
#[utoipa::path(post, path = "/versions/{version_id}/datasets", tag = "datasets", request_body = NewDataset,
    params(("version_id" = i64, Path, description = "Version id")),
    responses(
        (status = 201, description = "The created dataset", body = DatasetOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such version", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version already has a dataset of that name", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_dataset(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NewDataset>,
) -> Result<(StatusCode, axum::Json<DatasetOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(datasets::create(&s.db, id, input).await?),
    ))
}

/// Read a dataset (with its schema and row count).
#[utoipa::path(get, path = "/datasets/{id}", tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The dataset", body = DatasetOut),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_dataset(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::Json<DatasetOut>> {
    Ok(axum::Json(datasets::get(&s.db, id).await?))
}

/// Rename or describe a dataset.
#[utoipa::path(patch, path = "/datasets/{id}", tag = "datasets", request_body = DatasetPatch,
    params(("id" = i64, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The updated dataset", body = DatasetOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The version already has a dataset of that name", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_dataset(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<DatasetPatch>,
) -> Result<axum::Json<DatasetOut>> {
    Ok(axum::Json(datasets::update(&s.db, id, patch).await?))
}

/// Delete a dataset and its rows.
#[utoipa::path(delete, path = "/datasets/{id}", tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_dataset(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode> {
    datasets::delete(&s.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a dataset's rows.
#[utoipa::path(get, path = "/datasets/{id}/rows", tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id"), PageParams),
    responses(
        (status = 200, description = "A page of rows", body = Page<DatasetRowOut>),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid query parameter", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_rows(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<axum::Json<Page<DatasetRowOut>>> {
    Ok(axum::Json(datasets::rows(&s.db, id, &page).await?))
}

/// Add a row: every required variable, no unknown key.
#[utoipa::path(post, path = "/datasets/{id}/rows", tag = "datasets", request_body = NewRow,
    params(("id" = i64, Path, description = "Dataset id")),
    responses(
        (status = 201, description = "The row", body = DatasetRowOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A required variable is missing or a key is not a variable", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_row(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<NewRow>,
) -> Result<(StatusCode, axum::Json<DatasetRowOut>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(datasets::add_row(&s.db, id, input).await?),
    ))
}

/// Delete a row.
#[utoipa::path(delete, path = "/dataset-rows/{id}", tag = "datasets",
    params(("id" = i64, Path, description = "Row id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such row", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_row(State(s): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<StatusCode> {
    datasets::delete_row(&s.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Import rows from JSONL (`application/x-ndjson`) or CSV (`text/csv`, header row first),
/// streamed, up to 100,000 rows, all or nothing unless `skip_invalid=true`.
#[utoipa::path(post, path = "/datasets/{id}/import", tag = "datasets",
    params(("id" = i64, Path, description = "Dataset id"), ImportParams),
    request_body(description = "JSONL: one JSON object per line; CSV: a header row naming the variables, then one row per record", content(
        (String = "application/x-ndjson"),
        (String = "text/csv"),
    )),
    responses(
        (status = 201, description = "Rows created (and, with skip_invalid, the rejected lines)", body = ImportReport),
        (status = 400, description = "The body could not be read", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dataset", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSONL nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Rejected lines (line numbers in each field); nothing was imported", body = Problem, content_type = "application/problem+json"),
    ))]
async fn import_rows(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, axum::Json<ImportReport>)> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match essence.as_str() {
        "application/x-ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => ImportFormat::Jsonl,
        "text/csv" => ImportFormat::Csv,
        _ => {
            return Err(Error::UnsupportedMediaType(
                "Send `Content-Type: application/x-ndjson` (JSONL) or `text/csv`.".to_owned(),
            ));
        }
    };
    use futures_util::StreamExt;
    let stream = http_body_util::BodyDataStream::new(http_body_util::Limited::new(
        body,
        datasets::IMPORT_LIMIT,
    ))
    .map(|r| {
        r.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                Error::PayloadTooLarge(datasets::IMPORT_LIMIT)
            } else {
                Error::BadRequest(format!("reading the body failed: {e}"))
            }
        })
    });
    let report = datasets::import(
        &s.db,
        id,
        format,
        params.skip_invalid.unwrap_or(false),
        stream,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(report)))
}
