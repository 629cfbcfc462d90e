//! `length`: the response length must lie within a range of characters.
//!
//! Source: PromptTracker `LengthEvaluator` (`lounna-team/PromptTracker`,
//! `app/services/prompt_tracker/evaluators/length_evaluator.rb`): same config keys and defaults
//! (`min_length: 10`, `max_length: 2000`), length = Ruby `String#length` (characters), score 100
//! inside the range (bounds included) else 0, passed = inside the range.
//!
//! Differences: bounds must be integers >= 0 and `min_length <= max_length`, and unknown keys
//! are refused (config errors here; PromptTracker runs such configs, and a stored one is
//! recorded as an evaluation in error, see [`super`]). Older PromptTracker versions had
//! `ideal_min`/`ideal_max` with graded scores; the current one (mirrored here) is binary.

use serde_json::{Value, json};

use super::{EvaluationInput, Evaluator, Outcome, config_count, object_schema};
use crate::validation::FieldError;

/// Default `min_length` (PromptTracker `LengthEvaluator::DEFAULT_CONFIG`).
pub const DEFAULT_MIN_LENGTH: u64 = 10;
/// Default `max_length` (PromptTracker `LengthEvaluator::DEFAULT_CONFIG`).
pub const DEFAULT_MAX_LENGTH: u64 = 2000;

/// The `length` evaluator (PromptTracker `LengthEvaluator`).
///
/// Config: `min_length` (integer >= 0, default 10), `max_length` (integer >= 0, default 2000),
/// both in characters (Unicode scalar values; the response is not trimmed), `min_length <=
/// max_length`.
///
/// Score: 100 when `min_length <= length <= max_length`, else 0; passed = within range.
/// Details: `length`, `min_length`, `max_length`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Length;

impl Evaluator for Length {
    fn key(&self) -> &'static str {
        "length"
    }

    fn name(&self) -> &'static str {
        "Length Validator"
    }

    fn description(&self) -> &'static str {
        "Validates the response length in characters against a min/max range."
    }

    fn config_schema(&self) -> Value {
        object_schema(
            "Length Validator config",
            "PromptTracker LengthEvaluator: min_length <= characters <= max_length.",
            json!({
                "min_length": {
                    "type": "integer",
                    "minimum": 0,
                    "default": DEFAULT_MIN_LENGTH,
                    "description": "Minimum number of characters (inclusive)."
                },
                "max_length": {
                    "type": "integer",
                    "minimum": 0,
                    "default": DEFAULT_MAX_LENGTH,
                    "description": "Maximum number of characters (inclusive)."
                }
            }),
            &[],
        )
    }

    fn check_config(&self, config: &Value) -> Vec<FieldError> {
        let min = config_count(config, "min_length").unwrap_or(DEFAULT_MIN_LENGTH);
        let max = config_count(config, "max_length").unwrap_or(DEFAULT_MAX_LENGTH);
        if min > max {
            vec![FieldError::new(
                "config.min_length",
                format!(
                    "min_length ({min}) must not exceed max_length ({max}); when omitted they \
                     default to {DEFAULT_MIN_LENGTH} and {DEFAULT_MAX_LENGTH}"
                ),
            )]
        } else {
            Vec::new()
        }
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        let min = config_count(config, "min_length").unwrap_or(DEFAULT_MIN_LENGTH);
        let max = config_count(config, "max_length").unwrap_or(DEFAULT_MAX_LENGTH);
        let length = input.response_text.chars().count() as u64;
        let passed = (min..=max).contains(&length);
        let feedback = if length < min {
            format!("Response is too short ({length} chars). Minimum: {min} chars.")
        } else if length > max {
            format!("Response is too long ({length} chars). Maximum: {max} chars.")
        } else {
            format!("Response length is acceptable ({length} chars). Range: {min}-{max} chars.")
        };
        Outcome::new(
            if passed { 100.0 } else { 0.0 },
            passed,
            feedback,
            json!({"length": length, "min_length": min, "max_length": max}),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::input;
    use super::super::{evaluate, validate_config};

    fn run(config: serde_json::Value, text: &str) -> super::Outcome {
        evaluate("length", &config, None, &input(text)).unwrap()
    }

    #[test]
    fn defaults_are_filled_in() {
        assert_eq!(
            validate_config("length", &json!({})).unwrap(),
            json!({"min_length": 10, "max_length": 2000})
        );
        assert_eq!(
            validate_config("length", &json!({"max_length": 50})).unwrap(),
            json!({"min_length": 10, "max_length": 50})
        );
    }

    #[test]
    fn within_range_including_bounds() {
        let cfg = json!({"min_length": 3, "max_length": 5});
        for text in ["abc", "abcd", "abcde"] {
            let o = run(cfg.clone(), text);
            assert_eq!((o.score, o.passed), (100.0, true), "{text}");
        }
        let o = run(cfg, "abcd");
        assert_eq!(
            o.details,
            json!({"length": 4, "min_length": 3, "max_length": 5})
        );
        assert_eq!(
            o.feedback,
            "Response length is acceptable (4 chars). Range: 3-5 chars."
        );
    }

    #[test]
    fn too_short_and_too_long() {
        let cfg = json!({"min_length": 3, "max_length": 5});
        let o = run(cfg.clone(), "ab");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(
            o.feedback,
            "Response is too short (2 chars). Minimum: 3 chars."
        );
        let o = run(cfg, "abcdef");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(
            o.feedback,
            "Response is too long (6 chars). Maximum: 5 chars."
        );
    }

    #[test]
    fn counts_unicode_scalar_values_not_bytes() {
        // 5 characters, 11 bytes; the emoji is one scalar value.
        let text = "héllo";
        assert_eq!(
            run(json!({"min_length": 5, "max_length": 5}), text).score,
            100.0
        );
        let o = run(json!({"min_length": 0, "max_length": 3}), "日本語🙂");
        assert_eq!(o.details["length"], 4);
        assert!(!o.passed);
    }

    #[test]
    fn empty_response_and_zero_bounds() {
        assert!(!run(json!({}), "").passed);
        let o = run(json!({"min_length": 0, "max_length": 0}), "");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert!(!run(json!({"min_length": 0, "max_length": 0}), " ").passed);
        // Integral floats are integers in JSON Schema.
        assert!(run(json!({"min_length": 1.0, "max_length": 2.0}), "ab").passed);
    }

    #[test]
    fn invalid_config() {
        let err =
            validate_config("length", &json!({"min_length": 10, "max_length": 5})).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field, "config.min_length");
        assert!(
            err[0]
                .message
                .starts_with("min_length (10) must not exceed max_length (5)")
        );
        // Only max_length given, below the default min_length.
        let err = validate_config("length", &json!({"max_length": 5})).unwrap_err();
        assert_eq!(err[0].field, "config.min_length");
        let err = validate_config("length", &json!({"max_length": 2.5})).unwrap_err();
        assert_eq!(err[0].field, "config.max_length");
        let err = validate_config("length", &json!({"min_length": "3"})).unwrap_err();
        assert_eq!(err[0].field, "config.min_length");
        let err = validate_config("length", &json!({"ideal_min": 3})).unwrap_err();
        assert_eq!(err[0].field, "config.ideal_min");
    }
}
