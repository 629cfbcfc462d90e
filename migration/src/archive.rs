//! `prompt_tracker_migration_archive`: values that one side of a migration cannot hold.
//!
//! A migration parks here what its target schema cannot represent exactly, and takes it back
//! when it runs the other way, so `up` then `down` (or `down` then `up`) restores the data:
//!
//! - `up` parks the `original` value of a cell it rewrites, with the `derived` value it wrote;
//!   `down` puts `original` back only while the cell still holds `derived` (a cell changed since
//!   then is converted instead, because the change is newer than the parked value).
//! - `down` parks a value the previous schema has no column for (`derived` is null); the next
//!   `up` puts it back.
//!
//! Rows are keyed by (`migration`, `table_name`, `row_id`, `column_name`); values are JSON.
//! The table is created on first use and dropped once it is empty again. It is an internal
//! table of the migrations: no entity maps it and the service never reads it.

use sea_orm_migration::prelude::*;

use crate::support::{exec, id, index, timestamp};

/// The archive table's name.
pub const TABLE: &str = "prompt_tracker_migration_archive";

/// Creates the archive table (and its unique key) if it does not exist.
pub async fn ensure(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(TABLE)
                .if_not_exists()
                .col(id())
                .col(ColumnDef::new("migration").string().not_null())
                .col(ColumnDef::new("table_name").string().not_null())
                .col(ColumnDef::new("row_id").big_integer().not_null())
                .col(ColumnDef::new("column_name").string().not_null())
                .col(ColumnDef::new("original").json_binary())
                .col(ColumnDef::new("derived").json_binary())
                .col(timestamp("created_at"))
                .to_owned(),
        )
        .await?;
    index(
        manager,
        "index_prompt_tracker_migration_archive_on_key",
        TABLE,
        &["migration", "table_name", "row_id", "column_name"],
        true,
    )
    .await
}

/// Whether the archive exists (it does only while it holds parked values).
pub async fn exists(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    manager.has_table(TABLE).await
}

/// `a.migration = '...' AND a.table_name = '...' AND a.column_name = '...'` for alias `a`.
pub fn key(migration: &str, table: &str, column: &str) -> String {
    format!(
        "a.migration = '{migration}' AND a.table_name = '{table}' AND a.column_name = '{column}'"
    )
}

/// Deletes the parked values of one migration's column and drops the archive when empty.
pub async fn clear(
    manager: &SchemaManager<'_>,
    migration: &str,
    table: &str,
    column: &str,
) -> Result<(), DbErr> {
    if !exists(manager).await? {
        return Ok(());
    }
    exec(
        manager,
        &format!("DELETE FROM {TABLE} WHERE migration = '{migration}' AND table_name = '{table}' AND column_name = '{column}'"),
    )
    .await?;
    drop_if_empty(manager).await
}

/// Drops the archive when it holds nothing.
pub async fn drop_if_empty(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if !exists(manager).await? {
        return Ok(());
    }
    let left: Vec<i64> =
        crate::support::column(manager, &format!("SELECT COUNT(*) FROM {TABLE}")).await?;
    if left.first().copied().unwrap_or(0) == 0 {
        manager
            .drop_table(Table::drop().table(TABLE).if_exists().to_owned())
            .await?;
    }
    Ok(())
}
