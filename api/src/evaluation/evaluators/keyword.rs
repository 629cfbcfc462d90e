//! `keyword`: required keywords must appear, forbidden ones must not.
//!
//! Source: PromptTracker `KeywordEvaluator` (`lounna-team/PromptTracker`,
//! `app/services/prompt_tracker/evaluators/keyword_evaluator.rb`): same config keys and
//! defaults, substring matching (not whole words), case-insensitive by default (both sides
//! lowercased with Ruby's `downcase`, see [`super::ruby_downcase`]: no final-sigma rule), same
//! score formula and pass rule. A config without keywords (`{}`, or both lists empty) scores
//! 100 and passes, as in PromptTracker.
//!
//! Differences: configs PromptTracker runs but this service refuses (a stored one is recorded as
//! an evaluation in error, see [`super`]): an empty keyword (PromptTracker's form drops blank
//! lines, but a stored `""` would be found in every text), a keyword that is not a string
//! (PromptTracker raises), unknown keys (PromptTracker ignores them) and a `case_sensitive` that
//! is not a boolean (PromptTracker uses Ruby truthiness).

use serde_json::{Value, json};

use super::{
    EvaluationInput, Evaluator, Outcome, config_bool, config_strings, object_schema, ruby_downcase,
};

/// The `keyword` evaluator (PromptTracker `KeywordEvaluator`).
///
/// Config: `required_keywords` (array of non-empty strings, default `[]`), `forbidden_keywords`
/// (same, default `[]`), `case_sensitive` (bool, default false). A keyword is found when it is
/// a substring of the response (so `cat` is found in `concatenate`); case-insensitive matching
/// lowercases both sides as Ruby's `downcase` does.
///
/// Score (PromptTracker, rounded to a whole number): with `R` = 100 * required found / required
/// and `F` = 100 * forbidden found / forbidden,
/// no keywords: 100; only required keywords: `R`; only forbidden keywords: `100 - F`; both:
/// `0.7 * R + 0.3 * (100 - F)`. Passed: every required keyword found and no forbidden one. Details:
/// `required_found`, `missing` (required not found), `forbidden_found`, `case_sensitive`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keyword;

