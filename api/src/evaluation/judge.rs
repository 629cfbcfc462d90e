//! The `llm_judge` evaluator's runner: asks the configured judge model (any provider/api of
//! the catalog) for `{score 0-100, feedback}` with structured output, and records the judge's
//! prompt, raw answer, tokens and cost in the evaluation's metadata.

use chrono::Utc;
use entity::evaluation::{self, EvaluationContext};
use entity::{evaluator_config, llm_response};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};

use crate::catalog::pricing::PriceTable;
use crate::error::{Error, Result};
use crate::evaluation::configs;
use crate::providers::PromptParts;
use crate::providers::Providers;

/// Registry key of the judge evaluator.
pub const KEY: &str = "llm_judge";

/// JSON Schema of the judge's answer.
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["score", "feedback"],
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "feedback": {"type": "string"}
        }
    })
}

const SYSTEM: &str = "You are a strict evaluator of AI assistant responses. Score the RESPONSE from 0 (fails the criteria entirely) to 100 (fully meets them). Answer only with JSON: {\"score\": <integer 0-100>, \"feedback\": \"<one or two sentences>\"}.";

/// The judge's user message for one response.
pub fn judge_prompt(
    criteria: &str,
    instructions: Option<&str>,
    response: &llm_response::Model,
    expected: Option<&str>,
) -> String {
    let mut p = format!("CRITERIA:\n{criteria}\n\n");
    if let Some(i) = instructions {
        p.push_str(&format!("INSTRUCTIONS:\n{i}\n\n"));
    }
    if let Some(s) = &response.rendered_system_prompt {
        p.push_str(&format!("SYSTEM PROMPT GIVEN TO THE ASSISTANT:\n{s}\n\n"));
    }
    p.push_str(&format!(
        "USER PROMPT GIVEN TO THE ASSISTANT:\n{}\n\n",
        response.rendered_prompt
    ));
    if let Some(e) = expected {
        p.push_str(&format!("EXPECTED OUTPUT:\n{e}\n\n"));
    }
    p.push_str(&format!(
        "RESPONSE:\n{}",
        response.response_text.as_deref().unwrap_or("")
    ));
    p
}

/// Reads `{score, feedback}` from the judge's answer: the text as JSON (optionally fenced),
/// else the arguments of its first tool call (Anthropic's forced tool).
fn parse_answer(c: &crate::providers::Completion) -> Option<(f64, String)> {
    let text = c.text.trim();
    let text = text
        .strip_prefix("```json")
        .or_else(|| text.strip_prefix("```"))
        .unwrap_or(text);
    let text = text.strip_suffix("```").unwrap_or(text).trim();
    let value: Value = serde_json::from_str(text)
        .ok()
        .or_else(|| c.tool_calls.first().map(|t| t.arguments.clone()))?;
    let score = value.get("score")?.as_f64()?;
    if !(0.0..=100.0).contains(&score) {
        return None;
    }
    let feedback = value
        .get("feedback")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Some((score, feedback))
}

/// What the judge calls out to: the provider clients and the price table that costs the
/// judge's own call.
#[derive(Clone, Debug)]
pub struct Judge {
    pub providers: Providers,
    pub prices: std::sync::Arc<PriceTable>,
}

/// Runs a judge config on `response` and stores the evaluation. A stored config the evaluator
/// does not accept (422 errors), a failed judge call or an unreadable answer is an error (the
/// caller records it: on the run, or as an evaluation in error).
pub async fn evaluate(
    db: &sea_orm::DatabaseConnection,
    judge: &Judge,
    config: &evaluator_config::Model,
    response: &llm_response::Model,
    expected: Option<&str>,
    context: EvaluationContext,
    run_id: Option<i64>,
) -> Result<evaluation::Model> {
    crate::evaluation::evaluators::validate_stored(KEY, &config.config, config.threshold)
        .map_err(Error::Validation)?;
    let judge_config = entity::ModelConfig::from_json(
        config
            .config
            .get("model_config")
            .cloned()
            .unwrap_or(Value::Null),
    )
    .map_err(|e| Error::invalid("config.model_config", e))?;
    judge
        .providers
        .check(&judge_config)
        .map_err(Error::Validation)?;
    let criteria = config
        .config
        .get("criteria")
        .and_then(Value::as_str)
        .unwrap_or("");
    let instructions = config.config.get("instructions").and_then(Value::as_str);
    let user = judge_prompt(criteria, instructions, response, expected);
    let schema = answer_schema();
    let parts = PromptParts {
        system: Some(SYSTEM),
        user: &user,
    };
    let completion = judge
        .providers
        .call(&judge_config, &parts, Some(&schema))
        .await
        .map_err(|e| {
            Error::Conflict(format!(
                "the judge call failed ({}): {}",
                e.error_type, e.error_message
            ))
        })?;
    let (score, feedback) = parse_answer(&completion).ok_or_else(|| {
        Error::Conflict(format!(
            "the judge's answer is not {{score 0-100, feedback}}: {:.200}",
            completion.text
        ))
    })?;
    let provider = judge_config
        .provider
        .clone()
        .unwrap_or_else(|| "openai".to_owned());
    let model = completion
        .model
        .clone()
        .or_else(|| judge_config.model.clone())
        .unwrap_or_default();
    let cost = judge.prices.cost_usd(
        &provider,
        &model,
        completion.tokens_prompt,
        completion.tokens_completion,
    );
    let passed = match config.threshold {
        Some(t) => score >= f64::from(t),
        None => score >= 70.0,
    };
    let now = Utc::now().naive_utc();
    let row = evaluation::ActiveModel {
        llm_response_id: Set(response.id),
        prompt_version_id: Set(Some(response.prompt_version_id)),
        score: Set(Decimal::from_f64(score).unwrap_or_default().round_dp(2)),
        score_min: Set(Decimal::ZERO),
        score_max: Set(Decimal::ONE_HUNDRED),
        evaluator_type: Set(KEY.to_owned()),
        evaluator_id: Set(Some(config.id.to_string())),
        feedback: Set(Some(feedback)),
        metadata: Set(json!({
            "evaluator_config": configs::snapshot(config),
            "judge": {
                "model_config": judge_config.to_json(),
                "prompt": {"system": SYSTEM, "user": user},
                "answer": completion.text,
                "raw": completion.raw,
                "tokens_prompt": completion.tokens_prompt,
                "tokens_completion": completion.tokens_completion,
                "cost_usd": cost.and_then(|c| c.to_f64()),
                "latency_ms": completion.latency_ms,
            }
        })),
        passed: Set(Some(passed)),
        evaluation_context: Set(context),
        evaluator_config_id: Set(Some(config.id)),
        prompt_test_run_id: Set(run_id),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}
