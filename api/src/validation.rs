//! Field-level validation errors shared by the domain modules (no HTTP here): the HTTP layer
//! turns them into a 422 problem+json with `errors: [{field, message}]`.

use serde::{Deserialize, Serialize};

/// One invalid field of a request: `field` is a dotted path such as `model_config.temperature`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `model_config.tools[1]`.
    pub field: String,
    /// What is wrong and, where there is a closed set, the valid choices.
    pub message: String,
}

impl FieldError {
    /// A field error at `field` saying `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors; `finish` is `Ok` when there are none.
#[derive(Clone, Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// Records one error.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records the errors of a nested value under `prefix` (e.g. `model_config`).
    pub fn extend_prefixed(&mut self, prefix: &str, errors: Vec<FieldError>) {
        for e in errors {
            let field = if e.field.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", e.field)
            };
            self.0.push(FieldError {
                field,
                message: e.message,
            });
        }
    }

    /// Checks a display name (of a prompt, test or dataset): 1-255 characters, not only
    /// whitespace (the `name` column is a 255-character string).
    pub fn check_name(&mut self, field: &str, name: &str) {
        if name.trim().is_empty() || name.chars().count() > 255 {
            self.add(field, "must be 1-255 characters");
        }
    }

    /// `Ok(())` without errors, else all of them.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// `deserialize_with` for PATCH fields that may be set to `null`: absent -> `None`,
/// `null` -> `Some(None)`, a value -> `Some(Some(v))` (use with `#[serde(default)]`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(Some(Option::deserialize(deserializer)?))
}
