//! Evaluations carry the version of the response they evaluate: `prompt_version_id`
//! (nullable: SQLite cannot add a NOT NULL column without a default; the service always sets
//! it), backfilled from `prompt_tracker_llm_responses`, with an index on
//! `(prompt_version_id, id)`.
//!
//! `GET /api/v1/evaluations?version_id=` lists the newest evaluations of one version. Through
//! the responses that is a semi-join whose cost grows with the version's history (every
//! response of the version, or every evaluation newer than the page); on its own indexed
//! column it reads one page of index entries. A response's version never changes, so the copy
//! cannot go stale.
//!
//! `down` drops the index and the column: its values are derived from the responses and the
//! next `up` derives them again, so nothing is lost.

use sea_orm_migration::prelude::*;

use crate::support::*;

pub struct Migration;

const INDEX: &str = "index_prompt_tracker_evaluations_on_version_and_id";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000009_add_prompt_version_id_to_evaluations"
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
                    .add_column(ColumnDef::new("prompt_version_id").big_integer())
                    .to_owned(),
            )
            .await?;
        exec(
            manager,
            &format!(
                "UPDATE {EVALUATIONS} SET prompt_version_id = \
                 (SELECT r.prompt_version_id FROM {LLM_RESPONSES} r WHERE r.id = {EVALUATIONS}.llm_response_id)"
            ),
        )
        .await?;
        index(
            manager,
            INDEX,
            EVALUATIONS,
            &["prompt_version_id", "id"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, INDEX, EVALUATIONS).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(EVALUATIONS)
                    .drop_column("prompt_version_id")
                    .to_owned(),
            )
            .await
    }
}
