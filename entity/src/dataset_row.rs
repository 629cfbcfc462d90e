//! `prompt_tracker_dataset_rows`: one set of variable values of a dataset.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a row came from.
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
pub enum RowSource {
    #[sea_orm(string_value = "manual")]
    Manual,
    #[sea_orm(string_value = "imported")]
    Imported,
    #[sea_orm(string_value = "llm_generated")]
    LlmGenerated,
}

/// A dataset row: `row_data` maps variable names to values.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_tracker_dataset_rows")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub dataset_id: i64,
    #[sea_orm(column_type = "JsonBinary")]
    pub row_data: Json,
    pub source: RowSource,
    /// Line of the import file the row came from (1-based, header included for CSV).
    pub line_number: Option<i32>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::dataset::Entity",
        from = "Column::DatasetId",
        to = "super::dataset::Column::Id"
    )]
    Dataset,
}

impl Related<super::dataset::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Dataset.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
