//! Tracked calls: `POST /api/v1/llm-responses` records one LLM call a client app made with a
//! prompt version, renders its prompts server-side, costs it from the price table, and runs
//! the version's evaluators (`sync` ones before answering, `async` ones in the background).
//! An `Idempotency-Key` makes retries safe: same key and body, same answer, one row.

use chrono::{DateTime, Utc};
use entity::evaluation::EvaluationContext;
use entity::evaluator_config::RunMode;
use entity::job::JobKind;
use entity::llm_response::{self, ResponseStatus};
use entity::prelude::*;
use entity::prompt_version::VersionStatus;
use entity::{idempotency_key, prompt, prompt_version};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};
use crate::evaluations::{self, EvaluationOut};
use crate::evaluator_configs::{self, Owner};
use crate::pagination::{Page, PageParams, newest_ids, utc};
use crate::pricing::PriceTable;
use crate::validation::Errors;
use crate::{jobs, templates};

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

/// The version a tracked call names and its prompt's id, in one query (version joined to its
/// prompt). 422 when the version or slug is unknown, or the slug's prompt has no active version.
async fn resolve_version(
    db: &impl ConnectionTrait,
    req: &TrackRequest,
) -> Result<(i64, prompt_version::Model)> {
    let query = PromptVersion::find().find_also_related(Prompt);
    match (&req.prompt_slug, req.prompt_version_id) {
        (None, None) => Err(Error::invalid(
            "prompt_version_id",
            "give prompt_version_id or prompt_slug",
        )),
        (slug, Some(id)) => {
            let (version, prompt) = query
                .filter(prompt_version::Column::Id.eq(id))
                .one(db)
                .await?
                .ok_or_else(|| {
                    Error::invalid("prompt_version_id", format!("version {id} does not exist"))
                })?;
            let prompt =
                prompt.ok_or_else(|| Error::Internal(format!("version {id} has no prompt")))?;
            if let Some(slug) = slug
                && &prompt.slug != slug
            {
                return Err(Error::invalid(
                    "prompt_version_id",
                    format!("version {id} is not a version of prompt {slug:?}"),
                ));
            }
            Ok((prompt.id, version))
        }
        (Some(slug), None) => {
            let found = query
                .filter(prompt::Column::Slug.eq(slug.as_str()))
                .filter(prompt_version::Column::Status.eq(VersionStatus::Active))
                .one(db)
                .await?;
            if let Some((version, Some(prompt))) = found {
                return Ok((prompt.id, version));
            }
            // No active version: say whether the slug itself is unknown.
            let known = Prompt::find()
                .filter(prompt::Column::Slug.eq(slug.as_str()))
                .one(db)
                .await?
                .is_some();
            Err(if known {
                Error::invalid(
                    "prompt_slug",
                    format!("prompt {slug:?} has no active version; pass prompt_version_id"),
                )
            } else {
                Error::invalid("prompt_slug", format!("no prompt has the slug {slug:?}"))
            })
        }
    }
}

fn non_negative(errors: &mut Errors, field: &str, v: Option<i32>) {
    if v.is_some_and(|v| v < 0) {
        errors.add(field, "must be >= 0");
    }
}

/// Records a tracked call. See the module docs; `idempotency` is (key, SHA-256 of the body).
///
/// Everything happens on one connection, in one transaction ([`crate::begin_write`]): the
/// replay check, the version and evaluator-config lookups, the response, its `sync`
/// evaluations, the idempotency record and the async job. Without an `Idempotency-Key` that is
/// six round trips on PostgreSQL (`BEGIN`, two lookups, two inserts, `COMMIT`). Nothing is
/// stored when any step fails.
pub async fn track(
    db: &DatabaseConnection,
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
    let txn = crate::begin_write(db).await?;
    match track_in(&txn, prices, req, idempotency.as_ref()).await {
        Ok(tracked) => {
            txn.commit().await?;
            Ok(tracked)
        }
        Err(TrackError::Failed(e)) => {
            txn.rollback().await?;
            Err(e)
        }
        Err(TrackError::KeyTaken(e)) => {
            txn.rollback().await?;
            // A concurrent request with the same key committed first: answer as it did.
            if let Some((key, hash)) = &idempotency
                && let Some(found) = replay(db, key, hash).await?
            {
                return Ok(found);
            }
            Err(e)
        }
    }
}

/// Why [`track_in`] stopped: `KeyTaken` when inserting the idempotency key hit a concurrent
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

