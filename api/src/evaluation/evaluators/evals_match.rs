//! `evals_match`: the response against a row's `ideal`, the way openai/evals checks it.
//!
//! The ideal answer(s) come from the rendered variables (`ideal_variable`, default `ideal`: a
//! string or a list of strings), as in an openai/evals sample `{"input": ..., "ideal": ...}`.
//! Modes (openai/evals 3.0.1):
//! - `starts_with` — `evals.elsuite.basic.match:Match` via `evals.api.record_and_check_match`:
//!   the response (untrimmed) starts with one of the ideals;
//! - `includes` — `evals.elsuite.basic.includes:Includes` via `evals.elsuite.utils.get_answer`:
//!   the response contains one of the ideals (`ignore_case` as its `ignore_case` argument);
//! - `exact` — the response, trimmed of surrounding whitespace, equals one of the ideals.
//!
//! Score 100 on a match, else 0; passed = match. Details: `ideal`, `picked`.

use serde_json::{Value, json};

use super::{EvaluationInput, Evaluator, Outcome, object_schema};

/// Matching modes.
pub const MODES: &[&str] = &["starts_with", "includes", "exact"];

/// The `evals_match` evaluator.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvalsMatch;

impl Evaluator for EvalsMatch {
    fn key(&self) -> &'static str {
        "evals_match"
    }

    fn name(&self) -> &'static str {
        "openai/evals Match"
    }

    fn description(&self) -> &'static str {
        "Checks the response against the row's ideal answer(s) as openai/evals does: starts_with (Match), includes (Includes) or exact."
    }

    fn config_schema(&self) -> Value {
        object_schema(
            "evals_match",
            self.description(),
            json!({
                "mode": {"type": "string", "enum": MODES, "default": "starts_with"},
                "ideal_variable": {"type": "string", "minLength": 1, "default": "ideal"},
                "ignore_case": {"type": "boolean", "default": false}
            }),
            &[],
        )
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        let mode = config
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("starts_with");
        let var = config
            .get("ideal_variable")
            .and_then(Value::as_str)
            .unwrap_or("ideal");
        let ignore_case = config
            .get("ignore_case")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let ideals: Vec<String> = match input.variables.get(var) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if ideals.is_empty() {
            return Outcome::new(
                0.0,
                false,
                format!("No ideal answer: the variable `{var}` is missing or not a string/list."),
                json!({"ideal": null, "picked": null}),
            );
        }
        let sampled = input.response_text;
        let lower = |s: &str| {
            if ignore_case {
                s.to_lowercase()
            } else {
                s.to_owned()
            }
        };
        let picked = ideals.iter().find(|ideal| match mode {
            "includes" => lower(sampled).contains(&lower(ideal)),
            "exact" => lower(sampled.trim()) == lower(ideal),
            _ => lower(sampled).starts_with(&lower(ideal)),
        });
        let details = json!({"ideal": ideals, "picked": picked, "mode": mode});
        match picked {
            Some(p) => Outcome::new(
                100.0,
                true,
                format!("The response matches the ideal {p:?} ({mode})."),
                details,
            ),
            None => Outcome::new(
                0.0,
                false,
                format!("The response matches none of the ideals ({mode})."),
                details,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: Value, response: &str, variables: Value) -> Outcome {
        let input = EvaluationInput {
            response_text: response,
            rendered_prompt: "",
            variables: &variables,
            expected_output: None,
        };
        EvalsMatch.evaluate(&config, &input)
    }

    #[test]
    fn starts_with_is_openai_evals_match_without_trimming() {
        let v = json!({"ideal": "5 4 * * *"});
        assert!(run(json!({}), "5 4 * * *\n", v.clone()).passed);
        assert!(
            !run(json!({}), " 5 4 * * *", v.clone()).passed,
            "Match does not strip"
        );
        assert!(!run(json!({}), "The answer: 5 4 * * *", v).passed);
        assert!(run(json!({}), "N, he was not", json!({"ideal": ["Y", "N"]})).passed);
    }

    #[test]
    fn includes_and_exact() {
        let v = json!({"ideal": "Paris"});
        assert!(run(json!({"mode": "includes"}), "It is Paris.", v.clone()).passed);
        assert!(!run(json!({"mode": "includes"}), "it is paris.", v.clone()).passed);
        assert!(
            run(
                json!({"mode": "includes", "ignore_case": true}),
                "it is paris.",
                v.clone()
            )
            .passed
        );
        assert!(run(json!({"mode": "exact"}), "  Paris\n", v.clone()).passed);
        assert!(!run(json!({"mode": "exact"}), "Paris.", v).passed);
    }

    #[test]
    fn missing_ideal_fails_with_feedback() {
        let o = run(json!({}), "x", json!({}));
        assert_eq!((o.score, o.passed), (0.0, false));
        assert!(o.feedback.contains("ideal"));
    }
}
