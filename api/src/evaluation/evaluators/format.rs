//! `format`: the response must be JSON (with required keys / key types), markdown, or plain
//! text.
//!
//! Source: PromptTracker `FormatEvaluator` (`lounna-team/PromptTracker`,
//! `app/services/prompt_tracker/evaluators/format_evaluator.rb`): same config keys and defaults
//! (`format: plain_text`, `required_keys: []`, `require_headers: false`, `schema: null`,
//! `strict: false`, `max_parse_errors: 0`), and for JSON the same scores: unparseable 0; with
//! `schema` (PromptTracker's own key-list format, not JSON Schema) 100 minus deductions; else
//! `round(100 * present required keys / required keys)`. For markdown `require_headers` costs 50
//! points when there is no `#` heading, as in PromptTracker.
//!
//! Differences (product spec):
//! - `key_types` (key -> JSON type) is added to the no-`schema` JSON checks;
//! - JSON may be wrapped in a ```` ```json ```` fence; a JSON value that is not an object scores
//!   0 when keys or types are required (PromptTracker raises);
//! - markdown scores 0 without any markdown construct and plain text scores 0 when empty, JSON
//!   (object/array) or containing markdown constructs (PromptTracker accepts any non-empty text
//!   for both);
//! - passed = score 100 (PromptTracker: JSON parses / text non-empty / always);
//! - options that do not apply to the chosen format are config errors; `max_parse_errors` is
//!   accepted but, as in PromptTracker, unused.

use regex::Regex;
use serde_json::{Map, Value, json};

use super::{
    EvaluationInput, Evaluator, Outcome, config_bool, config_strings, object_schema,
    parse_json_response, plural,
};
use crate::validation::FieldError;

/// The three formats (PromptTracker `FormatEvaluator::FORMATS`).
pub const FORMATS: [&str; 3] = ["json", "markdown", "plain_text"];

/// Type names of `key_types`.
pub const KEY_TYPES: [&str; 7] = [
    "string", "number", "integer", "boolean", "array", "object", "null",
];

/// Type names of PromptTracker's `schema.types` (with its aliases `int`, `float`, `bool`,
/// `hash`, `nil`).
pub const SCHEMA_TYPES: [&str; 12] = [
    "string", "integer", "int", "float", "number", "boolean", "bool", "array", "object", "hash",
    "null", "nil",
];

/// The `format` evaluator (PromptTracker `FormatEvaluator`).
///
/// Config:
/// - `format`: `json` | `markdown` | `plain_text` (default `plain_text`);
/// - json only: `required_keys` (array of strings, default `[]`), `key_types` (object, key ->
///   one of [`KEY_TYPES`], default `{}`), or instead PromptTracker's `schema` (object or null,
///   default null: `{required_keys, optional_keys, types, nested_structure}`) with `strict`
///   (bool, default false: keys outside required/optional cost 20 points);
/// - markdown only: `require_headers` (bool, default false);
/// - `max_parse_errors` (integer >= 0, default 0): accepted for PromptTracker configs, unused.
///
/// Scores (0-100, whole numbers):
/// - json: not parseable (after stripping a ```` ```json ```` fence) -> 0. With `schema`: 100,
///   minus `round(50 * missing/required)` for missing required keys, minus 20 for extra keys
///   when `strict`, minus 10 per key of the wrong type, nested structures scored recursively
///   (the minimum wins; minus 15 when a nested value is not an object), floored at 0. Otherwise,
///   with `n` = required keys + typed keys: `n == 0` -> 100, not an object -> 0, else `round(100
///   * satisfied/n)` (a typed key that is absent is not a type error).
///   Types follow Ruby's JSON: `1.0` is a number but not an integer.
/// - markdown: 0 without a markdown construct (heading, list item, emphasis, code, link,
///   table), else 100, minus 50 when `require_headers` and no `#` heading.
/// - plain_text: 100 when non-blank, not a JSON object/array and free of markdown constructs,
///   else 0.
///
/// Passed: score == 100. Details: `format`, and for json `valid_json`, `parse_error`,
/// `missing_keys`, `type_errors` (`{key, expected, actual}`), `errors`; for markdown and plain
/// text `constructs` (names found) and `has_headers` / `is_json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Format;

