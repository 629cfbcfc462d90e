//! The storage machinery shared by the feature modules, behind a small surface: keyset
//! pagination ([`pagination`]), the PostgreSQL list readers ([`positional`], [`row_cache`]),
//! SQL text helpers ([`sql`]), PostgreSQL `LISTEN`/`NOTIFY` ([`notify`]), write transactions
//! ([`begin_write`]) and the connection pool's occupancy ([`pool_stats`]). No feature logic
//! lives here; features call it, never the other way round.

use sea_orm::{
    DatabaseConnection, DatabaseConnectionType, DatabaseTransaction, DbErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
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

/// The occupancy of a connection pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open now, in use or idle.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pool opens (`PROMPT_TRACKER_DB_POOL_SIZE`).
    pub max: u32,
}

/// The occupancy of `db`'s pool (PostgreSQL or SQLite), or None for a connection without a
/// pool (a disconnected or mock connection). Reads counters: no statement, no waiting.
pub fn pool_stats(db: &DatabaseConnection) -> Option<PoolStats> {
    fn stats<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
        PoolStats {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
    match &db.inner {
        DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
            Some(stats(db.get_postgres_connection_pool()))
        }
        DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
            Some(stats(db.get_sqlite_connection_pool()))
        }
        _ => None,
    }
}
