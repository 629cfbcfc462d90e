//! Evaluations: running a config's evaluator on a stored LLM response, listing them, and
//! manual scores recorded by people.
//!
//! An evaluator config that cannot run (a stored config its evaluator does not accept, an
//! unknown evaluator key; or a judge that cannot answer) is recorded
//! as an evaluation **in error** ([`error_row`]): score 0, `passed` null (no verdict),
//! `feedback` `Not evaluated: <reason>` and `metadata.error` the reason. The call it belongs
//! to is recorded all the same; version stats count such evaluations but leave them out of the
//! pass rate and the mean score.

use chrono::{DateTime, Utc};
use entity::evaluation::{self, EvaluationContext};
use entity::prelude::*;
use entity::{evaluator_config, llm_response};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};
use crate::evaluation::configs;
use crate::evaluation::evaluators::{self, EvaluationInput};
use crate::store::pagination::{Page, PageParams, newest_first, utc};
use crate::store::positional;
use crate::store::row_cache::{self, RowCache};
use crate::validation::Errors;

/// An evaluation as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EvaluationOut {
    pub id: i64,
    pub llm_response_id: i64,
    /// 0-100.
    pub score: f64,
    /// The evaluator's registry key (`manual` for people's scores).
    pub evaluator_key: String,
    pub evaluator_config_id: Option<i64>,
    /// The verdict; null for a manual score without one and for an evaluation in error.
    pub passed: Option<bool>,
    pub feedback: Option<String>,
    pub evaluation_context: EvaluationContext,
    /// `evaluator_config`: the config in force; `details`: the evaluator's findings; `error`
    /// (evaluations in error only): why the evaluator could not run (then `passed` is null and
    /// `score` 0).
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
}

impl From<evaluation::Model> for EvaluationOut {
    fn from(m: evaluation::Model) -> Self {
        EvaluationOut {
            id: m.id,
            llm_response_id: m.llm_response_id,
            score: m.score.to_f64().unwrap_or(0.0),
            evaluator_key: m.evaluator_type,
            evaluator_config_id: m.evaluator_config_id,
            passed: m.passed,
            feedback: m.feedback,
            evaluation_context: m.evaluation_context,
            metadata: m.metadata,
            created_at: utc(m.created_at),
        }
    }
}

/// Runs `config`'s (rule-based) evaluator on `response` and stores the evaluation (`context`,
/// linked to test run `run_id` when given).
/// `expected_output` comes from a prompt test, when there is one.
pub async fn run_config(
    db: &impl ConnectionTrait,
    config: &evaluator_config::Model,
    response: &llm_response::Model,
    expected_output: Option<&str>,
    context: EvaluationContext,
    run_id: Option<i64>,
) -> Result<evaluation::Model> {
    let row = row(config, response, expected_output, context, run_id);
    Ok(row.insert(db).await?)
}

