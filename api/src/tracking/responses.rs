//! Tracked calls: `POST /api/v1/llm-responses` records one LLM call a client app made with a
//! prompt version, renders its prompts server-side, costs it from the price table, and runs
//! the version's evaluators (`sync` ones before answering, `async` ones in the background).
//! An `Idempotency-Key` makes retries safe: same key and body, same answer, one row. The row
//! is validated and written by [`crate::tracking::calls`], the one writer of LLM-call rows.

use chrono::{DateTime, Utc};
use entity::evaluation::EvaluationContext;
use entity::evaluator_config::RunMode;
use entity::job::JobKind;
use entity::llm_response::{self, ResponseStatus};
use entity::prelude::*;
use entity::{evaluation, idempotency_key, prompt_version};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult, JoinType, QueryFilter,
    QuerySelect, RelationTrait, Set, TryIntoModel,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::catalog::pricing::PriceTable;
use crate::error::{Error, Result};
use crate::evaluation::evaluations::{self, EvaluationOut};
use crate::store::pagination::{Page, PageParams, newest_first, utc};
use crate::store::positional;
use crate::store::row_cache::{self, RowCache};
use crate::tracking::calls::{self, LlmCall, ResponseRow, Source};
use crate::tracking::version_cache::{Key, Resolved, VersionCache};
use crate::validation::Errors;
use crate::{jobs, prompts::templates};

/// Body of `POST /api/v1/llm-responses`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackRequest {
    /// The prompt by slug; its active version is used unless `prompt_version_id` is given.
    pub prompt_slug: Option<String>,
    /// The version used (must belong to `prompt_slug`'s prompt when both are given).
    pub prompt_version_id: Option<i64>,
    /// Values of the version's variables: the prompts are rendered server-side.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    pub response_text: Option<String>,
    /// Default `success`.
    pub status: Option<ResponseStatus>,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// Wall time of the call, ms (>= 0).
    #[schema(minimum = 0)]
    pub response_time_ms: Option<i32>,
    /// Input tokens (>= 0).
    #[schema(minimum = 0)]
    pub tokens_prompt: Option<i32>,
    /// Output tokens (>= 0).
    #[schema(minimum = 0)]
    pub tokens_completion: Option<i32>,
    /// Derived as prompt + completion when absent.
    #[schema(minimum = 0)]
    pub tokens_total: Option<i32>,
    /// USD; computed from the price table when absent (null for unknown models).
    #[schema(minimum = 0, exclusive_maximum = 10000)]
    pub cost_usd: Option<f64>,
    /// Default: the version's model config (a compound value such as `openai_responses` is split).
    pub provider: Option<String>,
    pub api: Option<String>,
    pub model: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub environment: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub context: Map<String, Value>,
    /// Provider metadata (response id, finish reason...).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub response_metadata: Map<String, Value>,
}

/// An LLM response as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LlmResponseOut {
    pub id: i64,
    pub prompt_id: i64,
    pub prompt_version_id: i64,
    pub rendered_prompt: String,
    pub rendered_system_prompt: Option<String>,
    #[schema(value_type = Object)]
    pub variables_used: Value,
    pub response_text: Option<String>,
    #[schema(value_type = Object)]
    pub response_metadata: Value,
    pub status: ResponseStatus,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub response_time_ms: Option<i32>,
    pub tokens_prompt: Option<i32>,
    pub tokens_completion: Option<i32>,
    pub tokens_total: Option<i32>,
    /// USD; null when unknown.
    pub cost_usd: Option<f64>,
    pub provider: String,
    pub api: Option<String>,
    pub model: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub environment: Option<String>,
    #[schema(value_type = Object)]
    pub context: Value,
    /// True for calls made by prompt test runs.
    pub is_test_run: bool,
    pub created_at: DateTime<Utc>,
    /// Evaluations of this response (on create: the `sync` evaluators' results).
    pub evaluations: Vec<EvaluationOut>,
}

