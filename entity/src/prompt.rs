//! `prompt_tracker_prompts`: a named, slugged prompt whose text lives in its versions.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A prompt. `name` and `slug` are unique; `archived_at` set means soft-deleted.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "prompt_tracker_prompts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub category: Option<String>,
    /// JSON array of strings.
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: Json,
    pub created_by: Option<String>,
    pub archived_at: Option<DateTime>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::prompt_version::Entity")]
    PromptVersions,
}

impl Related<super::prompt_version::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PromptVersions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