/// The JSON type name of `v`, as used in messages (`integer` for whole numbers).
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `v` has type `expected` (a [`KEY_TYPES`] or [`SCHEMA_TYPES`] name), following
/// PromptTracker `value_matches_type?`; unknown names match anything, as there.
fn has_type(v: &Value, expected: &str) -> bool {
    match expected {
        "string" => v.is_string(),
        "integer" | "int" => v.is_i64() || v.is_u64(),
        "number" | "float" => v.is_number(),
        "boolean" | "bool" => v.is_boolean(),
        "array" => v.is_array(),
        "object" | "hash" => v.is_object(),
        "null" | "nil" => v.is_null(),
        _ => true,
    }
}

/// Markdown constructs: (name, regex source).
const CONSTRUCTS: [(&str, &str); 6] = [
    ("heading", r"(?m)^ {0,3}#{1,6}[ \t]+\S"),
    ("list_item", r"(?m)^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+\S"),
    (
        "emphasis",
        r"(?m)\*\*[^\s*](?:[^*\n]*[^\s*])?\*\*|__[^\s_](?:[^_\n]*[^\s_])?__|(?:^|[^\w*])\*[^\s*](?:[^*\n]*[^\s*])?\*(?:[^\w*]|$)|(?:^|[^\w])_[^\s_](?:[^_\n]*[^\s_])?_(?:[^\w]|$)",
    ),
    ("code", r"(?m)`[^`\n]+`|^[ \t]*(?:```|~~~)"),
    (
        "link",
        r#"!?\[[^\]\n]+\]\([^)\s]+(?:[ \t]+"[^"\n]*")?\)|<https?://[^>\s]+>"#,
    ),
    (
        "table",
        r"(?m)^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$|^[ \t]*\|[ \t]*:?-{3,}:?[ \t]*\|[ \t]*$",
    ),
];

/// Names of the markdown constructs found in `text`, in [`CONSTRUCTS`] order.
fn markdown_constructs(text: &str) -> Vec<&'static str> {
    CONSTRUCTS
        .iter()
        .filter(|(_, src)| Regex::new(src).is_ok_and(|re| re.is_match(text)))
        .map(|(name, _)| *name)
        .collect()
}

/// The JSON Schema of PromptTracker's `schema` option (one level; `nested_structure` recurses).
fn structure_schema() -> Value {
    let keys = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object",
        "properties": {
            "required_keys": keys,
            "optional_keys": keys,
            "types": {"type": "object", "additionalProperties": {"enum": SCHEMA_TYPES}},
            "nested_structure": {
                "type": "object",
                "additionalProperties": {"$ref": "#/$defs/structure"}
            }
        },
        "additionalProperties": false
    })
}

/// PromptTracker `evaluate_json_schema`: the score of `data` under `schema`, and the problems
/// found (prefixed with `path` for nested structures).
fn score_structure(
    data: &Map<String, Value>,
    schema: &Value,
    strict: bool,
    path: &str,
    errors: &mut Vec<String>,
) -> f64 {
    let at = |msg: String| {
        if path.is_empty() {
            msg
        } else {
            format!("{path}: {msg}")
        }
    };
    let required = config_strings(schema, "required_keys");
    let optional = config_strings(schema, "optional_keys");
    let mut score = 100.0;
    if !required.is_empty() {
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| !data.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            errors.push(at(format!("missing required keys: {}", missing.join(", "))));
            score -= (missing.len() as f64 / required.len() as f64 * 50.0).round();
        }
    }
    if strict && (!required.is_empty() || !optional.is_empty()) {
        let extra: Vec<&str> = data
            .keys()
            .map(String::as_str)
            .filter(|k| !required.contains(k) && !optional.contains(k))
            .collect();
        if !extra.is_empty() {
            errors.push(at(format!(
                "extra keys not allowed in strict mode: {}",
                extra.join(", ")
            )));
            score -= 20.0;
        }
    }
    if let Some(types) = schema.get("types").and_then(Value::as_object) {
        for (key, expected) in types {
            let expected = expected.as_str().unwrap_or_default();
            if let Some(value) = data.get(key)
                && !has_type(value, expected)
            {
                errors.push(at(format!(
                    "key '{key}' has wrong type (expected {expected}, got {})",
                    type_name(value)
                )));
                score -= 10.0;
            }
        }
    }
    if let Some(nested) = schema.get("nested_structure").and_then(Value::as_object) {
        for (key, nested_schema) in nested {
            let Some(value) = data.get(key) else { continue };
            let nested_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match value {
                Value::Object(inner) => {
                    let s = score_structure(inner, nested_schema, strict, &nested_path, errors);
                    score = f64::min(score, s);
                }
                _ => {
                    errors.push(at(format!(
                        "key '{key}' should be an object for nested validation"
                    )));
                    score -= 15.0;
                }
            }
        }
    }
    score.max(0.0)
}

