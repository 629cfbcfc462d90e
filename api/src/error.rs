//! The service's error type. Domain modules return it; the HTTP layer
//! ([`http::problem`](crate::http::problem)) turns it into RFC 9457 problem+json.
//! No axum here.
//!
//! Failures are classified by type, never by message text: [`Error::is_retryable`] tells the
//! job queue and the test runner whether an attempt should be repeated (a lost connection, a
//! serialization failure) or recorded as the outcome (a provider's or an evaluator's error).

use sea_orm::{DbErr, SqlErr};

use crate::validation::FieldError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the body is not well-formed JSON, or a header is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: a bearer token is required and was missing or wrong.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 404: the named resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state (duplicate name, immutable version...).
    #[error("{0}")]
    Conflict(String),
    /// 413: the request body is larger than the limit (1 MiB).
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415: the body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid input; one entry per invalid field.
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    /// 503: a dependency (the database) is not available.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the database failed (kept whole, as the error's source, for the logs); see
    /// [`Error::is_retryable`] for which of these are worth another attempt.
    #[error("database error: {0}")]
    Database(#[source] DbErr),
    /// 500: a failure of ours; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A 422 with a single field error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// Whether another attempt may succeed where this one failed: the database connection was
    /// lost, could not be had, or the server ended the statement for reasons unrelated to
    /// the request (SQLSTATE classes 08 connection exception, 40 transaction rollback:
    /// serialization failure and deadlock, 53 insufficient resources, 57 operator
    /// intervention such as `pg_terminate_backend`; `55P03` lock not available), or SQLite
    /// was busy or locked (result codes 5 and 6 and their extended forms). Validation,
    /// conflicts, missing rows, provider and evaluator failures are not: repeating them gives
    /// the same answer. (SQLSTATE classes: PostgreSQL docs, Appendix A "Error Codes";
    /// SQLite result codes: <https://www.sqlite.org/rescode.html>.)
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unavailable(_) => true,
            Error::Database(err) => db_err_is_transient(err),
            _ => false,
        }
    }

    /// A 404 for `what` (e.g. "prompt") with `id`.
    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Error::NotFound(format!("{what} {id} does not exist"))
    }
}

impl From<DbErr> for Error {
    /// A unique-key violation that slipped past the domain's own checks (a race) is a 409;
    /// a foreign-key violation is a 409 too (the referenced row was removed concurrently);
    /// anything else is internal.
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(
                "The request conflicts with an existing record (a unique key is already taken)."
                    .to_owned(),
            ),
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => Error::Conflict(
                "The request refers to a record that does not exist or is still referenced."
                    .to_owned(),
            ),
            _ => Error::Database(err),
        }
    }
}

fn db_err_is_transient(err: &DbErr) -> bool {
    use sea_orm::sqlx;
    let sqlx_err = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match sqlx_err.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Primary result code = the low byte of the extended code.
                let primary = code.parse::<i64>().map_or(0, |c| c & 0xff);
                return primary == 5 || primary == 6;
            }
            matches!(code.get(..2), Some("08" | "40" | "53" | "57")) || code == "55P03"
        }
        _ => false,
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
