//! PostgreSQL `LISTEN`/`NOTIFY` behind two calls, so that one instance can wake another:
//! [`notify`] sends a payload on a channel and [`listen`] opens a listener of a channel.
//!
//! A `NOTIFY` issued inside a transaction is delivered when the transaction commits, and not
//! at all when it rolls back; identical notifications of one transaction are delivered once
//! (PostgreSQL docs, SQL Commands, `NOTIFY`). Notifications are not stored: one sent while a
//! listener is disconnected is lost, so whoever waits on them needs a fallback (a poll).
//! SQLite has no such thing: there [`notify`] does nothing and [`listen`] returns `None`.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

/// Sends `payload` on `channel` (`pg_notify`, one statement) through `conn`: inside a
/// transaction it is delivered at commit. Nothing on other backends.
///
/// # Errors
/// The driver's error.
pub async fn notify(
    conn: &impl ConnectionTrait,
    channel: &str,
    payload: &str,
) -> Result<(), DbErr> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await?;
    Ok(())
}

/// A listener of `channel` on a connection taken from `db`'s pool (held until the listener is
/// dropped, which `UNLISTEN`s and returns it), or `None` when `db` is not PostgreSQL. The
/// listener re-connects by itself when its connection is lost (`try_recv` then answers
/// `Ok(None)`: notifications of the gap are lost).
///
/// # Errors
/// The driver's error (no connection to be had, `LISTEN` failed).
pub async fn listen(
    db: &DatabaseConnection,
    channel: &str,
) -> Result<Option<PgListener>, sea_orm::sqlx::Error> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let mut listener = PgListener::connect_with(db.get_postgres_connection_pool()).await?;
    listener.listen(channel).await?;
    Ok(Some(listener))
}
