//! `llm_judge`: a judge model scores the response 0-100 against criteria, with feedback.
//!
//! Unlike the rule-based evaluators it calls a real provider, so it never runs inline: the
//! runner ([`crate::evaluation::judge`]) calls it for test runs and background jobs call it for tracked
//! calls (even when its config says `sync`). [`Evaluator::evaluate`] here only reports that.
//!
//! Config: `model_config` (the judge: any provider/api of the catalog, validated like a
//! version's; required), `criteria` (what a good answer is; required), `instructions`
//! (optional extra guidance for the judge).
//!
//! Difference: PromptTracker's `LlmJudgeEvaluator` config (`judge_model`,
//! `custom_instructions`, `threshold_score`) is not accepted; a stored one is recorded as an
//! evaluation in error (see [`super`]).

use serde_json::{Value, json};

use super::{EvaluationInput, Evaluator, Outcome};
use crate::validation::FieldError;

/// The `llm_judge` evaluator.
#[derive(Clone, Copy, Debug, Default)]
pub struct LlmJudge;

impl Evaluator for LlmJudge {
    fn key(&self) -> &'static str {
        "llm_judge"
    }

    fn name(&self) -> &'static str {
        "LLM Judge"
    }

    fn description(&self) -> &'static str {
        "A judge model scores the response 0-100 against your criteria and explains why (structured output). Runs in the background."
    }

    fn config_schema(&self) -> Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "required": ["model_config", "criteria"],
            "properties": {
                "model_config": {"type": "object", "description": "The judge model: {provider, api, model, ...} as for a version."},
                "criteria": {"type": "string", "minLength": 1, "description": "What a good response does."},
                "instructions": {"type": "string", "description": "Extra guidance for the judge."}
            }
        })
    }

    fn check_config(&self, config: &Value) -> Vec<FieldError> {
        let Some(mc) = config.get("model_config") else {
            return Vec::new();
        };
        match entity::ModelConfig::from_json(mc.clone()) {
            Err(m) => vec![FieldError::new("config.model_config", m)],
            Ok(c) if c.model.is_none() => vec![FieldError::new(
                "config.model_config.model",
                "the judge needs a model",
            )],
            Ok(c) => crate::catalog::model_config::validate(&c)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| FieldError::new(format!("config.model_config.{}", e.field), e.message))
                .collect(),
        }
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn evaluate(&self, _config: &Value, _input: &EvaluationInput<'_>) -> Outcome {
        Outcome::new(
            0.0,
            false,
            "llm_judge runs through the test runner or a background job, not inline.",
            json!({}),
        )
    }
}