impl Format {
    fn evaluate_json(config: &Value, text: &str) -> Outcome {
        let value = match parse_json_response(text) {
            Ok(v) => v,
            Err(e) => {
                return Outcome::new(
                    0.0,
                    false,
                    format!("Invalid JSON format: {e}."),
                    json!({"format": "json", "valid_json": false, "parse_error": e.to_string()}),
                );
            }
        };
        let schema = config
            .get("schema")
            .filter(|s| s.as_object().is_some_and(|o| !o.is_empty()));
        if let Some(schema) = schema {
            let Some(data) = value.as_object() else {
                return Self::not_an_object(&value);
            };
            let mut errors = Vec::new();
            let strict = config_bool(config, "strict", false);
            let score = score_structure(data, schema, strict, "", &mut errors);
            let feedback = if errors.is_empty() {
                "Valid JSON matching the schema.".to_owned()
            } else {
                format!("Schema validation errors: {}.", errors.join("; "))
            };
            return Outcome::new(
                score,
                score >= 100.0,
                feedback,
                json!({"format": "json", "valid_json": true, "errors": errors}),
            );
        }

        let required = config_strings(config, "required_keys");
        let empty = Map::new();
        let key_types = config
            .get("key_types")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let checks = required.len() + key_types.len();
        if checks == 0 {
            return Outcome::new(
                100.0,
                true,
                "Valid JSON format.",
                json!({"format": "json", "valid_json": true, "missing_keys": [], "type_errors": []}),
            );
        }
        let Some(data) = value.as_object() else {
            return Self::not_an_object(&value);
        };
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| !data.contains_key(*k))
            .collect();
        let type_errors: Vec<Value> = key_types
            .iter()
            .filter_map(|(key, expected)| {
                let expected = expected.as_str().unwrap_or_default();
                let value = data.get(key)?;
                (!has_type(value, expected))
                    .then(|| json!({"key": key, "expected": expected, "actual": type_name(value)}))
            })
            .collect();
        let satisfied = checks - missing.len() - type_errors.len();
        let score = (satisfied as f64 / checks as f64 * 100.0).round();
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("missing keys: {}", missing.join(", ")));
        }
        for e in &type_errors {
            problems.push(format!(
                "key '{}' has wrong type (expected {}, got {})",
                e["key"].as_str().unwrap_or_default(),
                e["expected"].as_str().unwrap_or_default(),
                e["actual"].as_str().unwrap_or_default()
            ));
        }
        let feedback = if problems.is_empty() {
            format!(
                "Valid JSON with all {} satisfied.",
                plural(checks, "key requirement")
            )
        } else {
            format!("Valid JSON but {}.", problems.join("; "))
        };
        Outcome::new(
            score,
            score >= 100.0,
            feedback,
            json!({
                "format": "json",
                "valid_json": true,
                "missing_keys": missing,
                "type_errors": type_errors,
            }),
        )
    }

    fn not_an_object(value: &Value) -> Outcome {
        Outcome::new(
            0.0,
            false,
            format!(
                "Valid JSON but not an object (got {}), so keys cannot be checked.",
                type_name(value)
            ),
            json!({"format": "json", "valid_json": true, "errors": ["not an object"]}),
        )
    }

    fn evaluate_markdown(config: &Value, text: &str) -> Outcome {
        let constructs = markdown_constructs(text);
        let has_headers = constructs.contains(&"heading");
        let require_headers = config_bool(config, "require_headers", false);
        let (score, feedback) = if constructs.is_empty() {
            (
                0.0,
                "No markdown constructs found (headings, lists, emphasis, code, links, tables)."
                    .to_owned(),
            )
        } else if require_headers && !has_headers {
            (
                50.0,
                "Markdown found but missing markdown headers.".to_owned(),
            )
        } else {
            (
                100.0,
                format!("Valid markdown format ({}).", constructs.join(", ")),
            )
        };
        Outcome::new(
            score,
            score >= 100.0,
            feedback,
            json!({"format": "markdown", "constructs": constructs, "has_headers": has_headers}),
        )
    }

    fn evaluate_plain_text(text: &str) -> Outcome {
        let constructs = markdown_constructs(text);
        let is_json = parse_json_response(text).is_ok_and(|v| v.is_object() || v.is_array());
        let (score, feedback) = if text.trim().is_empty() {
            (0.0, "Empty response.".to_owned())
        } else if is_json {
            (0.0, "Response is JSON, not plain text.".to_owned())
        } else if !constructs.is_empty() {
            (
                0.0,
                format!(
                    "Response contains markdown ({}), not plain text.",
                    constructs.join(", ")
                ),
            )
        } else {
            (100.0, "Valid plain text.".to_owned())
        };
        Outcome::new(
            score,
            score >= 100.0,
            feedback,
            json!({"format": "plain_text", "constructs": constructs, "is_json": is_json}),
        )
    }
}

