//! The storage machinery shared by the feature modules, behind a small surface: keyset
//! pagination ([`pagination`]), the PostgreSQL list readers ([`positional`], [`row_cache`]),
//! SQL text helpers ([`sql`]), PostgreSQL `LISTEN`/`NOTIFY` ([`notify`]) and write transactions
//! ([`begin_write`]). No feature logic lives
//! here; features call it, never the other way round.

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

pub mod notify;
pub mod pagination;
pub mod positional;
pub mod row_cache;
pub mod sql;

/// Begins a transaction that reads and then writes: `BEGIN IMMEDIATE` on SQLite, so the write
/// lock is taken (waiting up to the busy timeout) before the first read. A deferred SQLite
/// transaction that reads first cannot upgrade to a writer once another connection has
/// committed (`SQLITE_BUSY_SNAPSHOT`, which the busy timeout does not retry; see
/// <https://www.sqlite.org/isolation.html>). On PostgreSQL a plain `BEGIN`.
///
/// # Errors
/// The driver's error (connection lost, busy timeout exceeded).
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
