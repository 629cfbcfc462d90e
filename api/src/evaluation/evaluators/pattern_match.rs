//! `pattern_match`: the response must match regular expressions or contain literal strings.
//!
//! Source: PromptTracker `PatternMatchEvaluator` (`lounna-team/PromptTracker`,
//! `app/services/prompt_tracker/evaluators/pattern_match_evaluator.rb`): same config keys
//! (`patterns`, `match_all` default true), same pattern syntax (a string of the form
//! `/body/flags` is a regex, anything else a literal, case-sensitive substring), same score
//! (100 when the pass rule holds, else 0) and pass rule (all patterns match when `match_all`,
//! else at least one).
//!
//! Differences:
//! - `patterns` must hold at least one non-empty string (PromptTracker accepts `[]` and then
//!   always fails); a regex that does not compile is a config error instead of a runtime
//!   exception.
//! - Regexes run on Rust's `regex` engine: no look-around or backreferences (config error).
//!   Ruby's meaning of anchors and flags is kept: `^`/`$` always match at line boundaries, `m`
//!   makes `.` match newlines, `i` ignores case, `x` allows whitespace and `#` comments. `s` is
//!   accepted as the JavaScript spelling of Ruby's `m`. Inside the body `\/` stands for `/`.

use regex::{Regex, RegexBuilder};
use serde_json::{Value, json};

use super::{
    EvaluationInput, Evaluator, Outcome, config_bool, config_strings, object_schema, plural,
};
use crate::validation::FieldError;

/// The `pattern_match` evaluator (PromptTracker `PatternMatchEvaluator`).
///
/// Config: `patterns` (array of at least one non-empty string, required): `/body/flags` with
/// flags from `imsx` is a regex, anything else a literal substring; `match_all` (bool, default
/// true).
///
/// Score: 100 when passed, else 0 (PromptTracker scores this evaluator in binary mode). Passed:
/// every pattern matches when `match_all`, at least one otherwise. Details: `matched` and
/// `unmatched` (the pattern strings as configured), `match_all`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PatternMatch;

/// A compiled pattern.
enum Matcher {
    Regex(Regex),
    Literal(String),
}

impl Matcher {
    fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Regex(re) => re.is_match(text),
            Matcher::Literal(s) => text.contains(s.as_str()),
        }
    }
}

/// Splits `/body/flags` (flags from `imsx`) into body and flags; `None` for a literal. Like
/// PromptTracker's `\A/(.*)/([imx]*)\z`, the body runs to the LAST `/`.
fn split_regex(pattern: &str) -> Option<(&str, &str)> {
    let rest = pattern.strip_prefix('/')?;
    let end = rest.rfind('/')?;
    let (body, flags) = (&rest[..end], &rest[end + 1..]);
    flags
        .chars()
        .all(|c| "imsx".contains(c))
        .then_some((body, flags))
}

/// Compiles one configured pattern; `Err` holds a one-line reason.
fn compile(pattern: &str) -> Result<Matcher, String> {
    let Some((body, flags)) = split_regex(pattern) else {
        return Ok(Matcher::Literal(pattern.to_owned()));
    };
    RegexBuilder::new(body)
        .case_insensitive(flags.contains('i'))
        .multi_line(true)
        .dot_matches_new_line(flags.contains('m') || flags.contains('s'))
        .ignore_whitespace(flags.contains('x'))
        .build()
        .map(Matcher::Regex)
        .map_err(|e| {
            // The syntax error's last line is the reason ("error: look-around ... is not
            // supported"); the lines above repeat the pattern with a caret.
            let text = e.to_string();
            let reason = text.lines().last().unwrap_or_default().trim();
            format!(
                "invalid regular expression {pattern}: {}",
                reason.trim_start_matches("error: ")
            )
        })
}

