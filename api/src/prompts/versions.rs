//! Prompt versions: create (server-assigned `version_number`), read, update (text and model
//! config frozen once the version has LLM responses), activate (one active per prompt), render.

use crate::store::sql::placeholder;
use chrono::{DateTime, Utc};
use entity::model_config::ApiType;
use entity::prelude::*;
use entity::prompt_version::{self, VersionStatus};
use entity::{ModelConfig, VariableDefinition, VariablesSchema, llm_response};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::providers::{self, PromptParts, ProviderRequest};
use crate::store::pagination::{Page, PageParams, utc};
use crate::validation::{Errors, FieldError};
use crate::{catalog::model_config, prompts, prompts::templates};

/// A version as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VersionOut {
    pub id: i64,
    pub prompt_id: i64,
    /// 1, 2, 3... per prompt, assigned by the server.
    pub version_number: i32,
    pub status: VersionStatus,
    pub user_prompt: String,
    pub system_prompt: Option<String>,
    pub variables_schema: Vec<VariableDefinition>,
    /// Always in the provider/api form (seed 002).
    #[schema(value_type = Object)]
    pub model_config: Value,
    /// The wire format the config calls, derived from (provider, api).
    pub api_type: ApiType,
    /// Display label such as "OpenAI - Response API · gpt-4o".
    pub model_config_label: String,
    pub supports_structured_output: bool,
    pub notes: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<prompt_version::Model> for VersionOut {
    fn from(m: prompt_version::Model) -> Self {
        VersionOut {
            id: m.id,
            prompt_id: m.prompt_id,
            version_number: m.version_number,
            status: m.status,
            api_type: m.model_config.api_type(),
            model_config_label: model_config::display_label(&m.model_config),
            supports_structured_output: model_config::supports_structured_output(&m.model_config),
            model_config: m.model_config.to_json(),
            user_prompt: m.user_prompt,
            system_prompt: m.system_prompt,
            variables_schema: m.variables_schema.0,
            notes: m.notes,
            created_by: m.created_by,
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

/// Body of `POST /api/v1/prompts/{prompt_id}/versions`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The user message template, with `{{ variable }}` placeholders.
    pub user_prompt: String,
    pub system_prompt: Option<String>,
    /// Extracted from the placeholders (every variable a required string) when absent.
    pub variables_schema: Option<Vec<VariableDefinition>>,
    /// `{provider, api, model, temperature, top_p, max_tokens, tools, ...}`; the legacy
    /// compound form (`"provider": "openai_responses"`) is accepted and stored in the new form.
    #[schema(value_type = Option<Object>)]
    pub model_config: Option<Value>,
    pub notes: Option<String>,
    pub created_by: Option<String>,
}

/// Body of `PATCH /api/v1/versions/{version_id}`. `user_prompt`, `system_prompt` and
/// `model_config` cannot change once the version has LLM responses.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionPatch {
    pub user_prompt: Option<String>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub system_prompt: Option<Option<String>>,
    pub variables_schema: Option<Vec<VariableDefinition>>,
    #[schema(value_type = Option<Object>)]
    pub model_config: Option<Value>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
    /// `draft` or `deprecated`; use `POST /versions/{id}/activate` to activate.
    pub status: Option<VersionStatus>,
}

/// Body of `POST /api/v1/versions/{version_id}/render`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderRequest {
    /// Variable name -> value.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
}

/// What rendering a version produced.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RenderOut {
    pub system_prompt: Option<String>,
    pub user_prompt: String,
    /// The values used, defaults included.
    #[schema(value_type = Object)]
    pub variables: Map<String, Value>,
    /// The exact request the version's provider api would receive; null when it cannot be
    /// built (see `provider_request_errors`).
    pub provider_request: Option<ProviderRequest>,
    pub provider_request_errors: Vec<FieldError>,
}

