//! `format`: the response must be JSON (with required keys / key types), markdown, or plain
//! text.
//!
//! Source: PromptTracker `FormatEvaluator` (`lounna-team/PromptTracker`,
//! `app/services/prompt_tracker/evaluators/format_evaluator.rb`): same config keys and defaults
//! (`format: plain_text`, `required_keys: []`, `require_headers: false`, `schema: null`,
//! `strict: false`, `max_parse_errors: 0`), and for JSON the same scores: unparseable 0; with
//! `schema` (PromptTracker's own key-list format, not JSON Schema) 100 minus deductions; else
//! `round(100 * present required keys / required keys)`. For markdown `require_headers` costs 50
//! points when there is no heading, with PromptTracker's heading rule: a line matching Ruby's
//! `^#{1,6}\s+.+` (`\s` is ASCII whitespace, newlines included; so `  # Title`, indented, and
//! `#`, empty, are not headings).
//!
//! JSON is read as PromptTracker's `JSON.parse` (Ruby `json` 2.16) reads it: `/* */` and `//`
//! comments are whitespace, a number without fraction or exponent is an Integer however large
//! (`123456789012345678901234567890` is an `integer`), any other number a Float (never out of
//! range: `1e400` is a `float`), and a repeated key keeps its last value. `schema.types` names
//! are matched as PromptTracker's `value_matches_type?` matches them: case-insensitively
//! (`"String"` is `string`), and a name it does not know (`"date"`) accepts any value.
//!
//! Differences (product spec):
//! - `key_types` (key -> JSON type) is added to the no-`schema` JSON checks;
//! - JSON may be wrapped in a ```` ```json ```` fence; a JSON value that is not an object scores
//!   0 when keys or types are required (PromptTracker raises);
//! - markdown scores 0 without any markdown construct and plain text scores 0 when blank (empty
//!   or whitespace only), JSON (object/array) or containing markdown constructs (PromptTracker
//!   accepts any non-empty text for both);
//! - passed = score 100 (PromptTracker: JSON parses / text non-empty / always);
//! - options that do not apply to the chosen format are config errors; `max_parse_errors` is
//!   accepted but, as in PromptTracker, unused;
//! - configs PromptTracker runs but this service refuses (a stored one is recorded as an
//!   evaluation in error, see [`super`]): unknown keys, in the config or in `schema` (PromptTracker
//!   ignores them), a `schema.types` entry that is not a string (PromptTracker reads its `to_s`,
//!   which it does not know, so it accepts any value), and values of the wrong JSON type (such
//!   as `"required_keys": "a"`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use regex::Regex;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::{
    EvaluationInput, Evaluator, Outcome, config_bool, config_strings, object_schema, plural,
    ruby_downcase, strip_json_fence,
};
use crate::validation::FieldError;

/// The three formats (PromptTracker `FormatEvaluator::FORMATS`).
pub const FORMATS: [&str; 3] = ["json", "markdown", "plain_text"];

/// Type names of `key_types`.
pub const KEY_TYPES: [&str; 7] = [
    "string", "number", "integer", "boolean", "array", "object", "null",
];

/// Type names PromptTracker's `schema.types` checks (with its aliases `int`, `float`, `bool`,
/// `hash`, `nil`), matched case-insensitively; any other name accepts every value.
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
///   (the minimum wins; minus 15 when a nested value is not an object), floored at 0; a
///   `types` name is matched case-insensitively, an unknown one accepts any value. Otherwise,
///   with `n` = required keys + typed keys: `n == 0` -> 100, not an object -> 0, else
///   `round(100 * satisfied/n)` (a typed key that is absent is not a type error). Types follow
///   Ruby's JSON: `1.0` is a number but not an integer; an integer of any size is an integer.
/// - markdown: 0 without a markdown construct (heading, list item, emphasis, code, link,
///   table), else 100, minus 50 when `require_headers` and no heading (PromptTracker's rule:
///   a line matching `^#{1,6}\s+.+`, `\s` ASCII whitespace).
/// - plain_text: 100 when non-blank, not a JSON object/array and free of markdown constructs,
///   else 0.
///
/// Passed: score == 100. Details: `format`, and for json `valid_json`, `parse_error`,
/// `missing_keys`, `type_errors` (`{key, expected, actual}`), `errors`; for markdown and plain
/// text `constructs` (names found) and `has_headers` / `is_json`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Format;

/// The class of a JSON value as Ruby's `JSON.parse` makes it (what PromptTracker's
/// `value_matches_type?` looks at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RubyType {
    Null,
    Boolean,
    /// A number without fraction or exponent, of any size (Ruby `Integer`, a bignum beyond 64
    /// bits).
    Integer,
    /// Any other number (Ruby `Float`).
    Float,
    String,
    Array,
    Object,
}

impl RubyType {
    /// The type of a syntactically valid JSON value (`raw` comes from [`parse_ruby_json`] or
    /// [`members`]).
    fn of(raw: &RawValue) -> Self {
        let text = raw.get().trim_start();
        match text.as_bytes().first() {
            Some(b'n') => Self::Null,
            Some(b't' | b'f') => Self::Boolean,
            Some(b'"') => Self::String,
            Some(b'[') => Self::Array,
            Some(b'{') => Self::Object,
            _ if text.contains(['.', 'e', 'E']) => Self::Float,
            _ => Self::Integer,
        }
    }

