//! `variables_schema`: the variables a version's templates use (a JSON array).
//!
//! Entries follow the PromptTracker shape `{"name", "type", "required", "description",
//! "default"}`; other keys are kept verbatim in [`VariableDefinition::extra`].

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One template variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VariableDefinition {
    /// The placeholder name, as in `{{ name }}`.
    pub name: String,
    /// Declared type such as `string`, `number`, `boolean`, `array`, `object`.
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
    /// A required variable must be given when rendering (422 otherwise).
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Used when the variable is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Other keys, kept verbatim.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extra: Map<String, Value>,
}

fn default_type() -> String {
    "string".to_owned()
}

/// The variables of a version, in declaration order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct VariablesSchema(pub Vec<VariableDefinition>);
