//! `prompt_tracker_test_run_batches`: the runs one request started.

use sea_orm::entity::prelude::*;

/// A batch of test runs of one version (and of one test, when `prompt_test_id` is set).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_tracker_test_run_batches")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub prompt_version_id: i64,
    pub prompt_test_id: Option<i64>,
    pub created_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
