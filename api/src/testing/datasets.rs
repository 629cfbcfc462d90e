//! Datasets of a version: rows of variable values that test runs iterate over.
//!
//! A row must hold every required variable of the version's `variables_schema` and no key the
//! schema does not name (422 otherwise). Imports take JSONL (one JSON object per line) or CSV
//! (a header row names the variables), are streamed (rows are validated and written as they
//! arrive, in one transaction), hold at most [`MAX_IMPORT_ROWS`] rows, and are all-or-nothing:
//! with any rejected row nothing is stored and every rejected line is reported (unless
//! `skip_invalid` asks to store the valid rows and report the rest).

use chrono::{DateTime, Utc};
use entity::dataset_row::{self, RowSource};
use entity::prelude::*;
use entity::{VariablesSchema, dataset};
use futures_util::{Stream, StreamExt};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};
use crate::prompts::versions;
use crate::store::pagination::{Page, PageParams, utc};
use crate::validation::{Errors, FieldError};

/// Largest import body, bytes (64 MiB; other routes keep 1 MiB).
pub const IMPORT_LIMIT: usize = 64 << 20;

/// Most rows one import may hold.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// Rows written per INSERT during an import.
const CHUNK: usize = 1_000;
/// Rejected lines reported at most (the count is always exact).
const MAX_REPORTED: usize = 1_000;

/// A dataset as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DatasetOut {
    pub id: i64,
    pub prompt_version_id: i64,
    /// Unique per version.
    pub name: String,
    pub description: Option<String>,
    /// The version's `variables_schema`, which every row follows.
    pub schema: Vec<entity::VariableDefinition>,
    pub row_count: u64,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A dataset row as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DatasetRowOut {
    pub id: i64,
    pub dataset_id: i64,
    /// Variable name -> value.
    #[schema(value_type = Object)]
    pub row_data: Value,
    pub source: RowSource,
    pub line_number: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl From<dataset_row::Model> for DatasetRowOut {
    fn from(m: dataset_row::Model) -> Self {
        DatasetRowOut {
            id: m.id,
            dataset_id: m.dataset_id,
            row_data: m.row_data,
            source: m.source,
            line_number: m.line_number,
            created_at: utc(m.created_at),
        }
    }
}

/// Body of `POST /api/v1/versions/{version_id}/datasets`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    /// Unique per version, 1-255 characters.
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// Body of `PATCH /api/v1/datasets/{id}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// Body of `POST /api/v1/datasets/{id}/rows`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRow {
    /// Variable name -> value: every required variable, no unknown key.
    #[schema(value_type = Object)]
    pub row_data: Map<String, Value>,
    /// Default `manual`.
    pub source: Option<RowSource>,
}

/// `?skip_invalid=` of an import.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `true`: store the valid rows and report the rejected ones; default: all or nothing.
    pub skip_invalid: Option<bool>,
}

/// One rejected line of an import.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RejectedLine {
    /// 1-based line of the file (CSV: the header is line 1).
    pub line: u64,
    pub errors: Vec<FieldError>,
}

/// What an import did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ImportReport {
    pub created: u64,
    pub rejected_count: u64,
    /// The rejected lines (the first 1,000).
    pub rejected: Vec<RejectedLine>,
}

/// The import formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// One JSON object per line (`application/x-ndjson`, `application/jsonl`).
    Jsonl,
    /// A header row, then one row per record (`text/csv`).
    Csv,
}

/// Checks a row against a schema: required variables present, no unknown key. Fields are
/// `row_data.<name>`.
pub fn check_row(schema: &VariablesSchema, row: &Map<String, Value>) -> Vec<FieldError> {
    let mut errors = Errors::default();
    for var in &schema.0 {
        if var.required && var.default.is_none() && row.get(&var.name).is_none_or(Value::is_null) {
            errors.add(format!("row_data.{}", var.name), "is required");
        }
    }
    for key in row.keys() {
        if !schema.0.iter().any(|v| &v.name == key) {
            let known: Vec<&str> = schema.0.iter().map(|v| v.name.as_str()).collect();
            errors.add(
                format!("row_data.{key}"),
                format!(
                    "is not a variable of the version (variables: {})",
                    known.join(", ")
                ),
            );
        }
    }
    errors.0
}

async fn out(db: &impl ConnectionTrait, m: dataset::Model) -> Result<DatasetOut> {
    let version = versions::find(db, m.prompt_version_id).await?;
    let row_count = DatasetRow::find()
        .filter(dataset_row::Column::DatasetId.eq(m.id))
        .count(db)
        .await?;
    Ok(to_out(m, version.variables_schema.0, row_count))
}

