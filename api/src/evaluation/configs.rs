//! Evaluator configs on either owner: a prompt version (monitoring tracked calls) or a prompt
//! test (scoring test runs). One config per evaluator key per owner (seed 000, Migration 1).

use chrono::{DateTime, Utc};
use entity::evaluator_config::{self, ConfigurableType, RunMode};
use entity::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::store::pagination::{Page, PageParams, utc};
use crate::validation::Errors;
use crate::{evaluation::evaluators, prompts::versions};

/// Who owns a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Version(i64),
    Test(i64),
}

impl Owner {
    fn kind(self) -> ConfigurableType {
        match self {
            Owner::Version(_) => ConfigurableType::PromptVersion,
            Owner::Test(_) => ConfigurableType::PromptTest,
        }
    }

    fn id(self) -> i64 {
        match self {
            Owner::Version(id) | Owner::Test(id) => id,
        }
    }

    async fn ensure_exists(self, db: &impl ConnectionTrait) -> Result<()> {
        match self {
            Owner::Version(id) => versions::find(db, id).await.map(|_| ()),
            // Tests live in `testing`, which builds on this module: read the row directly.
            Owner::Test(id) => entity::prompt_test::Entity::find_by_id(id)
                .one(db)
                .await?
                .map(|_| ())
                .ok_or_else(|| Error::not_found("test", id)),
        }
    }

    fn describe(self) -> String {
        match self {
            Owner::Version(id) => format!("version {id}"),
            Owner::Test(id) => format!("test {id}"),
        }
    }
}

/// An evaluator config as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EvaluatorConfigOut {
    pub id: i64,
    /// `prompt_version` (monitoring) or `prompt_test` (testing); `prompt` for configs kept
    /// on a prompt that had no version when configs became polymorphic.
    pub owner_type: ConfigurableType,
    pub owner_id: i64,
    pub evaluator_key: String,
    /// The evaluator's settings, defaults filled in.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Pass mark 0-100 (`passed = score >= threshold`); null: the evaluator's own rule.
    pub threshold: Option<i32>,
    /// Weight in a test's weighted mean score (0-999.99); 0 is informational.
    pub weight: f64,
    /// Lower runs first.
    pub priority: i32,
    pub run_mode: RunMode,
    pub enabled: bool,
    pub depends_on: Option<String>,
    pub min_dependency_score: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<evaluator_config::Model> for EvaluatorConfigOut {
    fn from(m: evaluator_config::Model) -> Self {
        EvaluatorConfigOut {
            id: m.id,
            owner_type: m.configurable_type,
            owner_id: m.configurable_id,
            evaluator_key: m.evaluator_key,
            config: m.config,
            threshold: m.threshold,
            weight: m.weight.to_f64().unwrap_or(0.0),
            priority: m.priority,
            run_mode: m.run_mode,
            enabled: m.enabled,
            depends_on: m.depends_on,
            min_dependency_score: m.min_dependency_score,
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

/// Body of `POST .../evaluator-configs`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEvaluatorConfig {
    /// A key of `GET /api/v1/evaluators`.
    pub evaluator_key: String,
    /// Validated against the evaluator's config schema.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// 0-100.
    #[schema(minimum = 0, maximum = 100)]
    pub threshold: Option<i32>,
    /// 0-999.99 (default 1).
    #[schema(minimum = 0, maximum = 999.99)]
    pub weight: Option<f64>,
    /// Default 0; lower runs first.
    pub priority: Option<i32>,
    /// Default `async` on versions (tracked calls answer before async evaluators run), `sync` on tests.
    pub run_mode: Option<RunMode>,
    /// Default true.
    pub enabled: Option<bool>,
    pub depends_on: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    pub min_dependency_score: Option<i32>,
}

/// Body of `PATCH /api/v1/evaluator-configs/{id}`: fields present change; `null` clears.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluatorConfigPatch {
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 100)]
    pub threshold: Option<Option<i32>>,
    #[schema(minimum = 0, maximum = 999.99)]
    pub weight: Option<f64>,
    pub priority: Option<i32>,
    pub run_mode: Option<RunMode>,
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub depends_on: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 100)]
    pub min_dependency_score: Option<Option<i32>>,
}

/// What `copy-from-tests` did.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CopyResult {
    /// The configs created on the version.
    pub created: Vec<EvaluatorConfigOut>,
    /// Evaluator keys the version already had, left as they were.
    pub skipped: Vec<String>,
}

