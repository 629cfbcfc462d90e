//! `prompt_tracker_prompt_versions`: one immutable-once-used text of a prompt.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::evaluator_config::{self, ConfigurableType};
use crate::{ModelConfig, VariablesSchema};

/// Lifecycle of a version: one `active` version per prompt; the others `draft` or `deprecated`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    #[sea_orm(string_value = "draft")]
    Draft,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "deprecated")]
    Deprecated,
}

/// A prompt version. `version_number` is unique per prompt.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prompt_tracker_prompt_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub prompt_id: i64,
    #[sea_orm(column_type = "Text")]
    pub user_prompt: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub system_prompt: Option<String>,
    pub version_number: i32,
    pub status: VersionStatus,
    #[sea_orm(column_type = "JsonBinary")]
    pub variables_schema: VariablesSchema,
    #[sea_orm(column_type = "JsonBinary")]
    pub model_config: ModelConfig,
    #[sea_orm(column_type = "Text", nullable)]
    pub notes: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// Advanced by database triggers whenever the version, its prompt or its version-owned
    /// evaluator configs change (migration `m20261121_000010`); only equality is meaningful.
    /// The service's cache of what tracked calls read is checked against it. Not in the API.
    pub revision: i64,
}

#[derive(Copy, Clone, Debug, EnumIter)]
pub enum Relation {
    Prompt,
    PromptTests,
    LlmResponses,
    /// Monitoring configs: `configurable_type = 'PromptTracker::PromptVersion'`.
    EvaluatorConfigs,
}

impl RelationTrait for Relation {
    fn def(&self) -> RelationDef {
        match self {
            Self::Prompt => Entity::belongs_to(super::prompt::Entity)
                .from(Column::PromptId)
                .to(super::prompt::Column::Id)
                .into(),
            Self::PromptTests => Entity::has_many(super::prompt_test::Entity).into(),
            Self::LlmResponses => Entity::has_many(super::llm_response::Entity).into(),
            Self::EvaluatorConfigs => Entity::has_many(evaluator_config::Entity)
                .on_condition(|_, config| {
                    evaluator_config::owned_by(config, ConfigurableType::PromptVersion)
                })
                .into(),
        }
    }
}

impl Related<super::prompt::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Prompt.def()
    }
}

impl Related<super::prompt_test::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptTests.def()
    }
}

impl Related<super::llm_response::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LlmResponses.def()
    }
}

impl Related<evaluator_config::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::EvaluatorConfigs.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
