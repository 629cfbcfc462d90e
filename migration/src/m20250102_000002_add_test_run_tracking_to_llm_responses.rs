//! Seed 000, Migration 2: LLM responses get an explicit `is_test_run` flag.
//!
//! `is_test_run boolean not null default false`, backfilled from `response_metadata.test_run`:
//! the JSON value `true` and the string `"true"` both count, as the seed's
//! `response_metadata->>'test_run' = 'true'` does on PostgreSQL (on SQLite the same rule is
//! spelled with `json_type`/`json_extract`; metadata that is not valid JSON counts as false).
//! Indexed for filtering.
//!
//! `down` drops the column. A flag that disagrees with the metadata (set through the API
//! after `up`) is parked in the [`archive`](crate::archive) and restored by the next `up`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::archive;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20250102_000002_add_test_run_tracking_to_llm_responses";
const INDEX: &str = "index_prompt_tracker_llm_responses_on_is_test_run";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

/// SQL that is true when the row's `response_metadata.test_run` is JSON `true` or `"true"`.
pub fn metadata_says_test_run(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "COALESCE(response_metadata->>'test_run' = 'true', FALSE)",
        _ => {
            "COALESCE(CASE WHEN json_valid(response_metadata) THEN \
             json_type(response_metadata, '$.test_run') = 'true' \
             OR (json_type(response_metadata, '$.test_run') = 'text' AND json_extract(response_metadata, '$.test_run') = 'true') \
             END, FALSE)"
        }
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
                    .table(LLM_RESPONSES)
                    .add_column(
                        ColumnDef::new("is_test_run")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        exec(
            manager,
            &format!(
                "UPDATE {LLM_RESPONSES} SET is_test_run = TRUE WHERE {}",
                metadata_says_test_run(backend(manager))
            ),
        )
        .await?;
        if archive::exists(manager).await? {
            let value = match backend(manager) {
                DbBackend::Postgres => "(a.original #>> '{}')::boolean",
                _ => "a.original",
            };
            exec(
                manager,
                &format!(
                    "UPDATE {LLM_RESPONSES} SET is_test_run = {value} FROM {} a WHERE {} AND a.row_id = {LLM_RESPONSES}.id",
                    archive::TABLE,
                    archive::key(NAME, LLM_RESPONSES, "is_test_run")
                ),
            )
            .await?;
            archive::clear(manager, NAME, LLM_RESPONSES, "is_test_run").await?;
        }
        index(manager, INDEX, LLM_RESPONSES, &["is_test_run"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let disagrees = format!(
            "is_test_run <> {}",
            metadata_says_test_run(backend(manager))
        );
        let count: Vec<i64> = column(
            manager,
            &format!("SELECT COUNT(*) FROM {LLM_RESPONSES} WHERE {disagrees}"),
        )
        .await?;
        if count.first().copied().unwrap_or(0) > 0 {
            archive::ensure(manager).await?;
            let value = match backend(manager) {
                DbBackend::Postgres => "to_jsonb(is_test_run)",
                _ => "is_test_run",
            };
            exec(
                manager,
                &format!(
                    "INSERT INTO {} (migration, table_name, row_id, column_name, original) \
                     SELECT '{NAME}', '{LLM_RESPONSES}', id, 'is_test_run', {value} FROM {LLM_RESPONSES} WHERE {disagrees}",
                    archive::TABLE
                ),
            )
            .await?;
        }
        drop_index(manager, INDEX, LLM_RESPONSES).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LLM_RESPONSES)
                    .drop_column("is_test_run")
                    .to_owned(),
            )
            .await
    }
}