impl LlmResponseOut {
    fn new(m: llm_response::Model, prompt_id: i64, evaluations: Vec<EvaluationOut>) -> Self {
        LlmResponseOut {
            id: m.id,
            prompt_id,
            prompt_version_id: m.prompt_version_id,
            rendered_prompt: m.rendered_prompt,
            rendered_system_prompt: m.rendered_system_prompt,
            variables_used: m.variables_used,
            response_text: m.response_text,
            response_metadata: m.response_metadata,
            status: m.status,
            error_type: m.error_type,
            error_message: m.error_message,
            response_time_ms: m.response_time_ms,
            tokens_prompt: m.tokens_prompt,
            tokens_completion: m.tokens_completion,
            tokens_total: m.tokens_total,
            cost_usd: m.cost_usd.and_then(|c| c.to_f64()),
            provider: m.provider,
            api: m.api,
            model: m.model,
            user_id: m.user_id,
            session_id: m.session_id,
            environment: m.environment,
            context: m.context,
            is_test_run: m.is_test_run,
            created_at: utc(m.created_at),
            evaluations,
        }
    }
}

/// What a tracking request answered, and the async evaluators left to run.
pub struct Tracked {
    /// 201 for a new row; the stored status for a replay.
    pub status: u16,
    pub body: Value,
    /// True when the answer is a replay of an earlier request with the same key.
    pub replayed: bool,
    /// Whether background evaluations were enqueued (wake the workers).
    pub queued: bool,
}

impl Tracked {
    /// The answer for a new row: 201, not a replay.
    fn created(body: Value, queued: bool) -> Self {
        Tracked {
            status: 201,
            body,
            replayed: false,
            queued,
        }
    }
}

/// How many times a tracked call re-reads its version when it changed concurrently.
const ATTEMPTS: usize = 3;

/// Records a tracked call. See the module docs; `idempotency` is (key, SHA-256 of the body).
///
/// What the call reads (version, prompt, enabled configs) comes from `cache`
/// ([`crate::tracking::version_cache`]), checked against the version's `revision` by the insert itself.
/// The `sync` evaluators run before anything is written. On PostgreSQL a call without an
/// `Idempotency-Key` or `async` evaluators is then one statement, one round trip
/// ([`calls::insert_checked_with_evaluations`]: the response, `INSERT ... SELECT ... WHERE
/// EXISTS`, and its evaluations as data-modifying CTEs, atomic on their own). Otherwise
/// everything happens on one connection in one transaction ([`crate::store::begin_write`]):
/// the idempotency claim, the response, its evaluations (one multi-row insert), the
/// idempotency answer and the async job. Nothing is stored when any step fails.
///
/// # Errors
/// 422 for invalid input (after a fresh read, never from a stale cache entry), 409 while an
/// earlier request with the same key is in flight or when the version kept changing during
/// [`ATTEMPTS`] tries.
pub async fn track(
    db: &DatabaseConnection,
    cache: &VersionCache,
    prices: &PriceTable,
    req: TrackRequest,
    idempotency: Option<(String, String)>,
) -> Result<Tracked> {
    if let Some((key, _)) = &idempotency
        && (key.is_empty() || key.len() > 255)
    {
        return Err(Error::invalid(
            "Idempotency-Key",
            "must be 1-255 characters",
        ));
    }
    if let Some((key, hash)) = &idempotency
        && let Some(found) = replay(db, key, hash).await?
    {
        return Ok(found);
    }
    let key = Key::of(req.prompt_slug.as_deref(), req.prompt_version_id)?;
    let mut cached = cache.get(&key);
    for _ in 0..ATTEMPTS {
        let fresh = cached.is_none();
        let resolved = match cached.take() {
            Some(hit) => hit,
            None => cache.load(db, &key).await?,
        };
        let prepared = match prepare(&resolved, prices, &req) {
            Ok(prepared) => prepared,
            // The entry may predate the change that makes this request valid.
            Err(_) if !fresh => continue,
            Err(e) => return Err(e),
        };
        if idempotency.is_none()
            && prepared.async_ids.is_empty()
            && db.get_database_backend() == DbBackend::Postgres
        {
            match write_one(db, &resolved, prepared).await? {
                Some(tracked) => return Ok(tracked),
                None => {
                    cache.forget(&key);
                    continue;
                }
            }
        }
        let txn = crate::store::begin_write(db).await?;
        match write(&txn, &resolved, prepared, idempotency.as_ref()).await {
            Ok(Some(tracked)) => {
                txn.commit().await?;
                return Ok(tracked);
            }
            Ok(None) => {
                // The version changed since `resolved` was read: read it again.
                txn.rollback().await?;
                cache.forget(&key);
            }
            Err(TrackError::Failed(e)) => {
                txn.rollback().await?;
                return Err(e);
            }
            Err(TrackError::KeyTaken(e)) => {
                txn.rollback().await?;
                // A concurrent request with the same key committed first: answer as it did.
                if let Some((key, hash)) = &idempotency
                    && let Some(found) = replay(db, key, hash).await?
                {
                    return Ok(found);
                }
                return Err(e);
            }
        }
    }
    Err(Error::Conflict(
        "The prompt version kept changing while the call was being recorded; retry.".to_owned(),
    ))
}

