//! Scoring LLM calls: evaluator configs on versions and tests ([`configs`]), the evaluators
//! themselves ([`evaluators`], pure functions of a response and a config), the LLM judge that
//! asks a model for a score ([`judge`]), and stored evaluations with their lists and manual
//! scores ([`evaluations`]).

pub mod configs;
pub mod evaluations;
pub mod evaluators;
pub mod judge;
