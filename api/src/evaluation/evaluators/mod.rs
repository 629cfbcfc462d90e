//! Evaluators: rule-based scorers of one LLM response (no HTTP, no database, no async).
//!
//! The set and the semantics follow the PromptTracker Rails engine
//! (`app/services/prompt_tracker/evaluators/*.rb` in `lounna-team/PromptTracker`): registry keys are
//! the class names without `Evaluator`, underscored (`KeywordEvaluator` -> `keyword`), as in
//! PromptTracker `EvaluatorRegistry`; config keys, defaults and scores mirror each class. The
//! `json_schema` evaluator has no PromptTracker counterpart and follows the product spec. Each
//! module documents its rules and where they differ from PromptTracker.
//!
//! Shapes shared by all evaluators:
//! - a **config** is a JSON object described by [`Evaluator::config_schema`] (JSON Schema 2020-12,
//!   with `default`s and `additionalProperties: false`); [`validate_config`] checks it and fills in
//!   the defaults;
//! - a **score** is a number from 0 to 100 (rounded to 2 decimals); lengths are counted in
//!   characters (Unicode scalar values, like Ruby's `String#length`);
//! - **passed** is the evaluator's own rule; [`evaluate`] replaces it by `score >= threshold`
//!   when the evaluator config has a threshold (0-100), as the `threshold` column of
//!   PromptTracker `EvaluatorConfig` does.
//!
//! Ruby's string semantics are kept where PromptTracker relies on them: [`ruby_strip`] is
//! `String#strip` and [`ruby_downcase`] is `String#downcase`.
//!
//! **Stored configs this service does not accept.** The API validates a config when it is
//! created or updated ([`validate_config`]). A stored config can still fail that validation: a
//! row PromptTracker wrote (each module lists the PromptTracker configs it refuses), or one
//! written by SQL behind the API's back; so can an unknown evaluator key. Such a config never stops the call it should score: the call is recorded and the
//! config's evaluation is recorded *in error* ([`crate::evaluation::evaluations`]: `passed` null, score 0,
//! `metadata.error` and `feedback` give the reason); a test run with one ends as `error` with
//! the reason, as it does when any evaluator fails.

use serde_json::{Map, Value, json};

use crate::validation::FieldError;

pub mod evals_match;
pub mod exact_match;
pub mod format;
pub mod json_schema;
pub mod keyword;
pub mod length;
pub mod llm_judge;
pub mod pattern_match;

/// What an evaluator looks at: one LLM response and the context it was produced in.
#[derive(Clone, Copy, Debug)]
pub struct EvaluationInput<'a> {
    /// The text the LLM returned (`llm_response.response_text`).
    pub response_text: &'a str,
    /// The prompt as sent, after rendering the template.
    pub rendered_prompt: &'a str,
    /// The variables used to render the prompt (a JSON object, or `null` when there were none).
    pub variables: &'a Value,
    /// A prompt test's `expected_output`, if the evaluation belongs to a test run.
    pub expected_output: Option<&'a str>,
}

/// Result of one evaluation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// Score from 0 to 100, rounded to 2 decimals.
    pub score: f64,
    /// The evaluator's OWN pass rule (callers apply a config threshold instead when one is set;
    /// [`evaluate`] does that).
    pub passed: bool,
    /// One human-readable sentence explaining the score.
    pub feedback: String,
    /// Evaluator-specific facts (matched patterns, missing keys, validation errors...), always a
    /// JSON object; each evaluator documents its keys.
    pub details: Value,
}

impl Outcome {
    /// An outcome whose `score` is clamped to 0..=100 (NaN becomes 0) and rounded to 2 decimals.
    pub fn new(score: f64, passed: bool, feedback: impl Into<String>, details: Value) -> Self {
        Self {
            score: round_score(score),
            passed,
            feedback: feedback.into(),
            details,
        }
    }
}