/// Why [`write`] stopped: `KeyTaken` when inserting the idempotency key hit a concurrent
/// request's key (the transaction is then aborted; the caller replays outside it).
enum TrackError {
    Failed(Error),
    KeyTaken(Error),
}

impl<E: Into<Error>> From<E> for TrackError {
    fn from(e: E) -> Self {
        TrackError::Failed(e.into())
    }
}

/// Validates `req` against `resolved`, renders its prompts, costs it and runs its `sync`
/// evaluators: everything to write. 422 naming every invalid field (those of the row itself
/// by [`calls::normalise`], the one validation of every LLM call).
fn prepare(resolved: &Resolved, prices: &PriceTable, req: &TrackRequest) -> Result<Prepared> {
    let version = &resolved.version;
    let mut errors = Errors::default();
    if let (Some(slug), Some(id)) = (&req.prompt_slug, req.prompt_version_id)
        && &resolved.prompt_slug != slug
    {
        errors.add(
            "prompt_version_id",
            format!("version {id} is not a version of prompt {slug:?}"),
        );
    }
    let rendered =
        match templates::resolve(&version.variables_schema, &req.variables).and_then(|values| {
            templates::render(
                version.system_prompt.as_deref(),
                &version.user_prompt,
                &values,
            )
            .map(|r| (values, r))
        }) {
            Ok(ok) => Some(ok),
            Err(e) => {
                errors.0.extend(e);
                None
            }
        };
    // Provider/api/model default to the version's; a compound provider is split (seed 002).
    let (provider, api) = entity::model_config::normalise(
        req.provider
            .clone()
            .or_else(|| version.model_config.provider.clone()),
        req.api.clone().or_else(|| {
            if req.provider.is_none() {
                version.model_config.api.clone()
            } else {
                None
            }
        }),
    );
    let provider = provider.unwrap_or_else(|| "openai".to_owned());
    let model = req
        .model
        .clone()
        .or_else(|| version.model_config.model.clone())
        .unwrap_or_default();
    if model.is_empty() {
        errors.add(
            "model",
            "is required: the version's model_config names no model",
        );
    }
    // When rendering failed, `errors` says so and the call is only checked (never written).
    let (variables, rendered_prompt, rendered_system_prompt) = match rendered {
        Some((values, r)) => (values, r.user, r.system),
        None => (Map::new(), String::new(), None),
    };
    let call = LlmCall {
        source: Source::TrackedCall,
        prompt_version_id: version.id,
        rendered_prompt,
        rendered_system_prompt,
        variables,
        response_text: req.response_text.clone(),
        status: req.status.unwrap_or(ResponseStatus::Success),
        error_type: req.error_type.clone(),
        error_message: req.error_message.clone(),
        response_time_ms: req.response_time_ms.map(i64::from),
        tokens_prompt: req.tokens_prompt.map(i64::from),
        tokens_completion: req.tokens_completion.map(i64::from),
        tokens_total: req.tokens_total.map(i64::from),
        cost_usd: req.cost_usd,
        provider,
        api,
        model,
        user_id: req.user_id.clone(),
        session_id: req.session_id.clone(),
        environment: req.environment.clone(),
        context: req.context.clone(),
        response_metadata: req.response_metadata.clone(),
    };
    let response = match calls::normalise(call, prices) {
        Ok(response) => Some(response),
        Err(e) => {
            errors.0.extend(e);
            None
        }
    };
    errors.finish().map_err(Error::Validation)?;
    let Some(response) = response else {
        return Err(Error::Internal(
            "normalise failed without an error".to_owned(),
        ));
    };
    // Evaluators read the response's text, prompt and variables, never its id: they run
    // before the insert, so the database is only held for the writes.
    let mut evaluations = Vec::new();
    let mut async_ids = Vec::new();
    for config in &resolved.configs {
        if runs_inline(config) {
            // A config that cannot run gives an evaluation in error, never a failed call.
            evaluations.push(evaluations::row(
                config,
                response.model(),
                None,
                EvaluationContext::TrackedCall,
                None,
            ));
        } else {
            async_ids.push(config.id);
        }
    }
    Ok(Prepared {
        response,
        evaluations,
        async_ids,
    })
}

