//! Prompt tests: named cases of a version (variables, expectations, model config), scored by
//! their own evaluator configs when run.

use chrono::{DateTime, Utc};
use entity::evaluator_config::{self, ConfigurableType};
use entity::model_config::ApiType;
use entity::prelude::*;
use entity::{prompt_test, prompt_test_run};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ModelTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::prompts::versions;
use crate::store::pagination::{Page, PageParams, utc};
use crate::validation::Errors;

/// A prompt test as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PromptTestOut {
    pub id: i64,
    pub prompt_version_id: i64,
    /// Unique per version.
    pub name: String,
    pub description: Option<String>,
    /// Variable name -> value used to render the version.
    #[schema(value_type = Object)]
    pub template_variables: Value,
    pub expected_output: Option<String>,
    pub expected_patterns: Vec<String>,
    /// Provider/api form.
    #[schema(value_type = Object)]
    pub model_config: Value,
    pub api_type: ApiType,
    pub enabled: bool,
    /// 0-100: a run passes when the weighted mean score reaches it; null: every evaluation
    /// (with weight > 0) must pass.
    pub pass_threshold: Option<i32>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<prompt_test::Model> for PromptTestOut {
    fn from(m: prompt_test::Model) -> Self {
        PromptTestOut {
            id: m.id,
            prompt_version_id: m.prompt_version_id,
            name: m.name,
            description: m.description,
            template_variables: m.template_variables,
            expected_output: m.expected_output,
            expected_patterns: serde_json::from_value(m.expected_patterns).unwrap_or_default(),
            api_type: m.model_config.api_type(),
            model_config: m.model_config.to_json(),
            enabled: m.enabled,
            pass_threshold: m.pass_threshold,
            tags: serde_json::from_value(m.tags).unwrap_or_default(),
            metadata: m.metadata,
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

/// Body of `POST /api/v1/versions/{version_id}/tests`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromptTest {
    /// Unique per version, 1-255 characters.
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub template_variables: Map<String, Value>,
    pub expected_output: Option<String>,
    #[serde(default)]
    pub expected_patterns: Vec<String>,
    /// Defaults to the version's model config; either form accepted.
    #[schema(value_type = Option<Object>)]
    pub model_config: Option<Value>,
    pub enabled: Option<bool>,
    /// 0-100 (see the test's `pass_threshold`).
    #[schema(minimum = 0, maximum = 100)]
    pub pass_threshold: Option<i32>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

/// Body of `PATCH /api/v1/tests/{test_id}`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptTestPatch {
    #[schema(min_length = 1, max_length = 255)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub template_variables: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub expected_output: Option<Option<String>>,
    pub expected_patterns: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub model_config: Option<Value>,
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 100)]
    pub pass_threshold: Option<Option<i32>>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

fn check_pass_threshold(errors: &mut Errors, t: Option<i32>) {
    if t.is_some_and(|t| !(0..=100).contains(&t)) {
        errors.add("pass_threshold", "must be between 0 and 100");
    }
}

async fn name_taken(
    db: &impl ConnectionTrait,
    version_id: i64,
    name: &str,
    except: Option<i64>,
) -> Result<bool> {
    let mut q = PromptTest::find()
        .filter(prompt_test::Column::PromptVersionId.eq(version_id))
        .filter(prompt_test::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(prompt_test::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

/// Reads one test. 404 when absent.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<prompt_test::Model> {
    PromptTest::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("test", id))
}

/// Creates a test on a version. 404 without the version, 422 on invalid fields, 409 when
/// the version already has a test of that name.
pub async fn create(
    db: &DatabaseConnection,
    version_id: i64,
    input: NewPromptTest,
) -> Result<PromptTestOut> {
    let version = versions::find(db, version_id).await?;
    let mut errors = Errors::default();
    errors.check_name("name", &input.name);
    check_pass_threshold(&mut errors, input.pass_threshold);
    let config = match input.model_config {
        Some(v) => match versions::parse_model_config(Some(v)) {
            Ok(c) => c,
            Err(e) => {
                errors.0.extend(e);
                Default::default()
            }
        },
        None => version.model_config.clone(),
    };
    errors.finish().map_err(Error::Validation)?;
    if name_taken(db, version_id, &input.name, None).await? {
        return Err(Error::Conflict(format!(
            "Version {version_id} already has a test named {:?}.",
            input.name
        )));
    }
    let now = Utc::now().naive_utc();
    let row = prompt_test::ActiveModel {
        prompt_version_id: Set(version_id),
        name: Set(input.name),
        description: Set(input.description),
        template_variables: Set(Value::Object(input.template_variables)),
        expected_output: Set(input.expected_output),
        expected_patterns: Set(json!(input.expected_patterns)),
        model_config: Set(config),
        enabled: Set(input.enabled.unwrap_or(true)),
        pass_threshold: Set(input.pass_threshold),
        tags: Set(json!(input.tags)),
        metadata: Set(Value::Object(input.metadata)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?.into())
}

/// The tests of a version, by id.
pub async fn list(
    db: &DatabaseConnection,
    version_id: i64,
    page: &PageParams,
) -> Result<Page<PromptTestOut>> {
    versions::find(db, version_id).await?;
    let keyset = page.keyset()?;
    let mut q = PromptTest::find()
        .filter(prompt_test::Column::PromptVersionId.eq(version_id))
        .order_by_asc(prompt_test::Column::Id)
        .limit(keyset.limit + 1);
    if let Some(after) = keyset.after {
        q = q.filter(prompt_test::Column::Id.gt(after));
    }
    Ok(Page::from_rows(
        crate::store::pagination::rows(db, &q).await?,
        keyset,
        |r| r.id,
        PromptTestOut::from,
    ))
}

/// Applies a patch.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    patch: PromptTestPatch,
) -> Result<PromptTestOut> {
    let current = find(db, id).await?;
    let mut errors = Errors::default();
    if let Some(name) = &patch.name {
        errors.check_name("name", name);
    }
    check_pass_threshold(&mut errors, patch.pass_threshold.flatten());
    let config = match patch.model_config {
        Some(v) => match versions::parse_model_config(Some(v)) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.0.extend(e);
                None
            }
        },
        None => None,
    };
    errors.finish().map_err(Error::Validation)?;
    if let Some(name) = &patch.name
        && name_taken(db, current.prompt_version_id, name, Some(id)).await?
    {
        return Err(Error::Conflict(format!(
            "Version {} already has a test named {name:?}.",
            current.prompt_version_id
        )));
    }
    let mut row: prompt_test::ActiveModel = current.into();
    if let Some(v) = patch.name {
        row.name = Set(v);
    }
    if let Some(v) = patch.description {
        row.description = Set(v);
    }
    if let Some(v) = patch.template_variables {
        row.template_variables = Set(Value::Object(v));
    }
    if let Some(v) = patch.expected_output {
        row.expected_output = Set(v);
    }
    if let Some(v) = patch.expected_patterns {
        row.expected_patterns = Set(json!(v));
    }
    if let Some(c) = config {
        row.model_config = Set(c);
    }
    if let Some(v) = patch.enabled {
        row.enabled = Set(v);
    }
    if let Some(v) = patch.pass_threshold {
        row.pass_threshold = Set(v);
    }
    if let Some(v) = patch.tags {
        row.tags = Set(json!(v));
    }
    if let Some(v) = patch.metadata {
        row.metadata = Set(Value::Object(v));
    }
    row.updated_at = Set(Utc::now().naive_utc());
    Ok(row.update(db).await?.into())
}

/// Deletes a test and its evaluator configs; 409 when it has runs (their history would go
/// with it: disable the test instead).
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<()> {
    let test = find(db, id).await?;
    let runs = PromptTestRun::find()
        .filter(prompt_test_run::Column::PromptTestId.eq(id))
        .count(db)
        .await?;
    if runs > 0 {
        return Err(Error::Conflict(format!(
            "Test {id} has {runs} runs; disable it (`enabled: false`) to keep their history."
        )));
    }
    let txn = db.begin().await?;
    EvaluatorConfig::delete_many()
        .filter(evaluator_config::Column::ConfigurableType.eq(ConfigurableType::PromptTest))
        .filter(evaluator_config::Column::ConfigurableId.eq(id))
        .exec(&txn)
        .await?;
    test.delete(&txn).await?;
    txn.commit().await?;
    Ok(())
}
