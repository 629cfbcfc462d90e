//! `json_schema`: the response must be JSON valid under a JSON Schema (draft 2020-12).
//!
//! Source: product spec (PromptTracker has no such evaluator; its `FormatEvaluator` `schema`
//! option is a key list, see [`super::format`]). Validation uses the `jsonschema` crate with
//! draft 2020-12 as the default dialect (a schema's own `$schema` may select another draft);
//! remote `$ref`s are not fetched (config error).

use serde_json::{Value, json};

use super::{
    EvaluationInput, Evaluator, Outcome, object_schema, parse_json_response, plural, preview,
    schema_errors,
};
use crate::validation::FieldError;

/// How many validation errors `details.errors` lists at most.
pub const MAX_REPORTED_ERRORS: usize = 20;

/// The `json_schema` evaluator (product spec).
///
/// Config: `schema` (object, required): a JSON Schema; it must itself be valid (checked against
/// the 2020-12 meta-schema and compiled, so unresolvable `$ref`s are rejected).
///
/// The response (trimmed; a whole-response ```` ```json ```` fence is stripped) must parse as
/// JSON and validate. Score: 100 when valid, else 0; passed = valid. Details: `valid_json`,
/// `parse_error` (when it does not parse), `error_count`, and `errors`: up to
/// [`MAX_REPORTED_ERRORS`] `{instance_path, schema_path, message}` (paths are JSON Pointers,
/// `""` for the root; messages are cut to 300 characters).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonSchema;

