//! `prompt_tracker_prompt_tests`: a named test case of a prompt version. Its evaluators are
//! evaluator configs with `configurable_type = 'PromptTracker::PromptTest'`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ModelConfig;
use crate::evaluator_config::{self, ConfigurableType};

/// A prompt test. `name` is unique per version.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prompt_tracker_prompt_tests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub prompt_version_id: i64,
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// JSON object: variable name -> value.
    #[sea_orm(column_type = "JsonBinary")]
    pub template_variables: Json,
    #[sea_orm(column_type = "Text", nullable)]
    pub expected_output: Option<String>,
    /// JSON array of patterns.
    #[sea_orm(column_type = "JsonBinary")]
    pub expected_patterns: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub model_config: ModelConfig,
    pub enabled: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// 0-100: when set, a run passes when the weighted mean score reaches it.
    pub pass_threshold: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter)]
pub enum Relation {
    PromptVersion,
    PromptTestRuns,
    /// Testing configs: `configurable_type = 'PromptTracker::PromptTest'`.
    EvaluatorConfigs,
}

impl RelationTrait for Relation {
    fn def(&self) -> RelationDef {
        match self {
            Self::PromptVersion => Entity::belongs_to(super::prompt_version::Entity)
                .from(Column::PromptVersionId)
                .to(super::prompt_version::Column::Id)
                .into(),
            Self::PromptTestRuns => Entity::has_many(super::prompt_test_run::Entity).into(),
            Self::EvaluatorConfigs => Entity::has_many(evaluator_config::Entity)
                .on_condition(|_, config| {
                    evaluator_config::owned_by(config, ConfigurableType::PromptTest)
                })
                .into(),
        }
    }
}

impl Related<super::prompt_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptVersion.def()
    }
}

impl Related<super::prompt_test_run::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptTestRuns.def()
    }
}

impl Related<evaluator_config::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EvaluatorConfigs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
