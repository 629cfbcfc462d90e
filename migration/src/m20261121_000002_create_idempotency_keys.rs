//! `prompt_tracker_idempotency_keys`: the stored answer to each `Idempotency-Key` of
//! `POST /api/v1/llm-responses`, so a retried request gets the same answer and creates one row.
//!
//! Columns: `idempotency_key` (unique), `request_hash` (SHA-256 hex of the request body, to
//! refuse a key reused with another body), `status_code` and `response_body` (NULL while the
//! first request is in flight), `llm_response_id`, `created_at`.
//!
//! `down` drops the table: it holds replay answers only, whose rows exist in their own tables.

use sea_orm_migration::prelude::*;

use crate::support::*;

pub struct Migration;

/// The table's name.
pub const IDEMPOTENCY_KEYS: &str = "prompt_tracker_idempotency_keys";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000002_create_idempotency_keys"
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
                    .table(IDEMPOTENCY_KEYS)
                    .col(id())
                    .col(ColumnDef::new("idempotency_key").string().not_null())
                    .col(ColumnDef::new("request_hash").string().not_null())
                    .col(ColumnDef::new("status_code").integer())
                    .col(ColumnDef::new("response_body").json_binary())
                    .col(ColumnDef::new("llm_response_id").big_integer())
                    .col(timestamp("created_at"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "index_prompt_tracker_idempotency_keys_on_key",
            IDEMPOTENCY_KEYS,
            &["idempotency_key"],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IDEMPOTENCY_KEYS).to_owned())
            .await
    }
}
