//! `exact_match`: the response must equal an expected text.
//!
//! Source: PromptTracker `ExactMatchEvaluator` (`lounna-team/PromptTracker`,
//! `app/services/prompt_tracker/evaluators/exact_match_evaluator.rb`): same config keys and
//! defaults (`case_sensitive: false`, `trim_whitespace: true`), same normalisation (Ruby's
//! `strip`, then Ruby's `downcase`: see [`super::ruby_strip`] and [`super::ruby_downcase`]),
//! score 100 on a match else 0, passed = match.
//!
//! Differences:
//! - (product spec) PromptTracker defaults `expected_text` to `""`; here an absent (or `null`)
//!   `expected_text` falls back to the prompt test's `expected_output`, and when neither is
//!   there the evaluation fails with score 0 instead of comparing with the empty string. An
//!   explicit `""` still means "the response must be empty".
//! - configs PromptTracker runs but this service refuses (a stored one is recorded as an
//!   evaluation in error, see [`super`]): unknown keys (PromptTracker ignores them), an
//!   `expected_text` that is not a string (PromptTracker compares with its `to_s`), and
//!   `case_sensitive` / `trim_whitespace` that are not booleans (PromptTracker uses Ruby
//!   truthiness).

use serde_json::{Value, json};

use super::{
    EvaluationInput, Evaluator, Outcome, config_bool, object_schema, preview, ruby_downcase,
    ruby_strip,
};

/// The `exact_match` evaluator (PromptTracker `ExactMatchEvaluator`).
///
/// Config: `expected_text` (string, optional), `case_sensitive` (bool, default false),
/// `trim_whitespace` (bool, default true: strip leading/trailing whitespace of both sides before
/// comparing, as Ruby's `strip` does: ASCII whitespace and NUL only, so U+00A0 and other Unicode
/// spaces stay). Case-insensitive comparison lowercases both sides as Ruby's `downcase` does
/// (full Unicode mapping, no final-sigma rule).
///
/// Score: 100 when the normalised response equals the normalised expected text, else 0;
/// passed = equal. Details: `expected_source` (`"config"`, `"expected_output"` or `null`),
/// `expected_preview` / `actual_preview` (normalised, first 100 characters, as PromptTracker's
/// feedback shows them), `case_sensitive`, `trim_whitespace`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExactMatch;

impl ExactMatch {
    fn normalize(text: &str, case_sensitive: bool, trim: bool) -> String {
        let text = if trim { ruby_strip(text) } else { text };
        if case_sensitive {
            text.to_owned()
        } else {
            ruby_downcase(text)
        }
    }
}