/// The evaluation [`run_config`] stores, not yet stored: every column set but `id`.
/// Timestamps are whole microseconds (what both databases keep), so a row built from it after
/// the insert equals the stored one. A config that does not validate against its evaluator
/// (or has an unknown key) gives an evaluation in error
/// ([`error_row`]) instead of a score.
pub fn row(
    config: &evaluator_config::Model,
    response: &llm_response::Model,
    expected_output: Option<&str>,
    context: EvaluationContext,
    run_id: Option<i64>,
) -> evaluation::ActiveModel {
    let input = EvaluationInput {
        response_text: response.response_text.as_deref().unwrap_or(""),
        rendered_prompt: &response.rendered_prompt,
        variables: &response.variables_used,
        expected_output,
    };
    let outcome = match evaluators::evaluate(
        &config.evaluator_key,
        &config.config,
        config.threshold,
        &input,
    ) {
        Ok(outcome) => outcome,
        Err(errors) => {
            super::record_config_error(&config.evaluator_key);
            let reason = format!(
                "the stored evaluator config is not accepted: {}",
                describe(&errors)
            );
            return error_row(config, response, context, run_id, &reason);
        }
    };
    let now = crate::store::pagination::now_micros();
    evaluation::ActiveModel {
        llm_response_id: Set(response.id),
        prompt_version_id: Set(Some(response.prompt_version_id)),
        score: Set(Decimal::from_f64(outcome.score)
            .unwrap_or_default()
            .round_dp(2)),
        score_min: Set(Decimal::ZERO),
        score_max: Set(Decimal::ONE_HUNDRED),
        evaluator_type: Set(config.evaluator_key.clone()),
        evaluator_id: Set(Some(config.id.to_string())),
        feedback: Set(Some(outcome.feedback)),
        metadata: Set(
            json!({"evaluator_config": configs::snapshot(config), "details": outcome.details}),
        ),
        passed: Set(Some(outcome.passed)),
        evaluation_context: Set(context),
        evaluator_config_id: Set(Some(config.id)),
        prompt_test_run_id: Set(run_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// `field: message` for each error, joined with `; `.
pub fn describe(errors: &[crate::validation::FieldError]) -> String {
    errors
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// An evaluation in error for `config` on `response`, not yet stored: score 0, `passed` null,
/// `feedback` `Not evaluated: <reason>`, `metadata.error` the reason (and
/// `metadata.evaluator_config` the config in force, as for any evaluation).
pub fn error_row(
    config: &evaluator_config::Model,
    response: &llm_response::Model,
    context: EvaluationContext,
    run_id: Option<i64>,
    reason: &str,
) -> evaluation::ActiveModel {
    let now = crate::store::pagination::now_micros();
    evaluation::ActiveModel {
        llm_response_id: Set(response.id),
        prompt_version_id: Set(Some(response.prompt_version_id)),
        score: Set(Decimal::ZERO),
        score_min: Set(Decimal::ZERO),
        score_max: Set(Decimal::ONE_HUNDRED),
        evaluator_type: Set(config.evaluator_key.clone()),
        evaluator_id: Set(Some(config.id.to_string())),
        feedback: Set(Some(format!("Not evaluated: {reason}"))),
        metadata: Set(json!({"evaluator_config": configs::snapshot(config), "error": reason})),
        passed: Set(None),
        evaluation_context: Set(context),
        evaluator_config_id: Set(Some(config.id)),
        prompt_test_run_id: Set(run_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Stores an evaluation in error ([`error_row`]).
pub async fn record_error(
    db: &impl ConnectionTrait,
    config: &evaluator_config::Model,
    response: &llm_response::Model,
    context: EvaluationContext,
    run_id: Option<i64>,
    reason: &str,
) -> Result<evaluation::Model> {
    Ok(error_row(config, response, context, run_id, reason)
        .insert(db)
        .await?)
}

/// Why `evaluation` is in error, or `None` when it has a score ([`error_row`]).
pub fn error_of(evaluation: &evaluation::Model) -> Option<&str> {
    if evaluation.passed.is_some() {
        return None;
    }
    evaluation.metadata.get("error").and_then(Value::as_str)
}

/// Filters of `GET /api/v1/evaluations`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EvaluationFilter {
    pub evaluation_context: Option<EvaluationContext>,
    /// The evaluator's registry key.
    pub evaluator_key: Option<String>,
    /// Evaluations of this version's responses.
    pub version_id: Option<i64>,
    pub llm_response_id: Option<i64>,
    pub passed: Option<bool>,
}

/// One page of evaluations, newest first, as the JSON of a `Page<EvaluationOut>`.
///
/// On PostgreSQL the rows are serialised straight from the driver's buffers ([`ListedRow`],
/// [`crate::store::positional`]) and their JSON is cached per row, checked against each row's version
/// (`cache`, [`crate::store::row_cache`]); on SQLite through [`EvaluationOut`].
pub async fn list(
    db: &DatabaseConnection,
    cache: &RowCache,
    filter: &EvaluationFilter,
    page: &PageParams,
) -> Result<Vec<u8>> {
    let keyset = page.keyset()?;
    let mut cond = Condition::all();
    if let Some(c) = filter.evaluation_context {
        cond = cond.add(evaluation::Column::EvaluationContext.eq(c));
    }
    if let Some(k) = &filter.evaluator_key {
        cond = cond.add(evaluation::Column::EvaluatorType.eq(k.as_str()));
    }
    if let Some(id) = filter.llm_response_id {
        cond = cond.add(evaluation::Column::LlmResponseId.eq(id));
    }
    if let Some(p) = filter.passed {
        cond = cond.add(evaluation::Column::Passed.eq(p));
    }
    if let Some(v) = filter.version_id {
        cond = cond.add(evaluation::Column::PromptVersionId.eq(v));
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let statements = row_cache::PageStatements::newest_first::<Evaluation>(
            &LISTED_COLUMNS,
            evaluation::Column::Id,
            cond,
            keyset,
        );
        let fetched = cache.fetch(db, statements).await?;
        let rows = fetched.read(ListedRow::read)?;
        return cache.page_json(&fetched, rows, ROW_BYTES);
    }
    let query = newest_first(Evaluation::find(), evaluation::Column::Id, cond, keyset);
    let rows = crate::store::pagination::rows(db, &query).await?;
    let page = Page::from_rows(rows, keyset, |r| r.id, EvaluationOut::from);
    page.to_json(ROW_BYTES)
}

/// Room reserved per listed evaluation when serialising a page (its metadata holds the config
/// in force and the evaluator's findings: typically 0.5-1 KB).
const ROW_BYTES: usize = 1024;

/// The columns a [`ListedRow`] reads, in its order.
const LISTED_COLUMNS: [evaluation::Column; 10] = {
    use evaluation::Column::*;
    [
        Id,
        LlmResponseId,
        Score,
        EvaluatorType,
        EvaluatorConfigId,
        Passed,
        Feedback,
        EvaluationContext,
        Metadata,
        CreatedAt,
    ]
};

/// A listed evaluation borrowed from its PostgreSQL row: serialises as [`EvaluationOut`]
/// does, field for field in the same order. `metadata` is PostgreSQL's `jsonb` text
/// ([`crate::store::positional`]).
#[derive(Serialize)]
struct ListedRow<'r> {
    id: i64,
    llm_response_id: i64,
    score: f64,
    evaluator_key: &'r str,
    evaluator_config_id: Option<i64>,
    passed: Option<bool>,
    feedback: Option<&'r str>,
    evaluation_context: EvaluationContext,
    metadata: &'r RawValue,
    created_at: DateTime<Utc>,
}

impl<'r> ListedRow<'r> {
    /// Reads [`LISTED_COLUMNS`] after `id` (read by [`row_cache::Fetched::read`]).
    fn read(id: i64, c: &mut positional::Columns<'r>) -> std::result::Result<Self, DbErr> {
        Ok(ListedRow {
            id,
            llm_response_id: c.next("llm_response_id")?,
            score: c.next::<Decimal>("score")?.to_f64().unwrap_or(0.0),
            evaluator_key: c.next("evaluator_type")?,
            evaluator_config_id: c.next("evaluator_config_id")?,
            passed: c.next("passed")?,
            feedback: c.next("feedback")?,
            evaluation_context: positional::string_enum(c.next("evaluation_context")?)?,
            metadata: c.next("metadata")?,
            created_at: utc(c.next("created_at")?),
        })
    }
}

/// The evaluations of one response, oldest first.
pub async fn of_response(
    db: &impl ConnectionTrait,
    response_id: i64,
) -> Result<Vec<EvaluationOut>> {
    Ok(Evaluation::find()
        .filter(evaluation::Column::LlmResponseId.eq(response_id))
        .order_by_asc(evaluation::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(EvaluationOut::from)
        .collect())
}

/// Body of `POST /api/v1/llm-responses/{id}/evaluations`: a person's score.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualEvaluation {
    /// 0-100.
    #[schema(minimum = 0, maximum = 100)]
    pub score: f64,
    /// Default: unset.
    pub passed: Option<bool>,
    pub feedback: Option<String>,
    /// Recorded as the evaluator key; default `manual`.
    #[schema(min_length = 1, max_length = 100)]
    pub evaluator_key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// Records a manual evaluation (context `manual`). 404 without the response, 422 for a
/// score outside 0-100.
pub async fn create_manual(
    db: &DatabaseConnection,
    response_id: i64,
    input: ManualEvaluation,
) -> Result<EvaluationOut> {
    let response = LlmResponse::find_by_id(response_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("LLM response", response_id))?;
    let mut errors = Errors::default();
    if !(0.0..=100.0).contains(&input.score) {
        errors.add("score", "must be between 0 and 100");
    }
    let key = input.evaluator_key.unwrap_or_else(|| "manual".to_owned());
    if key.trim().is_empty() || key.len() > 100 {
        errors.add("evaluator_key", "must be 1-100 characters");
    }
    errors.finish().map_err(Error::Validation)?;
    let now = Utc::now().naive_utc();
    let row = evaluation::ActiveModel {
        llm_response_id: Set(response_id),
        prompt_version_id: Set(Some(response.prompt_version_id)),
        score: Set(Decimal::from_f64(input.score)
            .unwrap_or_default()
            .round_dp(2)),
        score_min: Set(Decimal::ZERO),
        score_max: Set(Decimal::ONE_HUNDRED),
        evaluator_type: Set(key),
        evaluator_id: Set(None),
        feedback: Set(input.feedback),
        metadata: Set(Value::Object(input.metadata)),
        passed: Set(input.passed),
        evaluation_context: Set(EvaluationContext::Manual),
        evaluator_config_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?.into())
}

/// Evaluator configs by id (for the background runner).
pub async fn configs_by_id(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<evaluator_config::Model>> {
    Ok(EvaluatorConfig::find()
        .filter(evaluator_config::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(evaluator_config::Column::Priority)
        .order_by_asc(evaluator_config::Column::Id)
        .all(db)
        .await?)
}