impl Evaluator for Format {
    fn key(&self) -> &'static str {
        "format"
    }

    fn name(&self) -> &'static str {
        "Format Validator"
    }

    fn description(&self) -> &'static str {
        "Validates the response format: JSON (required keys, key types), markdown, or plain text."
    }

    fn config_schema(&self) -> Value {
        let mut schema = object_schema(
            "Format Validator config",
            "PromptTracker FormatEvaluator: json / markdown / plain_text.",
            json!({
                "format": {
                    "enum": FORMATS,
                    "default": "plain_text",
                    "description": "Expected format."
                },
                "required_keys": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                    "description": "json: top-level keys that must be present."
                },
                "key_types": {
                    "type": "object",
                    "additionalProperties": {"enum": KEY_TYPES},
                    "default": {},
                    "description": "json: expected JSON type of top-level keys (when present)."
                },
                "require_headers": {
                    "type": "boolean",
                    "default": false,
                    "description": "markdown: require a # heading (otherwise 50 points off)."
                },
                "schema": {
                    "type": ["object", "null"],
                    "properties": structure_schema()["properties"].clone(),
                    "additionalProperties": false,
                    "default": null,
                    "description": "json: PromptTracker key schema {required_keys, optional_keys, \
                                    types, nested_structure}; replaces required_keys/key_types."
                },
                "strict": {
                    "type": "boolean",
                    "default": false,
                    "description": "json with schema: keys outside required_keys/optional_keys \
                                    cost 20 points."
                },
                "max_parse_errors": {
                    "type": "integer",
                    "minimum": 0,
                    "default": 0,
                    "description": "Accepted for PromptTracker compatibility; has no effect."
                }
            }),
            &[],
        );
        schema["$defs"] = json!({"structure": structure_schema()});
        schema
    }

    fn check_config(&self, config: &Value) -> Vec<FieldError> {
        let format = config
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("plain_text");
        let has_keys = !config_strings(config, "required_keys").is_empty();
        let has_types = config
            .get("key_types")
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty());
        let has_schema = config
            .get("schema")
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty());
        let mut errors = Vec::new();
        let mut only = |field: &str, applies: &str| {
            errors.push(FieldError::new(
                format!("config.{field}"),
                format!("only applies when {applies}"),
            ))
        };
        if format != "json" {
            if has_keys {
                only("required_keys", "format is json");
            }
            if has_types {
                only("key_types", "format is json");
            }
            if has_schema {
                only("schema", "format is json");
            }
        }
        if format != "markdown" && config_bool(config, "require_headers", false) {
            only("require_headers", "format is markdown");
        }
        if config_bool(config, "strict", false) && !has_schema {
            only("strict", "a schema is given");
        }
        if format == "json" && has_schema && (has_keys || has_types) {
            errors.push(FieldError::new(
                "config.schema",
                "give either schema or required_keys/key_types, not both",
            ));
        }
        errors
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        match config
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("plain_text")
        {
            "json" => Self::evaluate_json(config, input.response_text),
            "markdown" => Self::evaluate_markdown(config, input.response_text),
            _ => Self::evaluate_plain_text(input.response_text),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::input;
    use super::super::{evaluate, validate_config};
    use super::{CONSTRUCTS, markdown_constructs};

    fn run(config: serde_json::Value, text: &str) -> super::Outcome {
        evaluate("format", &config, None, &input(text)).unwrap()
    }

    #[test]
    fn construct_regexes_compile() {
        for (name, src) in CONSTRUCTS {
            assert!(regex::Regex::new(src).is_ok(), "{name}");
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        assert_eq!(
            validate_config("format", &json!({})).unwrap(),
            json!({
                "format": "plain_text",
                "required_keys": [],
                "key_types": {},
                "require_headers": false,
                "schema": null,
                "strict": false,
                "max_parse_errors": 0
            })
        );
    }

    #[test]
    fn json_valid_with_required_keys() {
        let cfg = json!({"format": "json", "required_keys": ["name", "email"]});
        let o = run(cfg, r#"{"name": "Ada", "email": "ada@example.com"}"#);
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(
            o.feedback,
            "Valid JSON with all 2 key requirements satisfied."
        );
    }

    #[test]
    fn json_partial_keys_and_types() {
        let cfg = json!({
            "format": "json",
            "required_keys": ["name", "email", "age"],
            "key_types": {"age": "integer", "name": "string", "tags": "array"}
        });
        // 6 checks: email missing, age 1.5 is not an integer -> 4/6 = 67.
        let o = run(cfg, r#"{"name": "Ada", "age": 1.5}"#);
        assert_eq!((o.score, o.passed), (67.0, false));
        assert_eq!(o.details["missing_keys"], json!(["email"]));
        assert_eq!(
            o.details["type_errors"],
            json!([{"key": "age", "expected": "integer", "actual": "number"}])
        );
        assert_eq!(
            o.feedback,
            "Valid JSON but missing keys: email; key 'age' has wrong type (expected integer, got number)."
        );
        // PromptTracker formula without types: round(100 * 1/3) = 33.
        let o = run(
            json!({"format": "json", "required_keys": ["a", "b", "c"]}),
            r#"{"a": 1}"#,
        );
        assert_eq!(o.score, 33.0);
    }

    #[test]
    fn json_fenced_and_plain() {
        let fenced = "```json\n{\"a\": [1, 2]}\n```";
        let o = run(
            json!({"format": "json", "key_types": {"a": "array"}}),
            fenced,
        );
        assert_eq!((o.score, o.passed), (100.0, true));
        // Without requirements any JSON value is fine.
        assert_eq!(run(json!({"format": "json"}), "42").score, 100.0);
    }

    #[test]
    fn json_invalid_or_not_an_object() {
        let o = run(json!({"format": "json"}), "{name: 'Ada'}");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(o.details["valid_json"], false);
        assert!(o.feedback.starts_with("Invalid JSON format"));
        assert_eq!(run(json!({"format": "json"}), "").score, 0.0);
        let o = run(json!({"format": "json", "required_keys": ["a"]}), "[1]");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(
            o.feedback,
            "Valid JSON but not an object (got array), so keys cannot be checked."
        );
    }

    #[test]
    fn json_prompt_tracker_schema() {
        let cfg = json!({
            "format": "json",
            "strict": true,
            "schema": {
                "required_keys": ["name", "email", "user"],
                "optional_keys": ["note"],
                "types": {"name": "string", "note": "string"},
                "nested_structure": {"user": {"required_keys": ["id", "role"]}}
            }
        });
        let ok = r#"{"name": "Ada", "email": "a@b.c", "user": {"id": 1, "role": "admin"}}"#;
        let o = run(cfg.clone(), ok);
        assert_eq!((o.score, o.passed), (100.0, true));
        // 1/3 keys missing: -17; extra key x: -20; note wrong type: -10 -> 53;
        // nested user misses 1/2: 100 - 25 = 75; min(53, 75) = 53.
        let bad = r#"{"name": "Ada", "user": {"id": 1}, "note": 3, "x": 0}"#;
        let o = run(cfg.clone(), bad);
        assert_eq!((o.score, o.passed), (53.0, false));
        assert_eq!(
            o.details["errors"],
            json!([
                "missing required keys: email",
                "extra keys not allowed in strict mode: x",
                "key 'note' has wrong type (expected string, got integer)",
                "user: missing required keys: role"
            ])
        );
        // Nested value that is not an object: -15.
        let o = run(cfg, r#"{"name": "Ada", "email": "e", "user": "ada"}"#);
        assert_eq!(o.score, 85.0);
    }

    #[test]
    fn markdown() {
        let cfg = json!({"format": "markdown"});
        let o = run(cfg.clone(), "Some **bold** text");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.details["constructs"], json!(["emphasis"]));
        let o = run(cfg.clone(), "Just a sentence.");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(run(cfg, "").score, 0.0);
        let headers = json!({"format": "markdown", "require_headers": true});
        let o = run(headers.clone(), "- one\n- two");
        assert_eq!((o.score, o.passed), (50.0, false));
        assert_eq!(o.feedback, "Markdown found but missing markdown headers.");
        assert_eq!(run(headers, "## Title\n\n- one").score, 100.0);
    }

    #[test]
    fn markdown_constructs_detected() {
        let cases = [
            ("# Title", vec!["heading"]),
            ("   ### Deep", vec!["heading"]),
            ("#hashtag", vec![]),
            ("* item", vec!["list_item"]),
            ("intro\n1. first", vec!["list_item"]),
            ("an *italic* word", vec!["emphasis"]),
            ("__strong__", vec!["emphasis"]),
            ("snake_case_name and 2*3*4", vec![]),
            ("run `cargo test`", vec!["code"]),
            ("```\nfn main() {}\n```", vec!["code"]),
            ("see [docs](https://example.com)", vec!["link"]),
            ("<https://example.com>", vec!["link"]),
            ("| a | b |\n|---|:---:|\n| 1 | 2 |", vec!["table"]),
            ("a | b\n--- | ---", vec!["table"]),
            ("Section\n---\nnot a table", vec![]),
            ("Price: $5 - $10, e.g. 3 * 4.", vec![]),
        ];
        for (text, expected) in cases {
            assert_eq!(markdown_constructs(text), expected, "{text:?}");
        }
    }

    #[test]
    fn plain_text() {
        let cfg = json!({"format": "plain_text"});
        let o = run(cfg.clone(), "The capital of France is Paris.");
        assert_eq!((o.score, o.passed), (100.0, true));
        let o = run(cfg.clone(), "The capital is **Paris**.");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(
            o.feedback,
            "Response contains markdown (emphasis), not plain text."
        );
        let o = run(cfg.clone(), "{\"a\": 1}");
        assert_eq!((o.score, o.details["is_json"].clone()), (0.0, json!(true)));
        assert_eq!(run(cfg.clone(), "  \n ").score, 0.0);
        // A bare JSON scalar is still plain text.
        assert_eq!(run(cfg.clone(), "42").score, 100.0);
        // Default format is plain_text.
        assert_eq!(run(json!({}), "Über café").score, 100.0);
    }

    #[test]
    fn invalid_config() {
        let err = validate_config("format", &json!({"format": "yaml"})).unwrap_err();
        assert_eq!(err[0].field, "config.format");
        let err = validate_config(
            "format",
            &json!({"format": "json", "key_types": {"a": "str"}}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.key_types.a");
        let err = validate_config(
            "format",
            &json!({"format": "markdown", "required_keys": ["a"]}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.required_keys");
        assert_eq!(err[0].message, "only applies when format is json");
        let err = validate_config(
            "format",
            &json!({"format": "json", "require_headers": true}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.require_headers");
        let err =
            validate_config("format", &json!({"format": "json", "strict": true})).unwrap_err();
        assert_eq!(err[0].field, "config.strict");
        let err = validate_config(
            "format",
            &json!({"format": "json", "schema": {"required_keys": ["a"]}, "required_keys": ["b"]}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.schema");
        let err = validate_config(
            "format",
            &json!({"format": "json", "schema": {"nested_structure": {"u": {"types": {"id": "uuid"}}}}}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.schema.nested_structure.u.types.id");
        let err = validate_config(
            "format",
            &json!({"format": "json", "schema": {"required": ["a"]}}),
        )
        .unwrap_err();
        assert_eq!(err[0].field, "config.schema.required");
    }
}
