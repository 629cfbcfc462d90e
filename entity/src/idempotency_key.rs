//! `prompt_tracker_idempotency_keys`: the stored answer to one `Idempotency-Key`.

use sea_orm::entity::prelude::*;

/// A replayable answer. `status_code`/`response_body` are NULL while the first request
/// with the key is still in flight.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prompt_tracker_idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub idempotency_key: String,
    /// SHA-256 (hex) of the request body.
    pub request_hash: String,
    pub status_code: Option<i32>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub response_body: Option<Json>,
    pub llm_response_id: Option<i64>,
    pub created_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