/// One evaluator: metadata, the JSON Schema of its config, and the scoring rule.
///
/// Implementations are stateless unit structs; [`registry`] lists them all.
pub trait Evaluator: Send + Sync {
    /// Registry key, e.g. `"keyword"` (PromptTracker `EvaluatorRegistry` naming).
    fn key(&self) -> &'static str;
    /// Human name, e.g. `"Keyword Checker"` (PromptTracker `metadata[:name]`).
    fn name(&self) -> &'static str;
    /// One-sentence description of what is checked.
    fn description(&self) -> &'static str;
    /// JSON Schema (draft 2020-12) of the config object, with `default`s for optional
    /// properties and `"additionalProperties": false`.
    fn config_schema(&self) -> Value;
    /// Checks that JSON Schema cannot express (regexes compile, `min_length <= max_length`,
    /// ...). `config` is schema-valid and has the defaults filled in. Fields are
    /// `config.<property path>` like [`validate_config`]'s. Default: no extra checks.
    fn check_config(&self, config: &Value) -> Vec<FieldError> {
        let _ = config;
        Vec::new()
    }
    /// True when the evaluator calls a remote model and so must run in the background
    /// (`llm_judge`), never inline in a request.
    fn is_remote(&self) -> bool {
        false
    }
    /// Scores `input`. `config` has already been validated and completed with defaults by
    /// [`validate_config`]; implementations must not panic on other configs either (they fall
    /// back to the defaults).
    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome;
}

static REGISTRY: [&dyn Evaluator; 8] = [
    &exact_match::ExactMatch,
    &pattern_match::PatternMatch,
    &keyword::Keyword,
    &length::Length,
    &format::Format,
    &json_schema::JsonSchema,
    &llm_judge::LlmJudge,
    &evals_match::EvalsMatch,
];

/// All evaluators, in a stable order: `exact_match`, `pattern_match`, `keyword`, `length`,
/// `format`, `json_schema`, `llm_judge`, `evals_match`.
pub fn registry() -> &'static [&'static dyn Evaluator] {
    &REGISTRY
}

/// The evaluator registered under `key` (exact, case-sensitive match), if any.
pub fn get(key: &str) -> Option<&'static dyn Evaluator> {
    REGISTRY.iter().copied().find(|e| e.key() == key)
}

/// Each evaluator's config schema and its compiled validator, in [`REGISTRY`] order, built once:
/// compiling a schema (which also checks it against the draft 2020-12 meta-schema) costs more
/// than validating a config with it, and every evaluation validates its config.
struct CompiledSchema {
    schema: Value,
    validator: std::result::Result<jsonschema::Validator, String>,
}

static SCHEMAS: std::sync::LazyLock<Vec<CompiledSchema>> = std::sync::LazyLock::new(|| {
    REGISTRY
        .iter()
        .map(|e| {
            let schema = e.config_schema();
            let validator = jsonschema::draft202012::new(&schema).map_err(|e| e.to_string());
            CompiledSchema { schema, validator }
        })
        .collect()
});

/// Validates `config` (must be a JSON object; `null` means `{}`) against the evaluator's schema
/// with the `jsonschema` crate (draft 2020-12), runs the evaluator's semantic checks
/// ([`Evaluator::check_config`]) and returns the config with the schema's top-level defaults
/// filled in.
///
/// Errors: one [`FieldError`] per problem, `field` = `config` or `config.<property path>` (dotted,
/// array items as `[i]`, e.g. `config.patterns[1]`), with a human-readable message; an unknown
/// key gives a single `FieldError { field: "evaluator_key", .. }` listing the valid keys.
pub fn validate_config(key: &str, config: &Value) -> Result<Value, Vec<FieldError>> {
    let Some(index) = REGISTRY.iter().position(|e| e.key() == key) else {
        let valid: Vec<&str> = REGISTRY.iter().map(|e| e.key()).collect();
        return Err(vec![FieldError::new(
            "evaluator_key",
            format!(
                "unknown evaluator `{key}`; valid keys: {}",
                valid.join(", ")
            ),
        )]);
    };
    let config = match config {
        Value::Null => Value::Object(Map::new()),
        Value::Object(_) => config.clone(),
        _ => return Err(vec![FieldError::new("config", "must be a JSON object")]),
    };
    let evaluator = REGISTRY[index];
    let CompiledSchema { schema, validator } = &SCHEMAS[index];
    let validator = match validator {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![FieldError::new(
                "config",
                format!("evaluator `{key}` has an invalid config schema: {e}"),
            )]);
        }
    };
    let errors = schema_errors(validator, &config, "config", schema);
    if !errors.is_empty() {
        return Err(errors);
    }
    let config = with_defaults(schema, config);
    let errors = evaluator.check_config(&config);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// Checks a stored evaluator config before it runs: [`validate_config`], plus
/// `FieldError { field: "threshold", .. }` when the threshold is outside 0..=100. Returns the
/// config with its defaults filled in.
pub fn validate_stored(
    key: &str,
    config: &Value,
    threshold: Option<i32>,
) -> Result<Value, Vec<FieldError>> {
    let config = validate_config(key, config)?;
    if let Some(t) = threshold
        && !(0..=100).contains(&t)
    {
        return Err(vec![FieldError::new(
            "threshold",
            "must be an integer from 0 to 100",
        )]);
    }
    Ok(config)
}