fn check_threshold(errors: &mut Errors, field: &str, t: Option<i32>) {
    if let Some(t) = t
        && !(0..=100).contains(&t)
    {
        errors.add(field, "must be between 0 and 100");
    }
}

fn weight(errors: &mut Errors, w: f64) -> Decimal {
    match Decimal::from_f64(w) {
        Some(d) if (0.0..=999.99).contains(&w) => d.round_dp(2),
        _ => {
            errors.add("weight", "must be a number between 0 and 999.99");
            Decimal::ONE
        }
    }
}

async fn taken(db: &impl ConnectionTrait, owner: Owner, key: &str) -> Result<bool> {
    Ok(EvaluatorConfig::find()
        .filter(evaluator_config::Column::ConfigurableType.eq(owner.kind()))
        .filter(evaluator_config::Column::ConfigurableId.eq(owner.id()))
        .filter(evaluator_config::Column::EvaluatorKey.eq(key))
        .one(db)
        .await?
        .is_some())
}

/// Creates a config on `owner`. 404 without the owner, 422 for an unknown key or invalid
/// config/threshold/weight, 409 when the owner already has a config for the key.
pub async fn create(
    db: &DatabaseConnection,
    owner: Owner,
    input: NewEvaluatorConfig,
) -> Result<EvaluatorConfigOut> {
    owner.ensure_exists(db).await?;
    let mut errors = Errors::default();
    let config = match evaluators::validate_config(
        &input.evaluator_key,
        input.config.as_ref().unwrap_or(&Value::Null),
    ) {
        Ok(c) => c,
        Err(e) => {
            errors.0.extend(e);
            Value::Null
        }
    };
    check_threshold(&mut errors, "threshold", input.threshold);
    check_threshold(
        &mut errors,
        "min_dependency_score",
        input.min_dependency_score,
    );
    let w = weight(&mut errors, input.weight.unwrap_or(1.0));
    errors.finish().map_err(Error::Validation)?;
    if taken(db, owner, &input.evaluator_key).await? {
        return Err(Error::Conflict(format!(
            "{} already has a `{}` evaluator config.",
            owner.describe(),
            input.evaluator_key
        )));
    }
    let now = Utc::now().naive_utc();
    let default_mode = if matches!(owner, Owner::Test(_)) {
        RunMode::Sync
    } else {
        RunMode::Async
    };
    let row = evaluator_config::ActiveModel {
        configurable_type: Set(owner.kind()),
        configurable_id: Set(owner.id()),
        evaluator_key: Set(input.evaluator_key),
        enabled: Set(input.enabled.unwrap_or(true)),
        config: Set(config),
        run_mode: Set(input.run_mode.unwrap_or(default_mode)),
        priority: Set(input.priority.unwrap_or(0)),
        weight: Set(w),
        depends_on: Set(input.depends_on),
        min_dependency_score: Set(input.min_dependency_score),
        threshold: Set(input.threshold),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?.into())
}

/// The configs of an owner, by id.
pub async fn list(
    db: &DatabaseConnection,
    owner: Owner,
    page: &PageParams,
) -> Result<Page<EvaluatorConfigOut>> {
    owner.ensure_exists(db).await?;
    let keyset = page.keyset()?;
    let mut q = EvaluatorConfig::find()
        .filter(evaluator_config::Column::ConfigurableType.eq(owner.kind()))
        .filter(evaluator_config::Column::ConfigurableId.eq(owner.id()))
        .order_by_asc(evaluator_config::Column::Id)
        .limit(keyset.limit + 1);
    if let Some(after) = keyset.after {
        q = q.filter(evaluator_config::Column::Id.gt(after));
    }
    Ok(Page::from_rows(
        crate::store::pagination::rows(db, &q).await?,
        keyset,
        |r| r.id,
        EvaluatorConfigOut::from,
    ))
}

/// The enabled configs of an owner in run order (priority, then id).
pub async fn enabled_of(
    db: &impl ConnectionTrait,
    owner: Owner,
) -> Result<Vec<evaluator_config::Model>> {
    Ok(EvaluatorConfig::find()
        .filter(evaluator_config::Column::ConfigurableType.eq(owner.kind()))
        .filter(evaluator_config::Column::ConfigurableId.eq(owner.id()))
        .filter(evaluator_config::Column::Enabled.eq(true))
        .order_by_asc(evaluator_config::Column::Priority)
        .order_by_asc(evaluator_config::Column::Id)
        .all(db)
        .await?)
}

