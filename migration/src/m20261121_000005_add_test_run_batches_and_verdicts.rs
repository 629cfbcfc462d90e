//! Test runs in batches, weighted verdicts, and evaluations linked to their run.
//!
//! - `prompt_tracker_test_run_batches` (`id`, `prompt_version_id`, `prompt_test_id` null for a
//!   whole-version batch, `created_at`): one request's runs, whose progress and verdict
//!   `GET /api/v1/test-run-batches/{id}` reports.
//! - `prompt_tracker_prompt_test_runs.batch_id` (nullable, indexed; legacy runs have none).
//! - `prompt_tracker_prompt_tests.pass_threshold` (0-100, nullable): when set, a run passes
//!   when the weighted mean score of its evaluations reaches it.
//! - `prompt_tracker_evaluations.prompt_test_run_id` (nullable, indexed): the run that made it.
//!
//! `down` parks the three columns' values in the [`archive`](crate::archive) (restored by the
//! next `up`) and refuses while runs belong to batches, since the batch table goes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::archive;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20261121_000005_add_test_run_batches_and_verdicts";
/// The batch table's name.
pub const BATCHES: &str = "prompt_tracker_test_run_batches";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

const COLUMNS: &[(&str, &str)] = &[
    (PROMPT_TEST_RUNS, "batch_id"),
    (PROMPT_TESTS, "pass_threshold"),
    (EVALUATIONS, "prompt_test_run_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BATCHES)
                    .col(id())
                    .col(ColumnDef::new("prompt_version_id").big_integer().not_null())
                    .col(ColumnDef::new("prompt_test_id").big_integer())
                    .col(timestamp("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_prompt_tracker_test_run_batches_prompt_version_id")
                            .from(BATCHES, "prompt_version_id")
                            .to(PROMPT_VERSIONS, "id"),
                    )
                    .to_owned(),
            )
            .await?;
        // Plain columns (no FK) so SQLite can drop them again on `down`.
        manager
            .alter_table(
                Table::alter()
                    .table(PROMPT_TEST_RUNS)
                    .add_column(ColumnDef::new("batch_id").big_integer())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PROMPT_TESTS)
                    .add_column(ColumnDef::new("pass_threshold").integer().check((
                        "chk_prompt_tracker_prompt_tests_pass_threshold",
                        Expr::cust("pass_threshold IS NULL OR (pass_threshold >= 0 AND pass_threshold <= 100)"),
                    )))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EVALUATIONS)
                    .add_column(ColumnDef::new("prompt_test_run_id").big_integer())
                    .to_owned(),
            )
            .await?;
        if archive::exists(manager).await? {
            for (table, column) in COLUMNS {
                let value = match backend(manager) {
                    DbBackend::Postgres => "(a.original #>> '{}')::bigint",
                    _ => "a.original",
                };
                exec(
                    manager,
                    &format!(
                        "UPDATE {table} SET {column} = {value} FROM {} a WHERE {} AND a.row_id = {table}.id",
                        archive::TABLE,
                        archive::key(NAME, table, column)
                    ),
                )
                .await?;
                archive::clear(manager, NAME, table, column).await?;
            }
        }
        index(
            manager,
            "index_prompt_tracker_prompt_test_runs_on_batch_id",
            PROMPT_TEST_RUNS,
            &["batch_id"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_evaluations_on_prompt_test_run_id",
            EVALUATIONS,
            &["prompt_test_run_id"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_rows(
            manager,
            &format!("SELECT id FROM {PROMPT_TEST_RUNS} WHERE batch_id IS NOT NULL ORDER BY id"),
            "These test runs belong to run batches, whose table this rollback removes; delete the runs first",
        )
        .await?;
        for (table, column) in COLUMNS {
            let set: Vec<i64> = column_values(manager, table, column).await?;
            if set.first().copied().unwrap_or(0) > 0 {
                archive::ensure(manager).await?;
                let value = match backend(manager) {
                    DbBackend::Postgres => format!("to_jsonb({column})"),
                    _ => (*column).to_owned(),
                };
                exec(
                    manager,
                    &format!(
                        "INSERT INTO {} (migration, table_name, row_id, column_name, original) \
                         SELECT '{NAME}', '{table}', id, '{column}', {value} FROM {table} WHERE {column} IS NOT NULL",
                        archive::TABLE
                    ),
                )
                .await?;
            }
        }
        drop_index(
            manager,
            "index_prompt_tracker_prompt_test_runs_on_batch_id",
            PROMPT_TEST_RUNS,
        )
        .await?;
        drop_index(
            manager,
            "index_prompt_tracker_evaluations_on_prompt_test_run_id",
            EVALUATIONS,
        )
        .await?;
        for (table, column) in COLUMNS {
            manager
                .alter_table(Table::alter().table(*table).drop_column(*column).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(BATCHES).to_owned())
            .await
    }
}

async fn column_values(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
) -> Result<Vec<i64>, DbErr> {
    crate::support::column(
        manager,
        &format!("SELECT COUNT(*) FROM {table} WHERE {column} IS NOT NULL"),
    )
    .await
}