async fn track_in(
    txn: &DatabaseTransaction,
    prices: &PriceTable,
    req: TrackRequest,
    idempotency: Option<&(String, String)>,
) -> std::result::Result<Tracked, TrackError> {
    if let Some((key, hash)) = idempotency
        && let Some(found) = replay(txn, key, hash).await?
    {
        return Ok(found);
    }
    let (prompt_id, version) = resolve_version(txn, &req).await?;
    let mut errors = Errors::default();
    for (field, v) in [
        ("response_time_ms", req.response_time_ms),
        ("tokens_prompt", req.tokens_prompt),
        ("tokens_completion", req.tokens_completion),
        ("tokens_total", req.tokens_total),
    ] {
        non_negative(&mut errors, field, v);
    }
    if req.cost_usd.is_some_and(|c| !(0.0..10_000.0).contains(&c)) {
        errors.add("cost_usd", "must be between 0 and 9999.999999");
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
        .or_else(|| version.model_config.model.clone());
    if model.as_deref().is_none_or(str::is_empty) {
        errors.add(
            "model",
            "is required: the version's model_config names no model",
        );
    }
    errors.finish().map_err(Error::Validation)?;
    let (values, rendered) = rendered.unwrap_or_default_pair();
    let model = model.unwrap_or_default();

    let tokens_total = req
        .tokens_total
        .or(match (req.tokens_prompt, req.tokens_completion) {
            (Some(p), Some(c)) => p.checked_add(c),
            _ => None,
        });
    let cost = match req.cost_usd {
        Some(c) => Decimal::from_f64(c).map(|d| d.round_dp(6)),
        None => prices.cost_usd(
            &provider,
            &model,
            req.tokens_prompt.map(i64::from),
            req.tokens_completion.map(i64::from),
        ),
    };

    let configs = evaluator_configs::enabled_of(txn, Owner::Version(version.id)).await?;
    // Remote evaluators (llm_judge) never run inside a request.
    let inline = |c: &entity::evaluator_config::Model| {
        c.run_mode == RunMode::Sync
            && crate::evaluators::get(&c.evaluator_key).is_some_and(|e| !e.is_remote())
    };
    let (sync_configs, async_configs): (Vec<_>, Vec<_>) = configs.into_iter().partition(inline);

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
    let now = Utc::now().naive_utc();
    let row = llm_response::ActiveModel {
        prompt_version_id: Set(version.id),
        rendered_prompt: Set(rendered.user),
        rendered_system_prompt: Set(rendered.system),
        variables_used: Set(Value::Object(values)),
        response_text: Set(req.response_text),
        response_metadata: Set(Value::Object(req.response_metadata)),
        status: Set(req.status.unwrap_or(ResponseStatus::Success)),
        error_type: Set(req.error_type),
        error_message: Set(req.error_message),
        response_time_ms: Set(req.response_time_ms),
        tokens_prompt: Set(req.tokens_prompt),
        tokens_completion: Set(req.tokens_completion),
        tokens_total: Set(tokens_total),
        cost_usd: Set(cost),
        provider: Set(provider),
        api: Set(api),
        model: Set(model),
        user_id: Set(req.user_id),
        session_id: Set(req.session_id),
        environment: Set(req.environment),
        context: Set(Value::Object(req.context)),
        is_test_run: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let response = row.insert(txn).await?;
    let mut evaluations = Vec::new();
    for config in &sync_configs {
        let e = evaluations::run_config(
            txn,
            config,
            &response,
            None,
            EvaluationContext::TrackedCall,
            None,
        )
        .await?;
        evaluations.push(EvaluationOut::from(e));
    }
    let out = LlmResponseOut::new(response, prompt_id, evaluations);
    let body = serde_json::to_value(&out).map_err(|e| Error::Internal(e.to_string()))?;
    if let Some((key, _)) = idempotency {
        IdempotencyKey::update_many()
            .col_expr(idempotency_key::Column::StatusCode, 201.into())
            .col_expr(idempotency_key::Column::ResponseBody, body.clone().into())
            .col_expr(idempotency_key::Column::LlmResponseId, out.id.into())
            .filter(idempotency_key::Column::IdempotencyKey.eq(key.as_str()))
            .exec(txn)
            .await?;
    }
    // The async evaluators become a durable job, committed with the response.
    let queued = !async_configs.is_empty();
    if queued {
        let ids: Vec<i64> = async_configs.iter().map(|c| c.id).collect();
        jobs::enqueue(
            txn,
            JobKind::EvaluateResponse,
            jobs::evaluate_payload(out.id, &ids),
        )
        .await?;
    }
    Ok(Tracked {
        status: 201,
        body,
        replayed: false,
        queued,
    })
}

trait UnwrapPair {
    fn unwrap_or_default_pair(self) -> (Map<String, Value>, templates::Rendered);
}

impl UnwrapPair for Option<(Map<String, Value>, templates::Rendered)> {
    fn unwrap_or_default_pair(self) -> (Map<String, Value>, templates::Rendered) {
        self.unwrap_or_else(|| {
            (
                Map::new(),
                templates::Rendered {
                    system: None,
                    user: String::new(),
                },
            )
        })
    }
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

/// Runs the async evaluator configs `config_ids` on response `response_id` (the
/// `evaluate_response` job). Configs already evaluated on this response by an interrupted
/// earlier attempt are skipped.
pub async fn run_async_evaluations(
    state: &crate::AppState,
    response_id: i64,
    config_ids: &[i64],
) -> Result<()> {
    let db = &state.db;
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
        let result = if config.evaluator_key == crate::judge::KEY {
            crate::judge::evaluate(
                state,
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
        if let Err(e) = result {
            // A judge that cannot answer is recorded in the log; infrastructure errors retry the job.
            match e {
                Error::Internal(_) => return Err(e),
                other => {
                    tracing::warn!(response_id, config = config.id, error = %other, "async evaluation failed")
                }
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

/// One page of LLM responses, newest first (without their evaluations).
pub async fn list(
    db: &DatabaseConnection,
    f: &LlmResponseFilter,
    page: &PageParams,
) -> Result<Page<LlmResponseOut>> {
    let keyset = page.keyset()?;
    let mut cond = Condition::all();
    if let Some(after) = keyset.after {
        cond = cond.add(llm_response::Column::Id.lt(after));
    }
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
    let rows = with_prompt_id(LlmResponse::find())
        .filter(
            llm_response::Column::Id.in_subquery(newest_ids::<LlmResponse>(
                llm_response::Column::Id,
                cond,
                keyset.limit + 1,
            )),
        )
        .order_by_desc(llm_response::Column::Id)
        .limit(keyset.limit + 1)
        .into_model::<Listed>()
        .all(db)
        .await?;
    Ok(Page::from_rows(
        rows,
        keyset,
        |r| r.response.id,
        |r| LlmResponseOut::new(r.response, r.listed_prompt_id, Vec::new()),
    ))
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
