//! `prompt_tracker_evaluations`: one score of one LLM response.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Why the evaluation was made (seed 000, Migration 3).
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
pub enum EvaluationContext {
    /// By a version's monitoring config, on a call tracked by a client app.
    #[sea_orm(string_value = "tracked_call")]
    TrackedCall,
    /// By a test's config, during a test run.
    #[sea_orm(string_value = "test_run")]
    TestRun,
    /// Recorded by a person.
    #[sea_orm(string_value = "manual")]
    Manual,
}

/// An evaluation: `score` between `score_min` and `score_max` (0-100 by default).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prompt_tracker_evaluations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub llm_response_id: i64,
    #[sea_orm(column_type = "Decimal(Some((10, 2)))")]
    pub score: Decimal,
    #[sea_orm(column_type = "Decimal(Some((10, 2)))")]
    pub score_min: Decimal,
    #[sea_orm(column_type = "Decimal(Some((10, 2)))")]
    pub score_max: Decimal,
    /// The evaluator's registry key (or class name in legacy rows).
    pub evaluator_type: String,
    pub evaluator_id: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub feedback: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub passed: Option<bool>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    pub evaluation_context: EvaluationContext,
    /// The evaluator config that produced it (none for manual and legacy evaluations); the
    /// config in force is also snapshotted in `metadata.evaluator_config`.
    pub evaluator_config_id: Option<i64>,
    /// The test run that made it, for evaluations of test calls.
    pub prompt_test_run_id: Option<i64>,
    /// The version of the evaluated response (a copy of its `prompt_version_id`, written with
    /// the evaluation; backfilled by migration `m20261121_000009`), so evaluations filter by
    /// version through their own `(prompt_version_id, id)` index.
    pub prompt_version_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::llm_response::Entity",
        from = "Column::LlmResponseId",
        to = "super::llm_response::Column::Id"
    )]
    LlmResponse,
}

impl Related<super::llm_response::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LlmResponse.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