/// Reads and validates a submitted `model_config` (either form), errors under `model_config`.
pub fn parse_model_config(value: Option<Value>) -> Result<ModelConfig, Vec<FieldError>> {
    let config = ModelConfig::from_json(value.unwrap_or(Value::Null))
        .map_err(|m| vec![FieldError::new("model_config", m)])?;
    let mut errors = Errors::default();
    if let Err(e) = model_config::validate(&config) {
        errors.extend_prefixed("model_config", e);
    }
    errors.finish().map(|()| config)
}

fn check_schema(errors: &mut Errors, schema: &[VariableDefinition]) {
    let mut seen = std::collections::HashSet::new();
    for (i, var) in schema.iter().enumerate() {
        if var.name.trim().is_empty() {
            errors.add(format!("variables_schema[{i}].name"), "must not be empty");
        } else if !seen.insert(var.name.as_str()) {
            errors.add(
                format!("variables_schema[{i}].name"),
                format!("repeats {:?}", var.name),
            );
        }
    }
}

fn check_texts(errors: &mut Errors, user: &str, system: Option<&str>) {
    if user.trim().is_empty() {
        errors.add("user_prompt", "must not be empty");
    } else if let Err(e) = templates::check_syntax("user_prompt", user) {
        errors.0.push(e);
    }
    if let Some(system) = system
        && let Err(e) = templates::check_syntax("system_prompt", system)
    {
        errors.0.push(e);
    }
}

/// Reads one version. 404 when absent.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<prompt_version::Model> {
    PromptVersion::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("version", id))
}

/// Whether the version has recorded LLM responses (its text is then frozen).
pub async fn has_responses(db: &impl ConnectionTrait, id: i64) -> Result<bool> {
    Ok(LlmResponse::find()
        .filter(llm_response::Column::PromptVersionId.eq(id))
        .limit(1)
        .count(db)
        .await?
        > 0)
}

