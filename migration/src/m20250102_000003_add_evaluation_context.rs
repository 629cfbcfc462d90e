//! Seed 000, Migration 3: evaluations record their `evaluation_context`.
//!
//! `evaluation_context varchar not null default 'tracked_call'`, one of `tracked_call`,
//! `test_run`, `manual` (CHECK), backfilled set-based with `UPDATE ... FROM`: `test_run` where
//! the evaluated response is a test run (`is_test_run`, migration 2). Indexed.
//!
//! `down` drops the column. A context that the old data cannot derive again (`manual`, or one
//! changed after `up`) is parked in the [`archive`](crate::archive) and restored by the next `up`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::archive;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20250102_000003_add_evaluation_context";
const INDEX: &str = "index_prompt_tracker_evaluations_on_evaluation_context";

/// Allowed `evaluation_context` values.
pub const EVALUATION_CONTEXTS: &[&str] = &["tracked_call", "test_run", "manual"];

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

/// The context the data implies for evaluation `e`: `test_run` when its response is a test run.
const DERIVED: &str = "CASE WHEN EXISTS (SELECT 1 FROM prompt_tracker_llm_responses lr \
     WHERE lr.id = e.llm_response_id AND lr.is_test_run = TRUE) THEN 'test_run' ELSE 'tracked_call' END";

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
                    .add_column(string_enum(
                        EVALUATIONS,
                        "evaluation_context",
                        EVALUATION_CONTEXTS,
                        "tracked_call",
                    ))
                    .to_owned(),
            )
            .await?;
        exec(
            manager,
            &format!(
                "UPDATE {EVALUATIONS} SET evaluation_context = 'test_run' FROM {LLM_RESPONSES} lr \
                 WHERE lr.id = {EVALUATIONS}.llm_response_id AND lr.is_test_run = TRUE"
            ),
        )
        .await?;
        if archive::exists(manager).await? {
            let value = match backend(manager) {
                DbBackend::Postgres => "a.original #>> '{}'",
                _ => "a.original",
            };
            exec(
                manager,
                &format!(
                    "UPDATE {EVALUATIONS} SET evaluation_context = {value} FROM {} a WHERE {} AND a.row_id = {EVALUATIONS}.id",
                    archive::TABLE,
                    archive::key(NAME, EVALUATIONS, "evaluation_context")
                ),
            )
            .await?;
            archive::clear(manager, NAME, EVALUATIONS, "evaluation_context").await?;
        }
        index(manager, INDEX, EVALUATIONS, &["evaluation_context"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let disagrees = format!("e.evaluation_context <> {DERIVED}");
        let count: Vec<i64> = column(
            manager,
            &format!("SELECT COUNT(*) FROM {EVALUATIONS} e WHERE {disagrees}"),
        )
        .await?;
        if count.first().copied().unwrap_or(0) > 0 {
            archive::ensure(manager).await?;
            let value = match backend(manager) {
                DbBackend::Postgres => "to_jsonb(e.evaluation_context)",
                _ => "e.evaluation_context",
            };
            exec(
                manager,
                &format!(
                    "INSERT INTO {} (migration, table_name, row_id, column_name, original) \
                     SELECT '{NAME}', '{EVALUATIONS}', e.id, 'evaluation_context', {value} FROM {EVALUATIONS} e WHERE {disagrees}",
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
                    .drop_column("evaluation_context")
                    .to_owned(),
            )
            .await
    }
}