    /// The JSON type name used in messages (`integer` for integers, `number` for floats).
    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Float => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        }
    }
}

/// Whether a value of type `t` has type `expected` (a [`KEY_TYPES`] or [`SCHEMA_TYPES`] name),
/// following PromptTracker `value_matches_type?`: the name is compared after Ruby's `downcase`,
/// and an unknown name matches anything.
fn has_type(t: RubyType, expected: &str) -> bool {
    match ruby_downcase(expected).as_str() {
        "string" => t == RubyType::String,
        "integer" | "int" => t == RubyType::Integer,
        "number" | "float" => matches!(t, RubyType::Integer | RubyType::Float),
        "boolean" | "bool" => t == RubyType::Boolean,
        "array" => t == RubyType::Array,
        "object" | "hash" => t == RubyType::Object,
        "null" | "nil" => t == RubyType::Null,
        _ => true,
    }
}

/// `text` with the comments Ruby's JSON parser skips (`/* ... */` and `// ...` to the end of
/// the line, outside strings) replaced by spaces. An unterminated `/*` is left in place, so
/// the text stays invalid.
fn without_json_comments(text: &str) -> Cow<'_, str> {
    if !text.contains('/') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 2,
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'/' if !in_string && matches!(bytes.get(i + 1), Some(b'*' | b'/')) => {
                let end = if bytes[i + 1] == b'*' {
                    match text[i + 2..].find("*/") {
                        Some(p) => i + 2 + p + 2,
                        None => break,
                    }
                } else {
                    text[i + 2..].find('\n').map_or(text.len(), |p| i + 2 + p)
                };
                out.push_str(&text[copied..i]);
                out.push(' ');
                i = end;
                copied = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Parses a response as PromptTracker's `JSON.parse(response_text)` does (the body of a
/// ```` ```json ```` fence wrapping the whole response, see [`strip_json_fence`], is parsed
/// instead): RFC 8259 syntax plus comments; whitespace around the value is JSON's (space, tab,
/// CR, LF: not U+00A0, which Ruby rejects too); numbers are not evaluated, so none is out of
/// range. The value's Ruby types are read with [`RubyType::of`] and [`members`].
fn parse_ruby_json(text: &str) -> Result<Box<RawValue>, serde_json::Error> {
    let body = strip_json_fence(text);
    let text = if body == text.trim() { text } else { body };
    serde_json::from_str::<Box<RawValue>>(&without_json_comments(text))
}

/// The members of a JSON object (a repeated key keeps its last value, as in Ruby), or `None`
/// when `raw` is not an object.
fn members(raw: &RawValue) -> Option<BTreeMap<String, Box<RawValue>>> {
    if RubyType::of(raw) != RubyType::Object {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// Markdown constructs: (name, regex source). `heading` is PromptTracker's rule, Ruby's
/// `^[#]{1,6}\s+.+` with ASCII `\s`.
const CONSTRUCTS: [(&str, &str); 6] = [
    ("heading", r"(?m)^#{1,6}[\t\n\x0B\x0C\r ]+.+"),
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
            "types": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "key -> type name: string, integer (int), float or number, \
                                boolean (bool), array, object (hash), null (nil); any case; \
                                another name accepts any value, as in PromptTracker."
            },
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
    data: &BTreeMap<String, Box<RawValue>>,
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
                && !has_type(RubyType::of(value), expected)
            {
                errors.push(at(format!(
                    "key '{key}' has wrong type (expected {expected}, got {})",
                    RubyType::of(value).name()
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
            match members(value) {
                Some(inner) => {
                    let s = score_structure(&inner, nested_schema, strict, &nested_path, errors);
                    score = f64::min(score, s);
                }
                None => {
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
        let value = match parse_ruby_json(text) {
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
            let Some(data) = members(&value) else {
                return Self::not_an_object(&value);
            };
            let mut errors = Vec::new();
            let strict = config_bool(config, "strict", false);
            let score = score_structure(&data, schema, strict, "", &mut errors);
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
        let Some(data) = members(&value) else {
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
                let actual = RubyType::of(data.get(key)?);
                (!has_type(actual, expected))
                    .then(|| json!({"key": key, "expected": expected, "actual": actual.name()}))
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

    fn not_an_object(value: &RawValue) -> Outcome {
        Outcome::new(
            0.0,
            false,
            format!(
                "Valid JSON but not an object (got {}), so keys cannot be checked.",
                RubyType::of(value).name()
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
        let is_json = parse_ruby_json(text)
            .is_ok_and(|v| matches!(RubyType::of(&v), RubyType::Object | RubyType::Array));
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
    fn headings_follow_prompt_tracker_rule() {
        // PromptTracker: /^[#]{1,6}\s+.+/ (Ruby's \s is ASCII and includes newlines).
        let heading = |text: &str| markdown_constructs(text).contains(&"heading");
        assert!(heading("# Title"));
        assert!(heading("intro\n###### Six"));
        assert!(heading("#\tTabbed"));
        // Indented headings (CommonMark allows up to 3 spaces) are not headings...
        assert!(!heading("  # Title"));
        assert!(!heading("   ### Deep"));
        // ...nor are empty ones (CommonMark: `#` alone is an empty heading)...
        assert!(!heading("#"));
        assert!(!heading("# "));
        assert!(!heading("####### Seven"));
        assert!(!heading("#\u{a0}Title"));
        // ...while Ruby's \s+ may cross a newline, and `.+` may be a space.
        assert!(heading("#\nTitle"));
        assert!(heading("##  "));
        let headers = json!({"format": "markdown", "require_headers": true});
        assert_eq!(run(headers.clone(), "  # Title\n\n- item").score, 50.0);
        assert_eq!(run(headers.clone(), "#\n\n- item").score, 100.0);
        assert_eq!(run(headers, "## Title\n- item").score, 100.0);
        // An indented heading is plain text now.
        assert_eq!(
            run(json!({"format": "plain_text"}), "  # Title").score,
            100.0
        );
    }

    #[test]
    fn json_types_follow_ruby_json_parse() {
        // Ruby's JSON.parse gives an Integer (bignum) for any digit string without fraction or
        // exponent.
        let big = r#"{"n": 123456789012345678901234567890, "neg": -98765432109876543210987654321}"#;
        let cfg = json!({"format": "json", "key_types": {"n": "integer", "neg": "integer"}});
        let o = run(cfg, big);
        assert_eq!((o.score, o.passed), (100.0, true), "{o:?}");
        let cfg = json!({"format": "json", "schema": {"types": {"n": "int", "neg": "number"}}});
        assert_eq!(run(cfg, big).score, 100.0);
        let o = run(json!({"format": "json", "key_types": {"n": "string"}}), big);
        assert_eq!(
            o.details["type_errors"],
            json!([{"key": "n", "expected": "string", "actual": "integer"}])
        );
        // Fractions and exponents are Floats, of any size (Ruby: 1e400 is Infinity).
        let floats = r#"{"a": 1.0, "b": 1e2, "c": 1e400, "d": -0}"#;
        let cfg = json!({"format": "json", "key_types": {"a": "integer", "b": "integer", "c": "number", "d": "integer"}});
        let o = run(cfg, floats);
        assert_eq!(
            o.details["type_errors"],
            json!([
                {"key": "a", "expected": "integer", "actual": "number"},
                {"key": "b", "expected": "integer", "actual": "number"}
            ])
        );
        assert_eq!(run(json!({"format": "json"}), "1e400").score, 100.0);
        // Comments are whitespace to Ruby's parser; a repeated key keeps its last value.
        let commented = "{\"a\": /* note */ 1, // line\n \"b\": \"x//y\", \"a\": \"s\"}";
        let cfg = json!({"format": "json", "key_types": {"a": "string", "b": "string"}});
        assert_eq!(run(cfg, commented).score, 100.0);
        assert_eq!(run(json!({"format": "json"}), "[1] // done").score, 100.0);
        assert_eq!(run(json!({"format": "json"}), "[1] /* open").score, 0.0);
        // Whitespace around the value is JSON's: U+00A0 is not (Ruby rejects it too).
        assert_eq!(run(json!({"format": "json"}), "\u{a0}{}").score, 0.0);
        assert_eq!(run(json!({"format": "json"}), " \r\n\t{} \n").score, 100.0);
        // Nested structures see the same types.
        let cfg = json!({"format": "json", "schema": {"nested_structure": {"u": {"types": {"id": "integer"}}}}});
        assert_eq!(
            run(
                cfg,
                r#"{"u": {"id": 340282366920938463463374607431768211456}}"#
            )
            .score,
            100.0
        );
        // Plain text recognises commented JSON as JSON.
        assert_eq!(run(json!({}), "/* x */ {\"a\": 1}").score, 0.0);
    }

    #[test]
    fn schema_type_names_follow_prompt_tracker() {
        // PromptTracker compares `expected_type.to_s.downcase`; unknown names accept anything.
        let cfg = json!({
            "format": "json",
            "schema": {"types": {"name": "String", "when": "date", "n": "INTEGER", "f": "Float"}}
        });
        assert!(validate_config("format", &cfg).is_ok());
        let o = run(cfg.clone(), r#"{"name": "Ada", "when": 5, "n": 1, "f": 2}"#);
        assert_eq!((o.score, o.passed), (100.0, true), "{o:?}");
        let o = run(cfg, r#"{"name": 1, "when": null, "n": 1.5, "f": "x"}"#);
        // 3 wrong types: 100 - 30.
        assert_eq!(o.score, 70.0);
        assert_eq!(
            o.details["errors"],
            json!([
                "key 'f' has wrong type (expected Float, got string)",
                "key 'n' has wrong type (expected INTEGER, got number)",
                "key 'name' has wrong type (expected String, got integer)"
            ])
        );
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
            &json!({"format": "json", "schema": {"nested_structure": {"u": {"types": {"id": 5}}}}}),
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