fn to_out(
    m: dataset::Model,
    schema: Vec<entity::VariableDefinition>,
    row_count: u64,
) -> DatasetOut {
    DatasetOut {
        id: m.id,
        prompt_version_id: m.prompt_version_id,
        name: m.name,
        description: m.description,
        schema,
        row_count,
        metadata: m.metadata,
        created_at: utc(m.created_at),
        updated_at: utc(m.updated_at),
    }
}

/// Reads one dataset. 404 when absent.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<dataset::Model> {
    Dataset::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("dataset", id))
}

/// A dataset with its row count and schema.
pub async fn get(db: &DatabaseConnection, id: i64) -> Result<DatasetOut> {
    out(db, find(db, id).await?).await
}

async fn name_taken(
    db: &impl ConnectionTrait,
    version_id: i64,
    name: &str,
    except: Option<i64>,
) -> Result<bool> {
    let mut q = Dataset::find()
        .filter(dataset::Column::PromptVersionId.eq(version_id))
        .filter(dataset::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(dataset::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

/// Creates a dataset on a version. 404 without the version, 409 on a taken name.
pub async fn create(
    db: &DatabaseConnection,
    version_id: i64,
    input: NewDataset,
) -> Result<DatasetOut> {
    versions::find(db, version_id).await?;
    let mut errors = Errors::default();
    errors.check_name("name", &input.name);
    errors.finish().map_err(Error::Validation)?;
    if name_taken(db, version_id, &input.name, None).await? {
        return Err(Error::Conflict(format!(
            "Version {version_id} already has a dataset named {:?}.",
            input.name
        )));
    }
    let now = Utc::now().naive_utc();
    let m = dataset::ActiveModel {
        prompt_version_id: Set(version_id),
        name: Set(input.name),
        description: Set(input.description),
        metadata: Set(Value::Object(input.metadata)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    out(db, m).await
}

/// The datasets of a version.
pub async fn list(
    db: &DatabaseConnection,
    version_id: i64,
    page: &PageParams,
) -> Result<Page<DatasetOut>> {
    let version = versions::find(db, version_id).await?;
    let keyset = page.keyset()?;
    let mut q = Dataset::find()
        .filter(dataset::Column::PromptVersionId.eq(version_id))
        .order_by_asc(dataset::Column::Id)
        .limit(keyset.limit + 1);
    if let Some(after) = keyset.after {
        q = q.filter(dataset::Column::Id.gt(after));
    }
    let rows = crate::store::pagination::rows(db, &q).await?;
    // Every dataset's row count in one grouped query (not one count per dataset).
    let counts: std::collections::HashMap<i64, i64> = DatasetRow::find()
        .select_only()
        .column(dataset_row::Column::DatasetId)
        .column_as(dataset_row::Column::Id.count(), "n")
        .filter(dataset_row::Column::DatasetId.is_in(rows.iter().map(|d| d.id)))
        .group_by(dataset_row::Column::DatasetId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let schema = version.variables_schema.0;
    Ok(Page::from_rows(
        rows,
        keyset,
        |d| d.id,
        |d| {
            let n = counts.get(&d.id).copied().unwrap_or(0);
            to_out(d, schema.clone(), u64::try_from(n).unwrap_or(0))
        },
    ))
}

/// Renames or describes a dataset.
pub async fn update(db: &DatabaseConnection, id: i64, patch: DatasetPatch) -> Result<DatasetOut> {
    let current = find(db, id).await?;
    let mut errors = Errors::default();
    if let Some(n) = &patch.name {
        errors.check_name("name", n);
    }
    errors.finish().map_err(Error::Validation)?;
    if let Some(n) = &patch.name
        && name_taken(db, current.prompt_version_id, n, Some(id)).await?
    {
        return Err(Error::Conflict(format!(
            "Version {} already has a dataset named {n:?}.",
            current.prompt_version_id
        )));
    }
    let mut row: dataset::ActiveModel = current.into();
    if let Some(n) = patch.name {
        row.name = Set(n);
    }
    if let Some(d) = patch.description {
        row.description = Set(d);
    }
    if let Some(m) = patch.metadata {
        row.metadata = Set(Value::Object(m));
    }
    row.updated_at = Set(Utc::now().naive_utc());
    let m = row.update(db).await?;
    out(db, m).await
}

/// Deletes a dataset and its rows (runs keep the variables they ran with).
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<()> {
    let d = find(db, id).await?;
    let txn = db.begin().await?;
    DatasetRow::delete_many()
        .filter(dataset_row::Column::DatasetId.eq(id))
        .exec(&txn)
        .await?;
    d.delete(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// Adds one row. 422 naming each missing variable and unknown key.
pub async fn add_row(
    db: &DatabaseConnection,
    dataset_id: i64,
    input: NewRow,
) -> Result<DatasetRowOut> {
    let d = find(db, dataset_id).await?;
    let version = versions::find(db, d.prompt_version_id).await?;
    let errors = check_row(&version.variables_schema, &input.row_data);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let now = Utc::now().naive_utc();
    Ok(dataset_row::ActiveModel {
        dataset_id: Set(dataset_id),
        row_data: Set(Value::Object(input.row_data)),
        source: Set(input.source.unwrap_or(RowSource::Manual)),
        line_number: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?
    .into())
}

/// The rows of a dataset, by id.
pub async fn rows(
    db: &DatabaseConnection,
    dataset_id: i64,
    page: &PageParams,
) -> Result<Page<DatasetRowOut>> {
    find(db, dataset_id).await?;
    let keyset = page.keyset()?;
    let mut q = DatasetRow::find()
        .filter(dataset_row::Column::DatasetId.eq(dataset_id))
        .order_by_asc(dataset_row::Column::Id)
        .limit(keyset.limit + 1);
    if let Some(after) = keyset.after {
        q = q.filter(dataset_row::Column::Id.gt(after));
    }
    Ok(Page::from_rows(
        crate::store::pagination::rows(db, &q).await?,
        keyset,
        |r| r.id,
        DatasetRowOut::from,
    ))
}

/// Every row's variables, in id order (for a run over the dataset).
pub async fn all_rows(
    db: &impl ConnectionTrait,
    dataset_id: i64,
) -> Result<Vec<Map<String, Value>>> {
    let rows: Vec<Value> = DatasetRow::find()
        .select_only()
        .column(dataset_row::Column::RowData)
        .filter(dataset_row::Column::DatasetId.eq(dataset_id))
        .order_by_asc(dataset_row::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|v| v.as_object().cloned().unwrap_or_default())
        .collect())
}

/// Deletes one row.
pub async fn delete_row(db: &DatabaseConnection, id: i64) -> Result<()> {
    let row = DatasetRow::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("dataset row", id))?;
    row.delete(db).await?;
    Ok(())
}

struct Importer {
    schema: VariablesSchema,
    dataset_id: i64,
    pending: Vec<dataset_row::ActiveModel>,
    created: u64,
    rejected_count: u64,
    rejected: Vec<RejectedLine>,
    seen: usize,
}

impl Importer {
    fn reject(&mut self, line: u64, errors: Vec<FieldError>) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_REPORTED {
            self.rejected.push(RejectedLine { line, errors });
        }
    }

    async fn take(
        &mut self,
        db: &impl ConnectionTrait,
        line: u64,
        row: Map<String, Value>,
    ) -> Result<()> {
        self.seen += 1;
        if self.seen > MAX_IMPORT_ROWS {
            return Err(Error::invalid(
                "body",
                format!("holds more than {MAX_IMPORT_ROWS} rows"),
            ));
        }
        let errors = check_row(&self.schema, &row);
        if !errors.is_empty() {
            self.reject(line, errors);
            return Ok(());
        }
        let now = Utc::now().naive_utc();
        self.pending.push(dataset_row::ActiveModel {
            dataset_id: Set(self.dataset_id),
            row_data: Set(Value::Object(row)),
            source: Set(RowSource::Imported),
            line_number: Set(i32::try_from(line).ok()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        if self.pending.len() >= CHUNK {
            self.flush(db).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, db: &impl ConnectionTrait) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.created += batch.len() as u64;
        DatasetRow::insert_many(batch).exec(db).await?;
        Ok(())
    }
}

/// Imports rows from a streamed body of `format`. See the module docs for the rules.
pub async fn import<S>(
    db: &DatabaseConnection,
    dataset_id: i64,
    format: ImportFormat,
    skip_invalid: bool,
    body: S,
) -> Result<ImportReport>
where
    S: Stream<Item = Result<bytes::Bytes>> + Send + Unpin,
{
    let d = find(db, dataset_id).await?;
    let version = versions::find(db, d.prompt_version_id).await?;
    let txn = crate::store::begin_write(db).await?;
    let mut imp = Importer {
        schema: version.variables_schema,
        dataset_id,
        pending: Vec::new(),
        created: 0,
        rejected_count: 0,
        rejected: Vec::new(),
        seen: 0,
    };
    match format {
        ImportFormat::Jsonl => import_jsonl(&txn, &mut imp, body).await?,
        ImportFormat::Csv => import_csv(&txn, &mut imp, body).await?,
    }
    if imp.rejected_count > 0 && !skip_invalid {
        txn.rollback().await?;
        let mut errors = Vec::new();
        for r in imp.rejected.iter().take(100) {
            for e in &r.errors {
                errors.push(FieldError::new(
                    format!("line {}: {}", r.line, e.field),
                    e.message.clone(),
                ));
            }
        }
        return Err(Error::Validation(errors));
    }
    imp.flush(&txn).await?;
    if imp.created == 0 && imp.rejected_count == 0 {
        txn.rollback().await?;
        return Err(Error::invalid("body", "holds no rows"));
    }
    txn.commit().await?;
    Ok(ImportReport {
        created: imp.created,
        rejected_count: imp.rejected_count,
        rejected: imp.rejected,
    })
}

/// A body read error carried through the CSV reader: (message, over the size limit).
#[derive(Debug)]
struct BodyError(String, bool);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

async fn import_jsonl<S>(db: &impl ConnectionTrait, imp: &mut Importer, mut body: S) -> Result<()>
where
    S: Stream<Item = Result<bytes::Bytes>> + Unpin,
{
    let mut buffer: Vec<u8> = Vec::new();
    let mut line: u64 = 0;
    let handle = |imp: &mut Importer, raw: &[u8], line: u64| -> Option<Map<String, Value>> {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Some(map),
            Ok(_) => {
                imp.reject(line, vec![FieldError::new("row", "is not a JSON object")]);
                None
            }
            Err(e) => {
                imp.reject(
                    line,
                    vec![FieldError::new("row", format!("is not valid JSON: {e}"))],
                );
                None
            }
        }
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        buffer.extend_from_slice(&chunk);
        while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = buffer.drain(..=pos).collect();
            line += 1;
            if let Some(row) = handle(imp, &raw, line) {
                imp.take(db, line, row).await?;
            }
        }
    }
    if !buffer.is_empty() {
        line += 1;
        if let Some(row) = handle(imp, &buffer, line) {
            imp.take(db, line, row).await?;
        }
    }
    Ok(())
}

async fn import_csv<S>(db: &impl ConnectionTrait, imp: &mut Importer, body: S) -> Result<()>
where
    S: Stream<Item = Result<bytes::Bytes>> + Send + Unpin,
{
    // A body error (e.g. over the limit) travels through the CSV reader as an io::Error
    // carrying our Error, and comes back out unchanged.
    let stream = body.map(|r| {
        r.map_err(|e| {
            std::io::Error::other(BodyError(
                e.to_string(),
                matches!(e, Error::PayloadTooLarge(_)),
            ))
        })
    });
    let reader = tokio_util::io::StreamReader::new(stream);
    let mut csv = csv_async::AsyncReaderBuilder::new()
        .flexible(false)
        .create_reader(reader);
    let headers: Vec<String> = csv
        .headers()
        .await
        .map_err(|e| {
            body_error(&e).unwrap_or_else(|| {
                Error::invalid(
                    "body",
                    format!("line 1: the CSV header cannot be read: {e}"),
                )
            })
        })?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if headers.is_empty() || headers.iter().any(String::is_empty) {
        return Err(Error::invalid(
            "body",
            "line 1: the CSV header must name every column",
        ));
    }
    let mut records = csv.records();
    while let Some(record) = records.next().await {
        match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                let row: Map<String, Value> = headers
                    .iter()
                    .zip(r.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(h, v)| (h.clone(), Value::String(v.to_owned())))
                    .collect();
                imp.take(db, line, row).await?;
            }
            Err(e) => {
                if let Some(err) = body_error(&e) {
                    return Err(err);
                }
                let line = e.position().map_or(0, |p| p.line());
                imp.reject(
                    line,
                    vec![FieldError::new("row", format!("is not valid CSV: {e}"))],
                );
                if !matches!(e.kind(), csv_async::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The body error behind a CSV read error, if that is what it is.
fn body_error(e: &csv_async::Error) -> Option<Error> {
    let csv_async::ErrorKind::Io(io) = e.kind() else {
        return None;
    };
    let BodyError(message, too_large) = io.get_ref()?.downcast_ref::<BodyError>()?;
    Some(if *too_large {
        Error::PayloadTooLarge(IMPORT_LIMIT)
    } else {
        Error::BadRequest(message.clone())
    })
}