/// Reads one config. 404 when absent.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<evaluator_config::Model> {
    EvaluatorConfig::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("evaluator config", id))
}

/// Applies a patch (the config is revalidated against its evaluator's schema).
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    patch: EvaluatorConfigPatch,
) -> Result<EvaluatorConfigOut> {
    let current = find(db, id).await?;
    let mut errors = Errors::default();
    let config = match &patch.config {
        Some(c) => match evaluators::validate_config(&current.evaluator_key, c) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.0.extend(e);
                None
            }
        },
        None => None,
    };
    check_threshold(&mut errors, "threshold", patch.threshold.flatten());
    check_threshold(
        &mut errors,
        "min_dependency_score",
        patch.min_dependency_score.flatten(),
    );
    let w = patch.weight.map(|w| weight(&mut errors, w));
    errors.finish().map_err(Error::Validation)?;
    let mut row: evaluator_config::ActiveModel = current.into();
    if let Some(c) = config {
        row.config = Set(c);
    }
    if let Some(t) = patch.threshold {
        row.threshold = Set(t);
    }
    if let Some(w) = w {
        row.weight = Set(w);
    }
    if let Some(p) = patch.priority {
        row.priority = Set(p);
    }
    if let Some(m) = patch.run_mode {
        row.run_mode = Set(m);
    }
    if let Some(e) = patch.enabled {
        row.enabled = Set(e);
    }
    if let Some(d) = patch.depends_on {
        row.depends_on = Set(d);
    }
    if let Some(s) = patch.min_dependency_score {
        row.min_dependency_score = Set(s);
    }
    row.updated_at = Set(Utc::now().naive_utc());
    Ok(row.update(db).await?.into())
}

/// Deletes a config. Its evaluations stay, with `evaluator_config_id` and a snapshot of the config.
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<()> {
    find(db, id).await?.delete(db).await?;
    Ok(())
}

/// Copies the distinct evaluator configs of a version's tests onto the version: for each
/// evaluator key, the first config by test id then config id; keys the version already has
/// are skipped. Copies keep config, threshold, weight, priority, run mode and enabled.
pub async fn copy_from_tests(db: &DatabaseConnection, version_id: i64) -> Result<CopyResult> {
    versions::find(db, version_id).await?;
    let test_ids: Vec<i64> = entity::prompt_test::Entity::find()
        .select_only()
        .column(entity::prompt_test::Column::Id)
        .filter(entity::prompt_test::Column::PromptVersionId.eq(version_id))
        .into_tuple()
        .all(db)
        .await?;
    let sources = EvaluatorConfig::find()
        .filter(evaluator_config::Column::ConfigurableType.eq(ConfigurableType::PromptTest))
        .filter(evaluator_config::Column::ConfigurableId.is_in(test_ids))
        .order_by_asc(evaluator_config::Column::ConfigurableId)
        .order_by_asc(evaluator_config::Column::Id)
        .all(db)
        .await?;
    let owner = Owner::Version(version_id);
    let mut created = Vec::new();
    let mut skipped = Vec::new();
    let mut done = std::collections::HashSet::new();
    for source in sources {
        if !done.insert(source.evaluator_key.clone()) {
            continue;
        }
        if taken(db, owner, &source.evaluator_key).await? {
            skipped.push(source.evaluator_key);
            continue;
        }
        let now = Utc::now().naive_utc();
        let row = evaluator_config::ActiveModel {
            configurable_type: Set(owner.kind()),
            configurable_id: Set(version_id),
            evaluator_key: Set(source.evaluator_key),
            enabled: Set(source.enabled),
            config: Set(source.config),
            run_mode: Set(source.run_mode),
            priority: Set(source.priority),
            weight: Set(source.weight),
            depends_on: Set(source.depends_on),
            min_dependency_score: Set(source.min_dependency_score),
            threshold: Set(source.threshold),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        created.push(row.insert(db).await?.into());
    }
    Ok(CopyResult { created, skipped })
}

/// The snapshot of a config stored in an evaluation's metadata (`evaluator_config`).
pub fn snapshot(config: &evaluator_config::Model) -> Value {
    json!({
        "id": config.id,
        "evaluator_key": config.evaluator_key,
        "config": config.config,
        "threshold": config.threshold,
        "weight": config.weight.to_f64(),
        "run_mode": config.run_mode,
    })
}
