//! Evaluations record which evaluator config produced them: `evaluator_config_id` (nullable,
//! indexed). No foreign key: a config may be deleted later while its evaluations stay, each
//! with a snapshot of the config in force in its `metadata`.
//!
//! `down` drops the column; the ids are parked in the [`archive`](crate::archive) and restored
//! by the next `up`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::archive;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20261121_000001_add_evaluator_config_to_evaluations";
const INDEX: &str = "index_prompt_tracker_evaluations_on_evaluator_config_id";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(EVALUATIONS)
                    .add_column(ColumnDef::new("evaluator_config_id").big_integer())
                    .to_owned(),
            )
            .await?;
        if archive::exists(manager).await? {
            let value = match backend(manager) {
                DbBackend::Postgres => "(a.original #>> '{}')::bigint",
                _ => "a.original",
            };
            exec(
                manager,
                &format!(
                    "UPDATE {EVALUATIONS} SET evaluator_config_id = {value} FROM {} a WHERE {} AND a.row_id = {EVALUATIONS}.id",
                    archive::TABLE,
                    archive::key(NAME, EVALUATIONS, "evaluator_config_id")
                ),
            )
            .await?;
            archive::clear(manager, NAME, EVALUATIONS, "evaluator_config_id").await?;
        }
        index(manager, INDEX, EVALUATIONS, &["evaluator_config_id"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let set: Vec<i64> = column(
            manager,
            &format!("SELECT COUNT(*) FROM {EVALUATIONS} WHERE evaluator_config_id IS NOT NULL"),
        )
        .await?;
        if set.first().copied().unwrap_or(0) > 0 {
            archive::ensure(manager).await?;
            let value = match backend(manager) {
                DbBackend::Postgres => "to_jsonb(evaluator_config_id)",
                _ => "evaluator_config_id",
            };
            exec(
                manager,
                &format!(
                    "INSERT INTO {} (migration, table_name, row_id, column_name, original) \
                     SELECT '{NAME}', '{EVALUATIONS}', id, 'evaluator_config_id', {value} FROM {EVALUATIONS} \
                     WHERE evaluator_config_id IS NOT NULL",
                    archive::TABLE
                ),
            )
            .await?;
        }
        drop_index(manager, INDEX, EVALUATIONS).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EVALUATIONS)
                    .drop_column("evaluator_config_id")
                    .to_owned(),
            )
            .await
    }
}