impl Evaluator for Keyword {
    fn key(&self) -> &'static str {
        "keyword"
    }

    fn name(&self) -> &'static str {
        "Keyword Checker"
    }

    fn description(&self) -> &'static str {
        "Checks for required and forbidden keywords (substrings) in the response."
    }

    fn config_schema(&self) -> Value {
        let list = |what: &str| {
            json!({
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "default": [],
                "description": what
            })
        };
        object_schema(
            "Keyword Checker config",
            "PromptTracker KeywordEvaluator: substring search; no keywords scores 100.",
            json!({
                "required_keywords": list("Keywords that must appear in the response."),
                "forbidden_keywords": list("Keywords that must not appear in the response."),
                "case_sensitive": {
                    "type": "boolean",
                    "default": false,
                    "description": "Match case-sensitively."
                }
            }),
            &[],
        )
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        let required = config_strings(config, "required_keywords");
        let forbidden = config_strings(config, "forbidden_keywords");
        let case_sensitive = config_bool(config, "case_sensitive", false);
        let text = if case_sensitive {
            input.response_text.to_owned()
        } else {
            ruby_downcase(input.response_text)
        };
        let found = |k: &str| {
            if case_sensitive {
                text.contains(k)
            } else {
                text.contains(&ruby_downcase(k))
            }
        };
        let (required_found, missing): (Vec<&str>, Vec<&str>) =
            required.iter().partition(|k| found(k));
        let forbidden_found: Vec<&str> = forbidden.iter().copied().filter(|k| found(k)).collect();

        let ratio = |n: usize, of: usize| n as f64 / of as f64 * 100.0;
        let score = match (required.is_empty(), forbidden.is_empty()) {
            (true, true) => 100.0,
            (true, false) => 100.0 - ratio(forbidden_found.len(), forbidden.len()),
            (false, true) => ratio(required_found.len(), required.len()),
            (false, false) => {
                ratio(required_found.len(), required.len()) * 0.7
                    + (100.0 - ratio(forbidden_found.len(), forbidden.len())) * 0.3
            }
        }
        .round();
        let passed = missing.is_empty() && forbidden_found.is_empty();

        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing required keywords: {}", missing.join(", ")));
        }
        if !forbidden_found.is_empty() {
            parts.push(format!(
                "contains forbidden keywords: {}",
                forbidden_found.join(", ")
            ));
        }
        let feedback = if parts.is_empty() {
            "All keyword requirements met.".to_owned()
        } else {
            let mut s = parts.join("; ");
            s[..1].make_ascii_uppercase();
            s.push('.');
            s
        };
        Outcome::new(
            score,
            passed,
            feedback,
            json!({
                "required_found": required_found,
                "missing": missing,
                "forbidden_found": forbidden_found,
                "case_sensitive": case_sensitive,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::input;
    use super::super::{evaluate, validate_config};

    fn run(config: serde_json::Value, text: &str) -> super::Outcome {
        evaluate("keyword", &config, None, &input(text)).unwrap()
    }

    #[test]
    fn defaults_are_filled_in() {
        assert_eq!(
            validate_config("keyword", &json!({"required_keywords": ["a"]})).unwrap(),
            json!({"required_keywords": ["a"], "forbidden_keywords": [], "case_sensitive": false})
        );
    }

    #[test]
    fn all_requirements_met() {
        let cfg =
            json!({"required_keywords": ["hello", "welcome"], "forbidden_keywords": ["error"]});
        let o = run(cfg, "Hello and WELCOME!");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.feedback, "All keyword requirements met.");
        assert_eq!(o.details["required_found"], json!(["hello", "welcome"]));
    }

    #[test]
    fn partial_required_only() {
        let o = run(
            json!({"required_keywords": ["a1", "b2", "c3"]}),
            "a1 and b2",
        );
        // round(2/3 * 100) = 67
        assert_eq!((o.score, o.passed), (67.0, false));
        assert_eq!(o.details["missing"], json!(["c3"]));
        assert_eq!(o.feedback, "Missing required keywords: c3.");
    }

    #[test]
    fn forbidden_only() {
        let cfg = json!({"forbidden_keywords": ["error", "failed", "sorry", "cannot"]});
        let o = run(cfg.clone(), "Sorry, it failed.");
        assert_eq!((o.score, o.passed), (50.0, false));
        assert_eq!(o.details["forbidden_found"], json!(["failed", "sorry"]));
        assert_eq!(o.feedback, "Contains forbidden keywords: failed, sorry.");
        assert_eq!(run(cfg, "All good").score, 100.0);
    }

    #[test]
    fn both_lists_weighted_70_30() {
        let cfg = json!({"required_keywords": ["alpha", "beta"], "forbidden_keywords": ["oops"]});
        // 0.7 * 50 + 0.3 * 0 = 35
        let o = run(cfg.clone(), "alpha oops");
        assert_eq!((o.score, o.passed), (35.0, false));
        assert_eq!(
            o.feedback,
            "Missing required keywords: beta; contains forbidden keywords: oops."
        );
        // 0.7 * 0 + 0.3 * 100 = 30
        assert_eq!(run(cfg.clone(), "nothing").score, 30.0);
        // 0.7 * 100 + 0.3 * 0 = 70
        let o = run(cfg, "alpha beta oops");
        assert_eq!((o.score, o.passed), (70.0, false));
    }

    #[test]
    fn substring_not_whole_word_and_case() {
        assert!(run(json!({"required_keywords": ["cat"]}), "concatenate").passed);
        let cs = json!({"required_keywords": ["Paris"], "case_sensitive": true});
        assert_eq!(run(cs.clone(), "paris").score, 0.0);
        assert_eq!(run(cs, "Paris").score, 100.0);
        assert!(
            run(
                json!({"required_keywords": ["STRASSE", "Élan"]}),
                "strasse élan"
            )
            .passed
        );
    }

    #[test]
    fn empty_response() {
        let cfg = json!({"required_keywords": ["a"], "forbidden_keywords": ["b"]});
        let o = run(cfg, "");
        // 0.7 * 0 + 0.3 * 100 = 30
        assert_eq!((o.score, o.passed), (30.0, false));
    }

    #[test]
    fn no_keywords_scores_100_as_in_prompt_tracker() {
        // PromptTracker: `return 100 if required.empty? && forbidden.empty?`, and passed.
        for cfg in [
            json!({}),
            json!({"required_keywords": [], "forbidden_keywords": []}),
        ] {
            let o = run(cfg, "anything");
            assert_eq!((o.score, o.passed), (100.0, true));
            assert_eq!(o.feedback, "All keyword requirements met.");
        }
        assert_eq!(run(json!({}), "").score, 100.0);
    }

    #[test]
    fn lowercasing_follows_ruby_downcase() {
        // Ruby: "ΣΑΣ".downcase == "σασ" (no final sigma), so "σασ" is found and "σας" is not.
        assert!(run(json!({"required_keywords": ["σασ"]}), "ΣΑΣ").passed);
        assert!(!run(json!({"required_keywords": ["σας"]}), "ΣΑΣ").passed);
        // The keyword is lowercased the same way.
        assert!(run(json!({"required_keywords": ["ΟΔΟΣ"]}), "η οδοσ").passed);
    }

    #[test]
    fn invalid_config() {
        let err =
            validate_config("keyword", &json!({"forbidden_keywords": ["x", ""]})).unwrap_err();
        assert_eq!(err[0].field, "config.forbidden_keywords[1]");
        let err = validate_config("keyword", &json!({"required_keywords": "x"})).unwrap_err();
        assert_eq!(err[0].field, "config.required_keywords");
    }
}
