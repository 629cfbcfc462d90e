//! `prompt_tracker_prompt_test_runs`: one execution of a prompt test and its verdict.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// State of a run; `passed`, `failed`, `error` and `skipped` are final.
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
pub enum TestRunStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "passed")]
    Passed,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "error")]
    Error,
    #[sea_orm(string_value = "skipped")]
    Skipped,
}

/// A test run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prompt_tracker_prompt_test_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub prompt_test_id: i64,
    pub prompt_version_id: i64,
    pub llm_response_id: Option<i64>,
    pub status: TestRunStatus,
    pub passed: Option<bool>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    pub passed_evaluators: i32,
    pub failed_evaluators: i32,
    pub total_evaluators: i32,
    /// JSON array: one result per evaluator.
    #[sea_orm(column_type = "JsonBinary")]
    pub evaluator_results: Json,
    /// Wall time of the whole run, ms.
    pub execution_time_ms: Option<i32>,
    /// USD.
    #[sea_orm(column_type = "Decimal(Some((10, 6)))", nullable)]
    pub cost_usd: Option<Decimal>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// The batch (request) that started the run; NULL for legacy runs.
    pub batch_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::prompt_test::Entity",
        from = "Column::PromptTestId",
        to = "super::prompt_test::Column::Id"
    )]
    PromptTest,
    #[sea_orm(
        belongs_to = "super::prompt_version::Entity",
        from = "Column::PromptVersionId",
        to = "super::prompt_version::Column::Id"
    )]
    PromptVersion,
    #[sea_orm(
        belongs_to = "super::llm_response::Entity",
        from = "Column::LlmResponseId",
        to = "super::llm_response::Column::Id"
    )]
    LlmResponse,
}

impl Related<super::prompt_test::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptTest.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
