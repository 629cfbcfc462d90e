//! Indexes for the filtered, newest-first lists of LLM responses: `(prompt_version_id, id)`,
//! `(environment, id)` and `(session_id, id)`, so `WHERE x = ? ORDER BY id DESC LIMIT n`
//! reads n index entries even for a rare value (the id index alone walks back through every
//! row until it finds n matches). `down` drops them.

use sea_orm_migration::prelude::*;

use crate::support::*;

pub struct Migration;

const INDEXES: &[(&str, &str)] = &[
    (
        "index_prompt_tracker_llm_responses_on_version_and_id",
        "prompt_version_id",
    ),
    (
        "index_prompt_tracker_llm_responses_on_environment_and_id",
        "environment",
    ),
    (
        "index_prompt_tracker_llm_responses_on_session_and_id",
        "session_id",
    ),
];

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000007_add_list_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            let columns: [&'static str; 2] = [column, "id"];
            index(manager, name, LLM_RESPONSES, &columns, false).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            drop_index(manager, name, LLM_RESPONSES).await?;
        }
        Ok(())
    }
}
