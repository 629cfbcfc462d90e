//! The service's error type. Domain modules return it; the HTTP layer
//! ([`routes::problem`](crate::http::problem)) turns it into RFC 9457 problem+json.
//! No axum here.

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
    /// 500: a failure of ours; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A 422 with a single field error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
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
            _ => Error::Internal(err.to_string()),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
