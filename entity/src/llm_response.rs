//! `prompt_tracker_llm_responses`: one LLM call made with a prompt version. A *tracked call*
//! when `is_test_run` is false (recorded by a client app), a *test call* when true.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Outcome of the call.
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
pub enum ResponseStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "success")]
    Success,
    #[sea_orm(string_value = "error")]
    Error,
    #[sea_orm(string_value = "timeout")]
    Timeout,
}

/// An LLM response.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prompt_tracker_llm_responses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub prompt_version_id: i64,
    #[sea_orm(column_type = "Text")]
    pub rendered_prompt: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub rendered_system_prompt: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub variables_used: Json,
    #[sea_orm(column_type = "Text", nullable)]
    pub response_text: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub response_metadata: Json,
    pub status: ResponseStatus,
    pub error_type: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    /// Wall time of the provider call, ms.
    pub response_time_ms: Option<i32>,
    /// Input tokens.
    pub tokens_prompt: Option<i32>,
    /// Output tokens.
    pub tokens_completion: Option<i32>,
    pub tokens_total: Option<i32>,
    /// Cost of the call, USD.
    #[sea_orm(column_type = "Decimal(Some((10, 6)))", nullable)]
    pub cost_usd: Option<Decimal>,
    /// Provider key such as `openai` (never a compound value after seed 002).
    pub provider: String,
    pub model: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub environment: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub context: Json,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// True for calls made by prompt test runs (seed 000, Migration 2).
    pub is_test_run: bool,
    /// The provider's api, such as `response_api` (seed 002); NULL when unknown.
    pub api: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::prompt_version::Entity",
        from = "Column::PromptVersionId",
        to = "super::prompt_version::Column::Id"
    )]
    PromptVersion,
    #[sea_orm(has_many = "super::evaluation::Entity")]
    Evaluations,
}

impl Related<super::prompt_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptVersion.def()
    }
}

impl Related<super::evaluation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Evaluations.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