impl Evaluator for JsonSchema {
    fn key(&self) -> &'static str {
        "json_schema"
    }

    fn name(&self) -> &'static str {
        "JSON Schema"
    }

    fn description(&self) -> &'static str {
        "Checks that the response is JSON valid under a JSON Schema (draft 2020-12)."
    }

    fn config_schema(&self) -> Value {
        object_schema(
            "JSON Schema config",
            "The response must parse as JSON and validate against schema.",
            json!({
                "schema": {
                    "type": "object",
                    "description": "A JSON Schema (draft 2020-12 unless it declares $schema)."
                }
            }),
            &["schema"],
        )
    }

    fn check_config(&self, config: &Value) -> Vec<FieldError> {
        let Some(schema) = config.get("schema") else {
            return vec![FieldError::new("config.schema", "is required")];
        };
        let meta = jsonschema::draft202012::meta::validator();
        let errors = schema_errors(meta.as_ref(), schema, "config.schema", &Value::Null);
        if !errors.is_empty() {
            return errors;
        }
        match jsonschema::draft202012::new(schema) {
            Ok(_) => Vec::new(),
            Err(e) => {
                let at = super::field_path("config.schema", schema, e.instance_path().as_str());
                vec![FieldError::new(at, format!("invalid JSON Schema: {e}"))]
            }
        }
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        let schema = config.get("schema").cloned().unwrap_or(Value::Null);
        let validator = match jsonschema::draft202012::new(&schema) {
            Ok(v) => v,
            Err(e) => {
                return Outcome::new(
                    0.0,
                    false,
                    format!("The configured JSON Schema is invalid: {e}."),
                    json!({"valid_json": null, "error_count": 0, "errors": []}),
                );
            }
        };
        let value = match parse_json_response(input.response_text) {
            Ok(v) => v,
            Err(e) => {
                return Outcome::new(
                    0.0,
                    false,
                    format!("Response is not valid JSON: {e}."),
                    json!({
                        "valid_json": false,
                        "parse_error": e.to_string(),
                        "error_count": 0,
                        "errors": []
                    }),
                );
            }
        };
        let mut errors = Vec::new();
        let mut count = 0usize;
        for e in validator.iter_errors(&value) {
            count += 1;
            if errors.len() < MAX_REPORTED_ERRORS {
                errors.push(json!({
                    "instance_path": e.instance_path().as_str(),
                    "schema_path": e.schema_path().as_str(),
                    "message": preview(&e.to_string(), 300),
                }));
            }
        }
        let feedback = match errors.first() {
            None => "Response is valid JSON matching the schema.".to_owned(),
            Some(first) => {
                let path = first["instance_path"].as_str().unwrap_or_default();
                format!(
                    "Response JSON does not match the schema ({}; first at {}: {}).",
                    plural(count, "error"),
                    if path.is_empty() { "the root" } else { path },
                    first["message"].as_str().unwrap_or_default()
                )
            }
        };
        let valid = count == 0;
        Outcome::new(
            if valid { 100.0 } else { 0.0 },
            valid,
            feedback,
            json!({"valid_json": true, "error_count": count, "errors": errors}),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::input;
    use super::super::{evaluate, validate_config};

    fn person() -> serde_json::Value {
        json!({"schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["name", "age"]
        }})
    }

    fn run(config: serde_json::Value, text: &str) -> super::Outcome {
        evaluate("json_schema", &config, None, &input(text)).unwrap()
    }

    #[test]
    fn valid_response() {
        let o = run(person(), r#"{"name": "Ada", "age": 36, "tags": ["math"]}"#);
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(
            o.details,
            json!({"valid_json": true, "error_count": 0, "errors": []})
        );
        assert_eq!(o.feedback, "Response is valid JSON matching the schema.");
    }

    #[test]
    fn fenced_response() {
        let o = run(person(), "```json\n{\"name\": \"Ada\", \"age\": 36}\n```\n");
        assert_eq!((o.score, o.passed), (100.0, true));
    }

    #[test]
    fn invalid_response_lists_errors_with_paths() {
        let o = run(person(), r#"{"age": -1, "tags": ["ok", 7]}"#);
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(o.details["error_count"], 3);
        let mut paths: Vec<&str> = o.details["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["instance_path"].as_str().unwrap())
            .collect();
        paths.sort_unstable();
        assert_eq!(paths, ["", "/age", "/tags/1"]);
        assert!(
            o.feedback
                .starts_with("Response JSON does not match the schema (3 errors; first at ")
        );
    }

    #[test]
    fn at_most_twenty_errors_are_listed() {
        let cfg = json!({"schema": {"type": "array", "items": {"type": "string"}}});
        let text = serde_json::to_string(&(0..25).collect::<Vec<i32>>()).unwrap();
        let o = run(cfg, &text);
        assert_eq!(o.details["error_count"], 25);
        assert_eq!(o.details["errors"].as_array().unwrap().len(), 20);
        assert_eq!(o.details["errors"][19]["instance_path"], "/19");
    }

    #[test]
    fn unparseable_and_empty_responses() {
        let o = run(person(), "Sure! Here is the JSON: {\"name\": \"Ada\"}");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(o.details["valid_json"], false);
        assert!(o.feedback.starts_with("Response is not valid JSON"));
        assert_eq!(run(person(), "").score, 0.0);
    }

    #[test]
    fn unicode_and_2020_12_keywords() {
        let cfg = json!({"schema": {
            "type": "array",
            "prefixItems": [{"const": "été"}, {"type": "string", "maxLength": 2}]
        }});
        assert!(run(cfg.clone(), r#"["été", "日本"]"#).passed);
        assert!(!run(cfg, r#"["été", "日本語"]"#).passed);
    }

    #[test]
    fn invalid_config() {
        let err = validate_config("json_schema", &json!({})).unwrap_err();
        assert_eq!(err[0].field, "config.schema");
        assert_eq!(err[0].message, "is required");
        let err = validate_config("json_schema", &json!({"schema": "object"})).unwrap_err();
        assert_eq!(err[0].field, "config.schema");
        let err = validate_config("json_schema", &json!({"schema": {"type": "nope"}})).unwrap_err();
        assert_eq!(err[0].field, "config.schema.type");
        let err = validate_config(
            "json_schema",
            &json!({"schema": {"properties": {"a": {"minLength": "x"}}}}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.schema.properties.a.minLength");
        let err = validate_config(
            "json_schema",
            &json!({"schema": {"$ref": "#/$defs/missing"}}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.schema");
        assert!(
            err[0].message.starts_with("invalid JSON Schema: "),
            "{err:?}"
        );
        let err = validate_config(
            "json_schema",
            &json!({"schema": {"$ref": "https://example.com/schema.json"}}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.schema");
        let err = validate_config("json_schema", &json!({"schema": {}, "extra": 1})).unwrap_err();
        assert_eq!(err[0].field, "config.extra");
        assert!(validate_config("json_schema", &json!({"schema": {}})).is_ok());
    }
}