/// Whether `config` runs before the reply: `sync`, and not a remote evaluator (`llm_judge`
/// never runs inside a request).
fn runs_inline(config: &entity::evaluator_config::Model) -> bool {
    config.run_mode == RunMode::Sync
        && crate::evaluation::evaluators::get(&config.evaluator_key).is_some_and(|e| !e.is_remote())
}

/// A validated tracked call, ready to write.
struct Prepared {
    /// The response row; `id` is 0 until it is inserted.
    response: ResponseRow,
    /// Results of the `sync` evaluators, in config order; `llm_response_id` is set on insert.
    evaluations: Vec<evaluation::ActiveModel>,
    /// The `async` configs, left to a background job.
    async_ids: Vec<i64>,
}

/// Sets the ids of a written call and builds its answer (the `LlmResponseOut` as JSON).
fn written(
    resolved: &Resolved,
    prepared: Prepared,
    id: i64,
    evaluation_ids: Vec<i64>,
) -> Result<Value> {
    if evaluation_ids.len() != prepared.evaluations.len() {
        return Err(Error::Internal(format!(
            "{} evaluations inserted, {} ids returned",
            prepared.evaluations.len(),
            evaluation_ids.len()
        )));
    }
    let mut evaluations = Vec::with_capacity(evaluation_ids.len());
    for (mut row, evaluation_id) in prepared.evaluations.into_iter().zip(evaluation_ids) {
        row.id = Set(evaluation_id);
        row.llm_response_id = Set(id);
        evaluations.push(EvaluationOut::from(row.try_into_model()?));
    }
    let out = LlmResponseOut::new(
        prepared.response.stored(id),
        resolved.prompt_id,
        evaluations,
    );
    serde_json::to_value(&out).map_err(|e| Error::Internal(e.to_string()))
}

/// Writes a prepared call without an idempotency key or async evaluators on PostgreSQL: one
/// statement ([`calls::insert_checked_with_evaluations`]), one round trip. `Ok(None)` when the version is no
/// longer at `resolved`'s revision (nothing written).
async fn write_one(
    db: &DatabaseConnection,
    resolved: &Resolved,
    prepared: Prepared,
) -> Result<Option<Tracked>> {
    let Some((id, evaluation_ids)) = calls::insert_checked_with_evaluations(
        db,
        &prepared.response,
        &prepared.evaluations,
        &resolved.version,
    )
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(Tracked::created(
        written(resolved, prepared, id, evaluation_ids)?,
        false,
    )))
}

/// Writes a prepared tracked call in `txn`: the idempotency claim, the response (only while
/// the version is at `resolved`'s revision: `Ok(None)` otherwise), its `sync` evaluations (one
/// multi-row insert), the idempotency answer and the job of the `async` evaluators.
async fn write(
    txn: &DatabaseTransaction,
    resolved: &Resolved,
    prepared: Prepared,
    idempotency: Option<&(String, String)>,
) -> std::result::Result<Option<Tracked>, TrackError> {
    if let Some((key, hash)) = idempotency {
        let claim = idempotency_key::ActiveModel {
            idempotency_key: Set(key.clone()),
            request_hash: Set(hash.clone()),
            status_code: Set(None),
            response_body: Set(None),
            llm_response_id: Set(None),
            created_at: Set(Utc::now().naive_utc()),
            ..Default::default()
        };
        if let Err(e) = claim.insert(txn).await {
            let e = Error::from(e);
            return Err(if matches!(e, Error::Conflict(_)) {
                TrackError::KeyTaken(e)
            } else {
                TrackError::Failed(e)
            });
        }
    }
    let Some(id) = calls::insert_checked(txn, &prepared.response, &resolved.version).await? else {
        return Ok(None);
    };
    let evaluation_ids = calls::insert_evaluations(txn, id, &prepared.evaluations).await?;
    // The async evaluators become a durable job, committed with the response.
    let job = (!prepared.async_ids.is_empty()).then(|| evaluate_payload(id, &prepared.async_ids));
    let body = written(resolved, prepared, id, evaluation_ids)?;
    if let Some((key, _)) = idempotency {
        IdempotencyKey::update_many()
            .col_expr(idempotency_key::Column::StatusCode, 201.into())
            .col_expr(idempotency_key::Column::ResponseBody, body.clone().into())
            .col_expr(idempotency_key::Column::LlmResponseId, id.into())
            .filter(idempotency_key::Column::IdempotencyKey.eq(key.as_str()))
            .exec(txn)
            .await?;
    }
    let queued = job.is_some();
    if let Some(payload) = job {
        jobs::enqueue(txn, JobKind::EvaluateResponse, payload).await?;
    }
    Ok(Some(Tracked::created(body, queued)))
}

