//! Datasets of a prompt version: named sets of variable rows that test runs iterate over.
//!
//! - `prompt_tracker_datasets` (`prompt_version_id`, `name` unique per version, `description`,
//!   `metadata` JSON): a dataset's schema is its version's `variables_schema`.
//! - `prompt_tracker_dataset_rows` (`dataset_id`, `row_data` JSON object of variable values,
//!   `source` manual|imported|llm_generated, `line_number` of an imported row).
//!
//! `down` refuses, naming them, while datasets exist (their rows have nowhere to go in the
//! previous schema), then drops both tables.

use sea_orm_migration::prelude::*;

use crate::support::*;

pub struct Migration;

/// Datasets.
pub const DATASETS: &str = "prompt_tracker_datasets";
/// Dataset rows.
pub const DATASET_ROWS: &str = "prompt_tracker_dataset_rows";
/// Allowed `source` values of a row.
pub const ROW_SOURCES: &[&str] = &["manual", "imported", "llm_generated"];

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000006_create_datasets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DATASETS)
                    .col(id())
                    .col(ColumnDef::new("prompt_version_id").big_integer().not_null())
                    .col(ColumnDef::new("name").string().not_null())
                    .col(ColumnDef::new("description").text())
                    .col(json("metadata", "{}"))
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_prompt_tracker_datasets_prompt_version_id")
                            .from(DATASETS, "prompt_version_id")
                            .to(PROMPT_VERSIONS, "id"),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "index_prompt_tracker_datasets_on_version_and_name",
            DATASETS,
            &["prompt_version_id", "name"],
            true,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(DATASET_ROWS)
                    .col(id())
                    .col(ColumnDef::new("dataset_id").big_integer().not_null())
                    .col(json("row_data", "{}"))
                    .col(string_enum(DATASET_ROWS, "source", ROW_SOURCES, "manual"))
                    .col(ColumnDef::new("line_number").integer())
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_prompt_tracker_dataset_rows_dataset_id")
                            .from(DATASET_ROWS, "dataset_id")
                            .to(DATASETS, "id"),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "index_prompt_tracker_dataset_rows_on_dataset_id_and_id",
            DATASET_ROWS,
            &["dataset_id", "id"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_rows(
            manager,
            &format!("SELECT id FROM {DATASETS} ORDER BY id"),
            "These datasets would be lost by this rollback; export and delete them first",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(DATASET_ROWS).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(DATASETS).to_owned())
            .await
    }
}
