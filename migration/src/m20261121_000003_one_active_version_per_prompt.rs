//! At most one `active` version per prompt, enforced by the database: a partial unique index
//! on `prompt_id` where `status = 'active'` (both backends support partial indexes), so that
//! concurrent activations can never leave two active versions.
//!
//! `up` refuses, naming the versions, when a prompt already has several active versions.
//! `down` drops the index.

use sea_orm_migration::prelude::*;

use crate::support::*;

pub struct Migration;

const INDEX: &str = "index_prompt_tracker_prompt_versions_one_active_per_prompt";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000003_one_active_version_per_prompt"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_rows(
            manager,
            &format!(
                "SELECT v.id FROM {PROMPT_VERSIONS} v WHERE v.status = 'active' AND v.prompt_id IN \
                 (SELECT prompt_id FROM {PROMPT_VERSIONS} WHERE status = 'active' GROUP BY prompt_id HAVING COUNT(*) > 1) \
                 ORDER BY v.id"
            ),
            "These prompt versions are active alongside another version of the same prompt; \
             deprecate all but one per prompt first",
        )
        .await?;
        exec(
            manager,
            &format!("CREATE UNIQUE INDEX {INDEX} ON {PROMPT_VERSIONS} (prompt_id) WHERE status = 'active'"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, INDEX, PROMPT_VERSIONS).await
    }
}