/// The stored answer of `key`, if its request completed; 422 when the key was used with a
/// different body, 409 while the first request is still in flight.
async fn replay(db: &impl ConnectionTrait, key: &str, hash: &str) -> Result<Option<Tracked>> {
    let Some(found) = IdempotencyKey::find()
        .filter(idempotency_key::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if found.request_hash != hash {
        return Err(Error::invalid(
            "Idempotency-Key",
            "was already used with a different request body",
        ));
    }
    match (found.status_code, found.response_body) {
        (Some(status), Some(body)) => Ok(Some(Tracked {
            status: status as u16,
            body,
            replayed: true,
            queued: false,
        })),
        _ => Err(Error::Conflict(
            "A request with this Idempotency-Key is still being processed; retry shortly."
                .to_owned(),
        )),
    }
}

/// Payload of an `evaluate_response` job.
fn evaluate_payload(response_id: i64, config_ids: &[i64]) -> Value {
    serde_json::json!({"response_id": response_id, "config_ids": config_ids})
}

/// Async evaluations as a job kind (`evaluate_response`, payload `{"response_id",
/// "config_ids"}`): what they use to run evaluators, the LLM judge included. A job given up
/// needs no clean-up (the trait's default): nothing waits on it, and its failure stays in the
/// job row and the log.
#[derive(Clone, Debug)]
pub struct AsyncEvaluations {
    pub db: DatabaseConnection,
    pub judge: crate::evaluation::judge::Judge,
}

impl jobs::Handler for AsyncEvaluations {
    fn run<'a>(
        &'a self,
        job: &'a entity::job::Model,
        _held: jobs::Held<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let configs: Vec<i64> = job
                .payload
                .get("config_ids")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let response_id = jobs::payload_id(job, "response_id")?;
            run_async_evaluations(&self.db, &self.judge, response_id, &configs)
                .await
                .map(|()| false)
        })
    }
}