impl Evaluator for PatternMatch {
    fn key(&self) -> &'static str {
        "pattern_match"
    }

    fn name(&self) -> &'static str {
        "Pattern Match"
    }

    fn description(&self) -> &'static str {
        "Checks if the response matches regex patterns (/body/flags) or contains literal strings."
    }

    fn config_schema(&self) -> Value {
        object_schema(
            "Pattern Match config",
            "PromptTracker PatternMatchEvaluator: /body/flags regexes (flags i, m, s, x) or \
             literal substrings.",
            json!({
                "patterns": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "minLength": 1},
                    "description": "Regexes written /body/flags (flags from imsx; Ruby \
                                    semantics: ^ and $ match at line boundaries, m or s lets . \
                                    match newlines) or literal, case-sensitive substrings."
                },
                "match_all": {
                    "type": "boolean",
                    "default": true,
                    "description": "true: every pattern must match; false: one is enough."
                }
            }),
            &["patterns"],
        )
    }

    fn check_config(&self, config: &Value) -> Vec<FieldError> {
        config_strings(config, "patterns")
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                compile(p)
                    .err()
                    .map(|m| FieldError::new(format!("config.patterns[{i}]"), m))
            })
            .collect()
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        let patterns = config_strings(config, "patterns");
        let match_all = config_bool(config, "match_all", true);
        let mut matched = Vec::new();
        let mut unmatched = Vec::new();
        for p in &patterns {
            // A pattern that does not compile (only possible without validate_config) counts
            // as unmatched.
            if compile(p).is_ok_and(|m| m.is_match(input.response_text)) {
                matched.push(*p);
            } else {
                unmatched.push(*p);
            }
        }
        let passed = if patterns.is_empty() {
            false
        } else if match_all {
            unmatched.is_empty()
        } else {
            !matched.is_empty()
        };
        let feedback = if patterns.is_empty() {
            "No patterns configured.".to_owned()
        } else if unmatched.is_empty() {
            format!("All {} matched.", plural(patterns.len(), "pattern"))
        } else if match_all {
            format!(
                "Failed to match {}: {}.",
                plural(unmatched.len(), "pattern"),
                unmatched.join(", ")
            )
        } else if passed {
            format!(
                "{} of {} matched (one is enough).",
                matched.len(),
                plural(patterns.len(), "pattern")
            )
        } else {
            format!("No pattern matched; tried {}.", patterns.join(", "))
        };
        Outcome::new(
            if passed { 100.0 } else { 0.0 },
            passed,
            feedback,
            json!({"matched": matched, "unmatched": unmatched, "match_all": match_all}),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::input;
    use super::super::{evaluate, validate_config};
    use super::split_regex;

    fn run(config: serde_json::Value, text: &str) -> super::Outcome {
        evaluate("pattern_match", &config, None, &input(text)).unwrap()
    }

    #[test]
    fn split_follows_prompt_tracker_syntax() {
        assert_eq!(split_regex("/Hello/"), Some(("Hello", "")));
        assert_eq!(split_regex("/world/ix"), Some(("world", "ix")));
        assert_eq!(split_regex("/a/b/i"), Some(("a/b", "i")));
        assert_eq!(split_regex("/usr/bin/env"), None);
        assert_eq!(split_regex("/"), None);
        assert_eq!(split_regex("hello"), None);
        assert_eq!(split_regex("/x/g"), None);
    }

    #[test]
    fn defaults_are_filled_in() {
        assert_eq!(
            validate_config("pattern_match", &json!({"patterns": ["a"]})).unwrap(),
            json!({"patterns": ["a"], "match_all": true})
        );
    }

    #[test]
    fn all_patterns_match() {
        let o = run(json!({"patterns": ["/Hello/", "/world/i"]}), "Hello WORLD");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.details["matched"], json!(["/Hello/", "/world/i"]));
        assert_eq!(o.details["unmatched"], json!([]));
        assert_eq!(o.feedback, "All 2 patterns matched.");
    }

    #[test]
    fn match_all_fails_when_one_misses() {
        let o = run(json!({"patterns": ["/Hello/", "/world/"]}), "Hello WORLD");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(o.details["unmatched"], json!(["/world/"]));
        assert_eq!(o.feedback, "Failed to match 1 pattern: /world/.");
    }

    #[test]
    fn match_any() {
        let cfg = json!({"patterns": ["/greeting/i", "/hello/i", "/hi\\b/"], "match_all": false});
        let o = run(cfg.clone(), "Well, HELLO there");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.details["matched"], json!(["/hello/i"]));
        assert_eq!(o.feedback, "1 of 3 patterns matched (one is enough).");
        let o = run(cfg, "bye");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert!(o.feedback.starts_with("No pattern matched"));
    }

    #[test]
    fn literals_are_case_sensitive_substrings_with_metacharacters() {
        let cfg = json!({"patterns": ["$5.00 (USD)"]});
        assert!(run(cfg.clone(), "It costs $5.00 (USD).").passed);
        assert!(!run(cfg, "It costs $5x00 (USD).").passed);
        assert!(!run(json!({"patterns": ["Hello"]}), "hello").passed);
    }

    #[test]
    fn flags_follow_ruby() {
        // ^ and $ match at line starts/ends without any flag (Ruby).
        assert!(
            run(
                json!({"patterns": ["/^total: \\d+$/"]}),
                "items\ntotal: 3\nend"
            )
            .passed
        );
        // . does not cross newlines without m (or s)...
        assert!(!run(json!({"patterns": ["/start.*end/"]}), "start\nend").passed);
        // ...and does with either.
        assert!(run(json!({"patterns": ["/start.*end/m"]}), "start\nend").passed);
        assert!(run(json!({"patterns": ["/start.*end/s"]}), "start\nend").passed);
        // x: whitespace and comments ignored.
        assert!(run(json!({"patterns": ["/ a b  # comment\n c /x"]}), "abc").passed);
        // Escaped slash in the body; Unicode with i.
        assert!(run(json!({"patterns": ["/and\\/or/"]}), "and/or").passed);
        assert!(run(json!({"patterns": ["/ÉTÉ/i"]}), "un été chaud").passed);
    }

    #[test]
    fn empty_response() {
        let o = run(json!({"patterns": ["/^$/"]}), "");
        assert!(o.passed);
        let o = run(json!({"patterns": ["/./"]}), "");
        assert_eq!((o.score, o.passed), (0.0, false));
    }

    #[test]
    fn invalid_config() {
        let err = validate_config(
            "pattern_match",
            &json!({"patterns": ["ok", "/(unclosed/", "/(?<=a)b/"]}),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["config.patterns[1]", "config.patterns[2]"]);
        assert!(
            err[0]
                .message
                .starts_with("invalid regular expression /(unclosed/: "),
            "{err:?}"
        );
        assert!(err[1].message.contains("look-around"), "{err:?}");
        let err = validate_config("pattern_match", &json!({"patterns": []})).unwrap_err();
        assert_eq!(err[0].field, "config.patterns");
        let err = validate_config("pattern_match", &json!({})).unwrap_err();
        assert_eq!(err[0].field, "config.patterns");
        assert_eq!(err[0].message, "is required");
        let err = validate_config("pattern_match", &json!({"patterns": ["a", ""]})).unwrap_err();
        assert_eq!(err[0].field, "config.patterns[1]");
        let err = validate_config("pattern_match", &json!({"patterns": "a"})).unwrap_err();
        assert_eq!(err[0].field, "config.patterns");
    }
}