/// Creates a version as a draft with the next `version_number` of its prompt. Concurrent
/// creates never share a number: the unique (prompt_id, version_number) key decides and the
/// loser retries with the next number.
pub async fn create(
    db: &DatabaseConnection,
    prompt_id: i64,
    input: NewVersion,
) -> Result<VersionOut> {
    let prompt = prompts::find(db, prompt_id).await?;
    if prompt.archived_at.is_some() {
        return Err(Error::Conflict(format!(
            "Prompt {prompt_id} is archived; it takes no new versions."
        )));
    }
    let mut errors = Errors::default();
    check_texts(
        &mut errors,
        &input.user_prompt,
        input.system_prompt.as_deref(),
    );
    let config = match parse_model_config(input.model_config) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.0.extend(e);
            None
        }
    };
    let schema = match input.variables_schema {
        Some(schema) => {
            check_schema(&mut errors, &schema);
            VariablesSchema(schema)
        }
        None => {
            let sources: Vec<&str> = input
                .system_prompt
                .iter()
                .map(String::as_str)
                .chain([input.user_prompt.as_str()])
                .collect();
            templates::extract_schema(&sources)
        }
    };
    errors.finish().map_err(Error::Validation)?;
    let config = config.unwrap_or_default();
    let backend = db.get_database_backend();
    let p = |i| placeholder(backend, i);
    // One statement computes the number and inserts: atomic under SQLite's single writer;
    // on PostgreSQL a concurrent insert can take the number first, the unique key refuses
    // ours and we retry with the next one.
    let sql = format!(
        "INSERT INTO prompt_tracker_prompt_versions (prompt_id, user_prompt, system_prompt, version_number, status, \
         variables_schema, model_config, notes, created_by, created_at, updated_at) \
         SELECT {p1}, {p2}, {p3}, COALESCE(MAX(version_number), 0) + 1, 'draft', {p4}, {p5}, {p6}, {p7}, {p8}, {p8} \
         FROM prompt_tracker_prompt_versions WHERE prompt_id = {p1} RETURNING id",
        p1 = p(1),
        p2 = p(2),
        p3 = p(3),
        p4 = p(4),
        p5 = p(5),
        p6 = p(6),
        p7 = p(7),
        p8 = p(8),
    );
    for attempt in 0..50u64 {
        let now = Utc::now().naive_utc();
        let values: Vec<sea_orm::Value> = vec![
            prompt_id.into(),
            input.user_prompt.clone().into(),
            input.system_prompt.clone().into(),
            serde_json::to_value(&schema).unwrap_or_default().into(),
            config.to_json().into(),
            input.notes.clone().into(),
            input.created_by.clone().into(),
            now.into(),
        ];
        let stmt = Statement::from_sql_and_values(backend, sql.clone(), values);
        match db.query_one_raw(stmt).await {
            Ok(Some(row)) => {
                let id: i64 = row.try_get_by_index(0)?;
                adopt_prompt_configs(db, prompt_id, id).await?;
                return Ok(find(db, id).await?.into());
            }
            Ok(None) => {
                return Err(Error::Internal(
                    "INSERT ... RETURNING returned no row".to_owned(),
                ));
            }
            Err(e) if matches!(Error::from(e.clone()), Error::Conflict(_)) => {
                tokio::time::sleep(std::time::Duration::from_millis(attempt.min(20))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "Too many concurrent version creations; retry.".to_owned(),
    ))
}

/// Evaluator configs the polymorphic migration left on a prompt that had no version
/// (`PromptTracker::Prompt`) move to its first version, where seed 000 meant them to be.
async fn adopt_prompt_configs(
    db: &DatabaseConnection,
    prompt_id: i64,
    version_id: i64,
) -> Result<()> {
    use entity::evaluator_config::{self, ConfigurableType};
    EvaluatorConfig::update_many()
        .col_expr(
            evaluator_config::Column::ConfigurableType,
            Expr::value(ConfigurableType::PromptVersion),
        )
        .col_expr(
            evaluator_config::Column::ConfigurableId,
            Expr::value(version_id),
        )
        .filter(evaluator_config::Column::ConfigurableType.eq(ConfigurableType::Prompt))
        .filter(evaluator_config::Column::ConfigurableId.eq(prompt_id))
        .exec(db)
        .await?;
    Ok(())
}

/// One page of a prompt's versions, by version number.
pub async fn list(
    db: &DatabaseConnection,
    prompt_id: i64,
    page: &PageParams,
) -> Result<Page<VersionOut>> {
    prompts::find(db, prompt_id).await?;
    let keyset = page.keyset()?;
    let mut q = PromptVersion::find()
        .filter(prompt_version::Column::PromptId.eq(prompt_id))
        .order_by_asc(prompt_version::Column::Id)
        .limit(keyset.limit + 1);
    if let Some(after) = keyset.after {
        q = q.filter(prompt_version::Column::Id.gt(after));
    }
    Ok(Page::from_rows(
        crate::store::pagination::rows(db, &q).await?,
        keyset,
        |r| r.id,
        VersionOut::from,
    ))
}

/// Applies a patch; 409 when it would change the text or model config of a version that
/// already has LLM responses.
pub async fn update(db: &DatabaseConnection, id: i64, patch: VersionPatch) -> Result<VersionOut> {
    let current = find(db, id).await?;
    let mut errors = Errors::default();
    let user = patch
        .user_prompt
        .clone()
        .unwrap_or_else(|| current.user_prompt.clone());
    let system = patch
        .system_prompt
        .clone()
        .unwrap_or_else(|| current.system_prompt.clone());
    check_texts(&mut errors, &user, system.as_deref());
    let config = match patch.model_config.clone() {
        Some(v) => match parse_model_config(Some(v)) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.0.extend(e);
                None
            }
        },
        None => None,
    };
    if let Some(schema) = &patch.variables_schema {
        check_schema(&mut errors, schema);
    }
    if patch.status == Some(VersionStatus::Active) {
        errors.add(
            "status",
            "use POST /api/v1/versions/{version_id}/activate to activate a version",
        );
    }
    errors.finish().map_err(Error::Validation)?;
    let changes_text = user != current.user_prompt
        || system != current.system_prompt
        || config
            .as_ref()
            .is_some_and(|c| c.to_json() != current.model_config.to_json());
    if changes_text && has_responses(db, id).await? {
        return Err(Error::Conflict(format!(
            "Version {id} already has LLM responses: its user_prompt, system_prompt and model_config can no longer change. Create a new version instead."
        )));
    }
    let mut row: prompt_version::ActiveModel = current.into();
    row.user_prompt = Set(user);
    row.system_prompt = Set(system);
    if let Some(c) = config {
        row.model_config = Set(c);
    }
    if let Some(s) = patch.variables_schema {
        row.variables_schema = Set(VariablesSchema(s));
    }
    if let Some(n) = patch.notes {
        row.notes = Set(n);
    }
    if let Some(s) = patch.status {
        row.status = Set(s);
    }
    row.updated_at = Set(Utc::now().naive_utc());
    Ok(row.update(db).await?.into())
}