/// Runs the async evaluator configs `config_ids` on response `response_id` (the
/// `evaluate_response` job). Configs already evaluated on this response by an interrupted
/// earlier attempt are skipped. A config that cannot run, or a judge that cannot answer, is
/// recorded as an evaluation in error ([`evaluations::error_row`]); infrastructure errors
/// retry the job.
pub async fn run_async_evaluations(
    db: &DatabaseConnection,
    judge: &crate::evaluation::judge::Judge,
    response_id: i64,
    config_ids: &[i64],
) -> Result<()> {
    let Some(response) = LlmResponse::find_by_id(response_id).one(db).await? else {
        return Ok(());
    };
    let done: Vec<Option<i64>> = Evaluation::find()
        .select_only()
        .column(entity::evaluation::Column::EvaluatorConfigId)
        .filter(entity::evaluation::Column::LlmResponseId.eq(response_id))
        .into_tuple()
        .all(db)
        .await?;
    for config in evaluations::configs_by_id(db, config_ids).await? {
        if done.contains(&Some(config.id)) {
            continue;
        }
        let result = if config.evaluator_key == crate::evaluation::judge::KEY {
            crate::evaluation::judge::evaluate(
                db,
                judge,
                &config,
                &response,
                None,
                EvaluationContext::TrackedCall,
                None,
            )
            .await
        } else {
            evaluations::run_config(
                db,
                &config,
                &response,
                None,
                EvaluationContext::TrackedCall,
                None,
            )
            .await
        };
        match result {
            Ok(_) => {}
            // A database failure retries the job.
            Err(e) if e.is_retryable() => return Err(e),
            Err(other) => {
                tracing::warn!(response_id, config = config.id, error = %other, "async evaluation failed");
                let reason = match &other {
                    Error::Validation(errors) => evaluations::describe(errors),
                    other => other.to_string(),
                };
                evaluations::record_error(
                    db,
                    &config,
                    &response,
                    EvaluationContext::TrackedCall,
                    None,
                    &reason,
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Filters of `GET /api/v1/llm-responses`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LlmResponseFilter {
    pub prompt_id: Option<i64>,
    pub version_id: Option<i64>,
    pub is_test_run: Option<bool>,
    pub status: Option<ResponseStatus>,
    pub provider: Option<String>,
    pub api: Option<String>,
    pub model: Option<String>,
    pub environment: Option<String>,
    pub session_id: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// One page of LLM responses, newest first (without their evaluations), as the JSON of a
/// `Page<LlmResponseOut>`.
///
/// On PostgreSQL the rows are serialised straight from the driver's buffers ([`ListedRow`],
/// [`crate::store::positional`]) and their JSON is cached per row, checked against each row's version
/// (`cache`, [`crate::store::row_cache`]); on SQLite through [`LlmResponseOut`].
pub async fn list(
    db: &DatabaseConnection,
    versions: &VersionCache,
    cache: &RowCache,
    f: &LlmResponseFilter,
    page: &PageParams,
) -> Result<Vec<u8>> {
    let keyset = page.keyset()?;
    let mut cond = Condition::all();
    if let Some(v) = f.version_id {
        cond = cond.add(llm_response::Column::PromptVersionId.eq(v));
    }
    if let Some(p) = f.prompt_id {
        cond = cond.add(
            llm_response::Column::PromptVersionId.in_subquery(
                Query::select()
                    .column(prompt_version::Column::Id)
                    .from(prompt_version::Entity)
                    .and_where(prompt_version::Column::PromptId.eq(p))
                    .to_owned(),
            ),
        );
    }
    if let Some(t) = f.is_test_run {
        cond = cond.add(llm_response::Column::IsTestRun.eq(t));
    }
    if let Some(s) = f.status {
        cond = cond.add(llm_response::Column::Status.eq(s));
    }
    for (column, value) in [
        (llm_response::Column::Provider, &f.provider),
        (llm_response::Column::Api, &f.api),
        (llm_response::Column::Model, &f.model),
        (llm_response::Column::Environment, &f.environment),
        (llm_response::Column::SessionId, &f.session_id),
    ] {
        if let Some(v) = value {
            cond = cond.add(column.eq(v.as_str()));
        }
    }
    if let Some(since) = f.since {
        cond = cond.add(llm_response::Column::CreatedAt.gte(since.naive_utc()));
    }
    if let Some(until) = f.until {
        cond = cond.add(llm_response::Column::CreatedAt.lt(until.naive_utc()));
    }
    if db.get_database_backend() == DbBackend::Postgres {
        let statements = row_cache::PageStatements::newest_first::<LlmResponse>(
            &LISTED_COLUMNS,
            llm_response::Column::Id,
            cond,
            keyset,
        );
        let fetched = cache.fetch(db, statements).await?;
        let mut rows = fetched.read(ListedRow::read)?;
        let version_ids: Vec<i64> = rows.iter().map(|r| r.row.prompt_version_id).collect();
        let prompt_ids = versions.prompt_ids(db, &version_ids).await?;
        for (r, prompt_id) in rows.iter_mut().zip(prompt_ids) {
            r.row.prompt_id = prompt_id;
        }
        return cache.page_json(&fetched, rows, ROW_BYTES);
    }
    let query = newest_first(
        with_prompt_id(LlmResponse::find()),
        llm_response::Column::Id,
        cond,
        keyset,
    );
    let rows: Vec<Listed> = crate::store::pagination::fetch(db, &query).await?;
    let page = Page::from_rows(
        rows,
        keyset,
        |r| r.response.id,
        |r| LlmResponseOut::new(r.response, r.listed_prompt_id, Vec::new()),
    );
    page.to_json(ROW_BYTES)
}

/// Room reserved per listed row when serialising a page (a typical row is 0.7-1 KB).
const ROW_BYTES: usize = 1024;

/// The columns a [`ListedRow`] reads, in its order (`prompt_id` comes from
/// [`VersionCache::prompt_ids`]).
const LISTED_COLUMNS: [llm_response::Column; 24] = {
    use llm_response::Column::*;
    [
        Id,
        PromptVersionId,
        RenderedPrompt,
        RenderedSystemPrompt,
        VariablesUsed,
        ResponseText,
        ResponseMetadata,
        Status,
        ErrorType,
        ErrorMessage,
        ResponseTimeMs,
        TokensPrompt,
        TokensCompletion,
        TokensTotal,
        CostUsd,
        Provider,
        Api,
        Model,
        UserId,
        SessionId,
        Environment,
        Context,
        IsTestRun,
        CreatedAt,
    ]
};

/// A listed LLM response borrowed from its PostgreSQL row: serialises as [`LlmResponseOut`]
/// does, field for field in the same order, with `evaluations` empty (a list's rows carry
/// none). JSON columns are PostgreSQL's `jsonb` text ([`crate::store::positional`]). `prompt_id` is
/// 0 until [`list`] sets it from [`VersionCache::prompt_ids`] for the rows the page keeps.
#[derive(Serialize)]
struct ListedRow<'r> {
    id: i64,
    prompt_id: i64,
    prompt_version_id: i64,
    rendered_prompt: &'r str,
    rendered_system_prompt: Option<&'r str>,
    variables_used: &'r RawValue,
    response_text: Option<&'r str>,
    response_metadata: &'r RawValue,
    status: ResponseStatus,
    error_type: Option<&'r str>,
    error_message: Option<&'r str>,
    response_time_ms: Option<i32>,
    tokens_prompt: Option<i32>,
    tokens_completion: Option<i32>,
    tokens_total: Option<i32>,
    cost_usd: Option<f64>,
    provider: &'r str,
    api: Option<&'r str>,
    model: &'r str,
    user_id: Option<&'r str>,
    session_id: Option<&'r str>,
    environment: Option<&'r str>,
    context: &'r RawValue,
    is_test_run: bool,
    created_at: DateTime<Utc>,
    evaluations: [EvaluationOut; 0],
}

impl<'r> ListedRow<'r> {
    /// Reads [`LISTED_COLUMNS`] after `id` (read by [`row_cache::Fetched::read`]).
    fn read(id: i64, c: &mut positional::Columns<'r>) -> std::result::Result<Self, sea_orm::DbErr> {
        Ok(ListedRow {
            id,
            prompt_id: 0,
            prompt_version_id: c.next("prompt_version_id")?,
            rendered_prompt: c.next("rendered_prompt")?,
            rendered_system_prompt: c.next("rendered_system_prompt")?,
            variables_used: c.next("variables_used")?,
            response_text: c.next("response_text")?,
            response_metadata: c.next("response_metadata")?,
            status: positional::string_enum(c.next("status")?)?,
            error_type: c.next("error_type")?,
            error_message: c.next("error_message")?,
            response_time_ms: c.next("response_time_ms")?,
            tokens_prompt: c.next("tokens_prompt")?,
            tokens_completion: c.next("tokens_completion")?,
            tokens_total: c.next("tokens_total")?,
            cost_usd: c
                .next::<Option<Decimal>>("cost_usd")?
                .and_then(|d| d.to_f64()),
            provider: c.next("provider")?,
            api: c.next("api")?,
            model: c.next("model")?,
            user_id: c.next("user_id")?,
            session_id: c.next("session_id")?,
            environment: c.next("environment")?,
            context: c.next("context")?,
            is_test_run: c.next("is_test_run")?,
            created_at: utc(c.next("created_at")?),
            evaluations: [],
        })
    }
}

/// Adds the response's prompt id (`listed_prompt_id`), joined from its version for that one
/// column (not the version's whole row); read the rows `into_model::<Listed>()`.
fn with_prompt_id(select: sea_orm::Select<LlmResponse>) -> sea_orm::Select<LlmResponse> {
    select
        .column_as(prompt_version::Column::PromptId, "listed_prompt_id")
        .join(
            JoinType::InnerJoin,
            llm_response::Relation::PromptVersion.def(),
        )
}

/// A listed response and its version's prompt id.
#[derive(FromQueryResult)]
struct Listed {
    #[sea_orm(nested)]
    response: llm_response::Model,
    listed_prompt_id: i64,
}

/// One response with its evaluations. 404 when absent.
pub async fn get(db: &DatabaseConnection, id: i64) -> Result<LlmResponseOut> {
    let found = with_prompt_id(LlmResponse::find_by_id(id))
        .into_model::<Listed>()
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("LLM response", id))?;
    let evaluations = evaluations::of_response(db, id).await?;
    Ok(LlmResponseOut::new(
        found.response,
        found.listed_prompt_id,
        evaluations,
    ))
}