impl Evaluator for ExactMatch {
    fn key(&self) -> &'static str {
        "exact_match"
    }

    fn name(&self) -> &'static str {
        "Exact Match"
    }

    fn description(&self) -> &'static str {
        "Checks if the response exactly matches the expected text (or the prompt test's \
         expected output)."
    }

    fn config_schema(&self) -> Value {
        object_schema(
            "Exact Match config",
            "PromptTracker ExactMatchEvaluator: the response must equal expected_text.",
            json!({
                "expected_text": {
                    "type": ["string", "null"],
                    "description": "Text the response must equal. When absent or null, the \
                                    prompt test's expected_output is used."
                },
                "case_sensitive": {
                    "type": "boolean",
                    "default": false,
                    "description": "Compare case-sensitively."
                },
                "trim_whitespace": {
                    "type": "boolean",
                    "default": true,
                    "description": "Strip leading and trailing whitespace of both texts first."
                }
            }),
            &[],
        )
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        let case_sensitive = config_bool(config, "case_sensitive", false);
        let trim = config_bool(config, "trim_whitespace", true);
        let (expected, source) = match config.get("expected_text").and_then(Value::as_str) {
            Some(text) => (Some(text), Some("config")),
            None => (
                input.expected_output,
                input.expected_output.map(|_| "expected_output"),
            ),
        };
        let actual = Self::normalize(input.response_text, case_sensitive, trim);
        let Some(expected) = expected else {
            return Outcome::new(
                0.0,
                false,
                "No expected text to compare with: set config.expected_text or give the prompt \
                 test an expected_output.",
                json!({
                    "expected_source": null,
                    "expected_preview": null,
                    "actual_preview": preview(&actual, 100),
                    "case_sensitive": case_sensitive,
                    "trim_whitespace": trim,
                }),
            );
        };
        let expected = Self::normalize(expected, case_sensitive, trim);
        let matched = expected == actual;
        let feedback = if matched {
            "Response exactly matches the expected text.".to_owned()
        } else {
            format!(
                "Response does not match the expected text (expected \"{}\", got \"{}\").",
                preview(&expected, 100),
                preview(&actual, 100)
            )
        };
        Outcome::new(
            if matched { 100.0 } else { 0.0 },
            matched,
            feedback,
            json!({
                "expected_source": source,
                "expected_preview": preview(&expected, 100),
                "actual_preview": preview(&actual, 100),
                "case_sensitive": case_sensitive,
                "trim_whitespace": trim,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::input;
    use super::super::{EvaluationInput, evaluate, validate_config};

    fn run(config: serde_json::Value, text: &str) -> super::Outcome {
        evaluate("exact_match", &config, None, &input(text)).unwrap()
    }

    #[test]
    fn defaults_are_filled_in() {
        assert_eq!(
            validate_config("exact_match", &json!({})).unwrap(),
            json!({"case_sensitive": false, "trim_whitespace": true})
        );
        assert_eq!(
            validate_config(
                "exact_match",
                &json!({"expected_text": "x", "case_sensitive": true})
            )
            .unwrap(),
            json!({"expected_text": "x", "case_sensitive": true, "trim_whitespace": true})
        );
    }

    #[test]
    fn match_ignores_case_and_surrounding_whitespace_by_default() {
        let o = run(json!({"expected_text": "Hello World"}), "  hello world\n");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.details["expected_source"], "config");
        assert_eq!(o.feedback, "Response exactly matches the expected text.");
    }

    #[test]
    fn mismatch_scores_zero_with_previews() {
        let o = run(json!({"expected_text": "Paris"}), "London");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(o.details["expected_preview"], "paris");
        assert_eq!(o.details["actual_preview"], "london");
        assert_eq!(
            o.feedback,
            "Response does not match the expected text (expected \"paris\", got \"london\")."
        );
    }

    #[test]
    fn case_sensitive_and_untrimmed() {
        let cfg = json!({"expected_text": "Hello", "case_sensitive": true});
        assert_eq!(run(cfg.clone(), "hello").score, 0.0);
        assert_eq!(run(cfg, " Hello ").score, 100.0);
        let strict = json!({"expected_text": "Hello", "trim_whitespace": false});
        assert_eq!(run(strict.clone(), "Hello\n").score, 0.0);
        assert_eq!(run(strict, "HELLO").score, 100.0);
    }

    #[test]
    fn unicode_case_folding() {
        assert!(run(json!({"expected_text": "ÉCOLE"}), "école").passed);
        assert!(
            !run(
                json!({"expected_text": "ÉCOLE", "case_sensitive": true}),
                "école"
            )
            .passed
        );
    }

    #[test]
    fn strip_and_downcase_follow_ruby() {
        // Ruby's strip keeps U+00A0 (str::trim removed it, so these matched before).
        let o = run(json!({"expected_text": "text"}), "\u{a0}text\u{a0}");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert!(
            run(
                json!({"expected_text": "\u{a0}text\u{a0}"}),
                "\u{a0}text\u{a0}\n"
            )
            .passed
        );
        // ...and strips NUL at both ends.
        assert!(run(json!({"expected_text": "ok"}), "\0ok\0").passed);
        // Ruby's downcase has no final-sigma rule: "ΣΑΣ" is "σασ", not "σας".
        assert!(run(json!({"expected_text": "σασ"}), "ΣΑΣ").passed);
        let o = run(json!({"expected_text": "σας"}), "ΣΑΣ");
        assert!(!o.passed);
        assert_eq!(o.details["actual_preview"], "σασ");
    }

    #[test]
    fn falls_back_to_expected_output() {
        let vars = json!({});
        let i = EvaluationInput {
            response_text: "42",
            rendered_prompt: "What is 6*7?",
            variables: &vars,
            expected_output: Some(" 42 "),
        };
        let o = evaluate("exact_match", &json!({}), None, &i).unwrap();
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.details["expected_source"], "expected_output");
        // The config wins over expected_output; null counts as absent.
        let o = evaluate("exact_match", &json!({"expected_text": "41"}), None, &i).unwrap();
        assert_eq!(o.score, 0.0);
        let o = evaluate("exact_match", &json!({"expected_text": null}), None, &i).unwrap();
        assert_eq!(o.score, 100.0);
    }

    #[test]
    fn no_expected_text_fails() {
        let o = run(json!({}), "anything");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert!(o.feedback.starts_with("No expected text"));
        assert_eq!(o.details["expected_source"], serde_json::Value::Null);
    }

    #[test]
    fn explicit_empty_expected_text_matches_only_empty_responses() {
        assert!(run(json!({"expected_text": ""}), "  ").passed);
        assert!(!run(json!({"expected_text": ""}), "x").passed);
    }

    #[test]
    fn invalid_config() {
        let err = validate_config("exact_match", &json!({"expected_text": 5})).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field, "config.expected_text");
        let err = validate_config("exact_match", &json!({"trim_whitespace": "no"})).unwrap_err();
        assert_eq!(err[0].field, "config.trim_whitespace");
        assert_eq!(err[0].message, "\"no\" is not of type \"boolean\"");
    }
}
