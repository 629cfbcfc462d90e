//! Scoring LLM calls: evaluator configs on versions and tests ([`configs`]), the evaluators
//! themselves ([`evaluators`], pure functions of a response and a config), the LLM judge that
//! asks a model for a score ([`judge`]), and stored evaluations with their lists and manual
//! scores ([`evaluations`]).

pub mod configs;
pub mod evaluations;
pub mod evaluators;
pub mod judge;

/// Counts an evaluation that could not run because its evaluator config is invalid (the
/// stored config no longer validates, or names an evaluator that is not registered):
/// `prompt_tracker_evaluation_config_errors_total{evaluator}` ([`crate::telemetry`]). Call it
/// where such an evaluation is given up, with the config's `evaluator_key`; keys that are not
/// in the registry are counted as `unknown`, so the label keeps a closed set of values.
pub fn record_config_error(evaluator_key: &str) {
    let evaluator = evaluators::get(evaluator_key).map_or("unknown", |e| e.key());
    crate::telemetry::evaluation_config_error(evaluator);
}