/// Makes a version its prompt's only active one; the previously active version becomes
/// deprecated, in one transaction (a partial unique index makes two actives impossible).
pub async fn activate(db: &DatabaseConnection, id: i64) -> Result<VersionOut> {
    let version = find(db, id).await?;
    let prompt = prompts::find(db, version.prompt_id).await?;
    if prompt.archived_at.is_some() {
        return Err(Error::Conflict(format!(
            "Prompt {} is archived; its versions cannot be activated.",
            prompt.id
        )));
    }
    for _ in 0..10 {
        let txn = db.begin().await?;
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            // Serialise activations of one prompt's versions.
            txn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT id FROM prompt_tracker_prompts WHERE id = $1 FOR UPDATE",
                [prompt.id.into()],
            ))
            .await?;
        }
        let now = Utc::now().naive_utc();
        let step = async {
            PromptVersion::update_many()
                .col_expr(
                    prompt_version::Column::Status,
                    Expr::value(VersionStatus::Deprecated),
                )
                .col_expr(prompt_version::Column::UpdatedAt, Expr::value(now))
                .filter(prompt_version::Column::PromptId.eq(prompt.id))
                .filter(prompt_version::Column::Status.eq(VersionStatus::Active))
                .filter(prompt_version::Column::Id.ne(id))
                .exec(&txn)
                .await?;
            PromptVersion::update_many()
                .col_expr(
                    prompt_version::Column::Status,
                    Expr::value(VersionStatus::Active),
                )
                .col_expr(prompt_version::Column::UpdatedAt, Expr::value(now))
                .filter(prompt_version::Column::Id.eq(id))
                .exec(&txn)
                .await
        };
        match step.await {
            Ok(_) => {
                txn.commit().await?;
                return Ok(find(db, id).await?.into());
            }
            Err(e) if matches!(Error::from(e.clone()), Error::Conflict(_)) => {
                txn.rollback().await?;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "Too many concurrent activations; retry.".to_owned(),
    ))
}

/// Renders a version with `variables`: 422 naming each missing required variable.
pub fn render(
    version: &prompt_version::Model,
    variables: &Map<String, Value>,
) -> Result<RenderOut> {
    let values =
        templates::resolve(&version.variables_schema, variables).map_err(Error::Validation)?;
    let rendered = templates::render(
        version.system_prompt.as_deref(),
        &version.user_prompt,
        &values,
    )
    .map_err(Error::Validation)?;
    let parts = PromptParts {
        system: rendered.system.as_deref(),
        user: &rendered.user,
    };
    let (provider_request, provider_request_errors) =
        match providers::build_request(&version.model_config, &parts, None) {
            Ok(r) => (Some(r), Vec::new()),
            Err(e) => (None, e),
        };
    Ok(RenderOut {
        system_prompt: rendered.system,
        user_prompt: rendered.user,
        variables: values,
        provider_request,
        provider_request_errors,
    })
}