/// Runs evaluator `key` on `input` with `config` (validated first with [`validate_stored`]).
/// `threshold` (0-100), when set, decides `passed` as `score >= threshold`; otherwise the
/// evaluator's own rule does.
///
/// Errors: those of [`validate_stored`].
pub fn evaluate(
    key: &str,
    config: &Value,
    threshold: Option<i32>,
    input: &EvaluationInput<'_>,
) -> Result<Outcome, Vec<FieldError>> {
    let config = validate_stored(key, config, threshold)?;
    let evaluator = get(key).expect("validate_config accepted the key");
    let mut outcome = evaluator.evaluate(&config, input);
    if let Some(t) = threshold {
        outcome.passed = outcome.score >= f64::from(t);
    }
    Ok(outcome)
}

// ---- helpers shared by the evaluator modules ----

/// Clamps to 0..=100 (NaN -> 0) and rounds to 2 decimals.
fn round_score(score: f64) -> f64 {
    if score.is_nan() {
        return 0.0;
    }
    (score.clamp(0.0, 100.0) * 100.0).round() / 100.0
}

/// The `$schema` URI of draft 2020-12, used by every config schema.
const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Wraps `properties` into an object schema with `additionalProperties: false`.
fn object_schema(title: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({
        "$schema": DRAFT_2020_12,
        "title": title,
        "description": description,
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// Boolean `config[key]`, or `default` when absent or not a boolean.
fn config_bool(config: &Value, key: &str, default: bool) -> bool {
    config.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// The strings of the array `config[key]` (non-strings and a missing key are skipped).
fn config_strings<'c>(config: &'c Value, key: &str) -> Vec<&'c str> {
    config
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A non-negative integer `config[key]` (JSON Schema integers include `3.0`); out-of-range
/// values saturate.
fn config_count(config: &Value, key: &str) -> Option<u64> {
    let v = config.get(key)?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    })
}

/// Fills in the top-level `default`s of `schema.properties` that `config` lacks.
fn with_defaults(schema: &Value, mut config: Value) -> Value {
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        config.as_object_mut(),
    ) {
        for (name, prop) in props {
            if let Some(default) = prop.get("default")
                && !obj.contains_key(name)
            {
                obj.insert(name.clone(), default.clone());
            }
        }
    }
    config
}

/// Every error of `validator` on `instance` as field errors under `prefix` (`config`,
/// `config.schema`...). `schema` gives the valid property names for unknown-property messages.
fn schema_errors(
    validator: &jsonschema::Validator,
    instance: &Value,
    prefix: &str,
    schema: &Value,
) -> Vec<FieldError> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let mut out: Vec<FieldError> = Vec::new();
    for error in validator.iter_errors(instance) {
        let pointer = error.instance_path().as_str().to_owned();
        let at = field_path(prefix, instance, &pointer);
        match error.kind() {
            Kind::Required { property } => {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned);
                out.push(FieldError::new(format!("{at}.{name}"), "is required"));
            }
            Kind::AdditionalProperties { unexpected } => {
                let mut names: Vec<&str> = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .filter(|_| pointer.is_empty())
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                names.sort_unstable();
                let allowed = if names.is_empty() {
                    String::new()
                } else {
                    format!("; valid properties: {}", names.join(", "))
                };
                for name in unexpected {
                    out.push(FieldError::new(
                        format!("{at}.{name}"),
                        format!("unknown property{allowed}"),
                    ));
                }
            }
            _ => out.push(FieldError::new(at, error.to_string())),
        }
    }
    out.dedup();
    out
}

/// `prefix` followed by the JSON Pointer `pointer` (into `instance`) in dotted form: object
/// members as `.name`, array items as `[i]`.
fn field_path(prefix: &str, instance: &Value, pointer: &str) -> String {
    let mut out = prefix.to_owned();
    let mut current = Some(instance);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) if segment.parse::<usize>().is_ok() => {
                let i: usize = segment.parse().unwrap_or_default();
                out.push_str(&format!("[{i}]"));
                current = items.get(i);
            }
            other => {
                out.push('.');
                out.push_str(&segment);
                current = other.and_then(|v| v.get(&segment));
            }
        }
    }
    out
}

/// Ruby's `String#strip` (Ruby 3.0.2 and later; PromptTracker runs on Ruby 3.3): removes leading
/// and trailing ASCII whitespace and NUL, `"\0\t\n\v\f\r "`, and nothing else. Rust's
/// `str::trim` also removes Unicode spaces such as U+00A0, which Ruby keeps.
pub(crate) fn ruby_strip(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, '\0' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' '))
}

