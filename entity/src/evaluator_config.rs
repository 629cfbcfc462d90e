//! `prompt_tracker_evaluator_configs`: how one evaluator scores the calls of its owner.
//!
//! The owner is polymorphic (seed 000, Migration 1): `configurable_type` holds the Rails class
//! name and `configurable_id` the owner's id. There is no foreign key; the relations below
//! add the type to the join condition, so `find_related` works in both directions.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Condition, ExprTrait, IntoCondition};
use serde::{Deserialize, Serialize};

/// The owner kind of an evaluator config, stored as the seed's literal class names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum ConfigurableType {
    /// Monitoring: runs on tracked calls of a prompt version.
    #[sea_orm(string_value = "PromptTracker::PromptVersion")]
    #[serde(rename = "prompt_version")]
    PromptVersion,
    /// Testing: runs on the calls of a prompt test's runs.
    #[sea_orm(string_value = "PromptTracker::PromptTest")]
    #[serde(rename = "prompt_test")]
    PromptTest,
    /// Kept by the polymorphic migration for configs whose prompt had no version yet.
    #[sea_orm(string_value = "PromptTracker::Prompt")]
    #[serde(rename = "prompt")]
    Prompt,
}

/// When an evaluator runs: `sync` before the tracking call answers, `async` in the background.
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
pub enum RunMode {
    #[sea_orm(string_value = "sync")]
    Sync,
    #[sea_orm(string_value = "async")]
    Async,
}

/// An evaluator config. Unique (`configurable_type`, `configurable_id`, `evaluator_key`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prompt_tracker_evaluator_configs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub configurable_type: ConfigurableType,
    pub configurable_id: i64,
    /// Registry key of the evaluator, such as `keyword`.
    pub evaluator_key: String,
    pub enabled: bool,
    /// The evaluator's own settings (JSON object).
    #[sea_orm(column_type = "JsonBinary")]
    pub config: Json,
    pub run_mode: RunMode,
    pub priority: i32,
    /// Weight in a test's weighted mean score; 0 makes the evaluator informational.
    #[sea_orm(column_type = "Decimal(Some((5, 2)))")]
    pub weight: Decimal,
    pub depends_on: Option<String>,
    pub min_dependency_score: Option<i32>,
    /// Pass mark 0-100: `passed = score >= threshold`.
    pub threshold: Option<i32>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

/// Join condition: the config row in `table` is owned by a `kind` configurable.
pub fn owned_by(table: DynIden, kind: ConfigurableType) -> Condition {
    Expr::col((table, Column::ConfigurableType))
        .eq(kind.into_value())
        .into_condition()
}

#[derive(Copy, Clone, Debug, EnumIter)]
pub enum Relation {
    PromptVersion,
    PromptTest,
    Prompt,
}

impl RelationTrait for Relation {
    fn def(&self) -> RelationDef {
        match self {
            Self::PromptVersion => Entity::belongs_to(super::prompt_version::Entity)
                .from(Column::ConfigurableId)
                .to(super::prompt_version::Column::Id)
                .skip_fk()
                .on_condition(|config, _| owned_by(config, ConfigurableType::PromptVersion))
                .into(),
            Self::PromptTest => Entity::belongs_to(super::prompt_test::Entity)
                .from(Column::ConfigurableId)
                .to(super::prompt_test::Column::Id)
                .skip_fk()
                .on_condition(|config, _| owned_by(config, ConfigurableType::PromptTest))
                .into(),
            Self::Prompt => Entity::belongs_to(super::prompt::Entity)
                .from(Column::ConfigurableId)
                .to(super::prompt::Column::Id)
                .skip_fk()
                .on_condition(|config, _| owned_by(config, ConfigurableType::Prompt))
                .into(),
        }
    }
}

impl Related<super::prompt_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptVersion.def()
    }
}

impl Related<super::prompt_test::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptTest.def()
    }
}

impl Related<super::prompt::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Prompt.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
