//! RFC 9457 problem details and the extractors that turn every bad input into one.
//!
//! Every error response is `application/problem+json` with `type`, `title`, `status`,
//! `detail` and, for validation, `errors: [{field, message}]` (README, "The API").
//! Malformed JSON is 400, a wrong content type 415, an oversized body 413, invalid input 422.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::error::Error;
use crate::validation::FieldError;

/// The maximum request body, bytes (1 MiB).
pub const BODY_LIMIT: usize = 1 << 20;

/// A problem details body (RFC 9457, section 3).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the problem type (`about:blank` or `/problems/<kind>`).
    #[serde(rename = "type")]
    #[schema(example = "/problems/validation")]
    pub kind: String,
    /// Short summary of the problem type.
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    /// The HTTP status code.
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For validation problems: one entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem of `status`, typed `/problems/{kind}`, titled by the status's reason phrase.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            errors: Vec::new(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        let retryable = err.is_retryable();
        match err {
            Error::BadRequest(d) => Problem::new(StatusCode::BAD_REQUEST, "bad-request", d),
            Error::Unauthorized => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "This API requires `Authorization: Bearer <token>` with the configured token.",
            ),
            Error::NotFound(d) => Problem::new(StatusCode::NOT_FOUND, "not-found", d),
            Error::Conflict(d) => Problem::new(StatusCode::CONFLICT, "conflict", d),
            Error::PayloadTooLarge(limit) => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("The request body is larger than the limit of {limit} bytes."),
            ),
            Error::UnsupportedMediaType(d) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                d,
            ),
            Error::Validation(errors) => {
                let detail = match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    many => format!("{} fields are invalid.", many.len()),
                };
                Problem {
                    errors,
                    ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail)
                }
            }
            Error::Unavailable(d) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", d)
            }
            Error::Database(cause) if retryable => {
                tracing::warn!(error = %cause, "database unavailable");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The database is not available right now; retry shortly.",
                )
            }
            Error::Database(cause) => {
                tracing::error!(error = %cause, "database error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The server could not complete the request.",
                )
            }
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The server could not complete the request.",
                )
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}

/// A JSON body whose rejections are problems: not JSON-typed 415, over the limit 413,
/// syntax errors 400, wrong shape 422 naming the field (`a.b[2]`), NUL characters 422
/// (PostgreSQL cannot store them in text or jsonb).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let HashedJson(value, _) = HashedJson::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

/// `Query<T>` whose rejections are 422 problems naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts
            .uri
            .query()
            .is_some_and(|q| q.contains("%00") || q.contains('\0'))
        {
            return Err(Error::invalid(
                "query",
                "parameters must not contain the NUL character",
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                let detail = text
                    .trim_start_matches("Failed to deserialize query string: ")
                    .to_owned();
                let field = detail
                    .split(':')
                    .next()
                    .filter(|f| !f.contains(' '))
                    .unwrap_or("query")
                    .to_owned();
                Err(Error::invalid(field, detail))
            }
            Err(other) => Err(Error::invalid("query", other.body_text())),
        }
    }
}

/// `Path<T>` whose rejections (e.g. a non-numeric id) are 404 problems.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(Error::NotFound(format!(
                "No such resource: {}",
                e.body_text()
            ))),
            Err(other) => Err(Error::Internal(other.body_text())),
        }
    }
}

/// Like [`ApiJson`], also giving the SHA-256 (hex) of the raw body, for `Idempotency-Key`.
pub struct HashedJson<T>(pub T, pub String);

impl<S, T> FromRequest<S> for HashedJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime_type::Essence>().ok())
            .is_some_and(|m| m.is_json());
        if !json_type {
            return Err(Error::UnsupportedMediaType(
                "Send the body as `Content-Type: application/json`.".to_owned(),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge(BODY_LIMIT)
                } else {
                    Error::BadRequest(e.body_text())
                }
            })?;
        let hash = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(&bytes);
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(Error::invalid(
                "body",
                "strings must not contain the NUL character (\\u0000)",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => Error::invalid(
                    if path == "." { "body".to_owned() } else { path },
                    inner.to_string(),
                ),
                _ => Error::BadRequest(format!("The body is not valid JSON: {inner}")),
            }
        })?;
        de.end()
            .map_err(|e| Error::BadRequest(format!("The body is not valid JSON: {e}")))?;
        Ok(HashedJson(value, hash))
    }
}

/// `application/json` and `+json` media types.
mod mime_type {
    pub struct Essence(String);

    impl std::str::FromStr for Essence {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            Ok(Essence(
                s.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase(),
            ))
        }
    }

    impl Essence {
        pub fn is_json(&self) -> bool {
            self.0 == "application/json"
                || (self.0.starts_with("application/") && self.0.ends_with("+json"))
        }
    }
}