/// Ruby's `String#downcase`: the full Unicode lowercase mapping of each character on its own
/// (`İ` becomes `i̇`). Ruby applies no context-sensitive mapping, so `Σ` is always `σ`; Rust's
/// `str::to_lowercase` turns a word-final `Σ` into `ς`.
pub(crate) fn ruby_downcase(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// The JSON text inside a response: the trimmed response, or the body of a single fenced
/// block (```` ```json ```` or bare ```` ``` ````) that makes up the whole trimmed response.
fn strip_json_fence(text: &str) -> &str {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("```")
        && let Some(nl) = rest.find('\n')
    {
        let info = rest[..nl].trim();
        if (info.is_empty() || info.eq_ignore_ascii_case("json"))
            && let Some(body) = rest[nl + 1..].trim_end().strip_suffix("```")
        {
            return body.trim();
        }
    }
    t
}

/// Parses a response as JSON after [`strip_json_fence`].
fn parse_json_response(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(strip_json_fence(text))
}

/// At most `max` characters of `text`, with `...` appended when cut (PromptTracker previews
/// use 100).
fn preview(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// `n` followed by `word`, pluralised with `s` unless `n == 1`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn input(text: &str) -> EvaluationInput<'_> {
        EvaluationInput {
            response_text: text,
            rendered_prompt: "prompt",
            variables: &Value::Null,
            expected_output: None,
        }
    }

    #[test]
    fn registry_has_eight_in_stable_order_and_valid_schemas() {
        let keys: Vec<&str> = registry().iter().map(|e| e.key()).collect();
        assert_eq!(
            keys,
            [
                "exact_match",
                "pattern_match",
                "keyword",
                "length",
                "format",
                "json_schema",
                "llm_judge",
                "evals_match"
            ]
        );
        for e in registry() {
            let schema = e.config_schema();
            assert!(jsonschema::meta::is_valid(&schema), "{} schema", e.key());
            assert_eq!(schema["additionalProperties"], json!(false), "{}", e.key());
            assert_eq!(schema["$schema"], json!(DRAFT_2020_12));
            assert!(!e.name().is_empty() && !e.description().is_empty());
            assert_eq!(get(e.key()).map(|g| g.key()), Some(e.key()));
        }
        assert!(get("Keyword").is_none());
    }

    #[test]
    fn unknown_key_lists_valid_keys() {
        let err = validate_config("sentiment", &json!({})).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field, "evaluator_key");
        assert!(err[0].message.contains("sentiment"));
        assert!(err[0].message.contains(
            "exact_match, pattern_match, keyword, length, format, json_schema, llm_judge"
        ));
    }

    #[test]
    fn config_must_be_an_object_null_means_empty() {
        let err = validate_config("length", &json!([1])).unwrap_err();
        assert_eq!(
            err,
            vec![FieldError::new("config", "must be a JSON object")]
        );
        let err = validate_config("length", &json!("x")).unwrap_err();
        assert_eq!(err[0].field, "config");
        assert_eq!(
            validate_config("length", &Value::Null).unwrap(),
            json!({"min_length": 10, "max_length": 2000})
        );
    }

    #[test]
    fn schema_errors_name_the_property() {
        let err = validate_config(
            "keyword",
            &json!({
                "required_keywords": ["ok", 3],
                "case_sensitive": "yes",
                "colour": 1
            }),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"config.required_keywords[1]"), "{err:?}");
        assert!(fields.contains(&"config.case_sensitive"), "{err:?}");
        assert!(fields.contains(&"config.colour"), "{err:?}");
        let unknown = err.iter().find(|e| e.field == "config.colour").unwrap();
        assert_eq!(
            unknown.message,
            "unknown property; valid properties: case_sensitive, forbidden_keywords, required_keywords"
        );
        let missing = validate_config("json_schema", &json!({})).unwrap_err();
        assert_eq!(
            missing,
            vec![FieldError::new("config.schema", "is required")]
        );
    }

    #[test]
    fn field_path_distinguishes_arrays_from_numeric_keys() {
        let v = json!({"a": [{"0": {"b~c/d": 1}}]});
        assert_eq!(
            field_path("config", &v, "/a/0/0/b~0c~1d"),
            "config.a[0].0.b~c/d"
        );
        assert_eq!(field_path("config", &v, ""), "config");
    }

    #[test]
    fn evaluate_applies_threshold_instead_of_own_rule() {
        let cfg = json!({"required_keywords": ["a", "b", "c", "d"]});
        // 3 of 4 required keywords: score 75, own rule fails.
        let own = evaluate("keyword", &cfg, None, &input("a b c")).unwrap();
        assert_eq!((own.score, own.passed), (75.0, false));
        let lenient = evaluate("keyword", &cfg, Some(70), &input("a b c")).unwrap();
        assert_eq!((lenient.score, lenient.passed), (75.0, true));
        let at = evaluate("keyword", &cfg, Some(75), &input("a b c")).unwrap();
        assert!(at.passed);
        let strict = evaluate("keyword", &cfg, Some(76), &input("a b c")).unwrap();
        assert!(!strict.passed);
        // Threshold 0 passes everything, even a score of 0.
        let none = evaluate("keyword", &cfg, Some(0), &input("")).unwrap();
        assert_eq!((none.score, none.passed), (0.0, true));
        // Partial scores of other evaluators too.
        let fmt = json!({"format": "markdown", "require_headers": true});
        let own = evaluate("format", &fmt, None, &input("- item")).unwrap();
        assert_eq!((own.score, own.passed), (50.0, false));
        let lenient = evaluate("format", &fmt, Some(50), &input("- item")).unwrap();
        assert!(lenient.passed);
    }

    #[test]
    fn evaluate_rejects_bad_threshold_and_bad_config() {
        let err = evaluate("length", &json!({}), Some(101), &input("x")).unwrap_err();
        assert_eq!(err[0].field, "threshold");
        let err = evaluate("length", &json!({}), Some(-1), &input("x")).unwrap_err();
        assert_eq!(err[0].field, "threshold");
        let err = evaluate("length", &json!({"min_length": -1}), None, &input("x")).unwrap_err();
        assert_eq!(err[0].field, "config.min_length");
        let err = evaluate("nope", &json!({}), None, &input("x")).unwrap_err();
        assert_eq!(err[0].field, "evaluator_key");
    }

    #[test]
    fn outcome_scores_are_clamped_and_rounded() {
        assert_eq!(Outcome::new(66.666_666, true, "", json!({})).score, 66.67);
        assert_eq!(Outcome::new(150.0, true, "", json!({})).score, 100.0);
        assert_eq!(Outcome::new(-3.0, true, "", json!({})).score, 0.0);
        assert_eq!(Outcome::new(f64::NAN, true, "", json!({})).score, 0.0);
    }

    #[test]
    fn fences_are_stripped_only_when_they_wrap_the_whole_response() {
        assert_eq!(strip_json_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_json_fence("  ```JSON\n[1]\n```\n"), "[1]");
        assert_eq!(strip_json_fence("```\n{}\n```"), "{}");
        assert_eq!(strip_json_fence("```python\n{}\n```"), "```python\n{}\n```");
        assert_eq!(
            strip_json_fence("Here:\n```json\n{}\n```"),
            "Here:\n```json\n{}\n```"
        );
        assert_eq!(strip_json_fence(" {} "), "{}");
    }

    #[test]
    fn strip_is_rubys() {
        // Ruby strips ASCII whitespace and NUL at both ends...
        assert_eq!(
            ruby_strip("\0\t\n\u{0B}\u{0C}\r x y \0\t\n\u{0B}\u{0C}\r "),
            "x y"
        );
        // ...and keeps Unicode spaces (str::trim removes them).
        assert_eq!(ruby_strip("\u{a0}text\u{a0}"), "\u{a0}text\u{a0}");
        assert_eq!(ruby_strip(" \u{2003}x\u{3000} "), "\u{2003}x\u{3000}");
        assert_eq!(ruby_strip(" \n "), "");
    }

    #[test]
    fn downcase_is_rubys() {
        // No final-sigma rule: "ΣΑΣ".downcase == "σασ" in Ruby (Rust's to_lowercase: "σας").
        assert_eq!(ruby_downcase("ΣΑΣ"), "σασ");
        assert_eq!(ruby_downcase("ΟΔΟΣ ΟΔΟΣ."), "οδοσ οδοσ.");
        // Full (one-to-many) mappings are applied, as in Ruby.
        assert_eq!(ruby_downcase("İ"), "i\u{307}");
        assert_eq!(ruby_downcase("ÉCOLE Straße"), "école straße");
    }

    #[test]
    fn preview_cuts_by_characters() {
        assert_eq!(preview("héllo", 3), "hél...");
        assert_eq!(preview("héllo", 5), "héllo");
    }
}
