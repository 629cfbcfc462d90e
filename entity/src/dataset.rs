//! `prompt_tracker_datasets`: a named set of variable rows of a prompt version.

use sea_orm::entity::prelude::*;

/// A dataset. Its schema is its version's `variables_schema`; `name` is unique per version.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_tracker_datasets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub prompt_version_id: i64,
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::dataset_row::Entity")]
    Rows,
}

impl Related<super::dataset_row::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Rows.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
