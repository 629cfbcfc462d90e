//! Prompt tests and their verdicts: tests of a version ([`prompt_tests`]), datasets of
//! variable rows ([`datasets`]), the openai/evals importer ([`evals_import`]), and test runs
//! executed as jobs with server-side verdicts ([`runs`]), and the wake-ups of requests waiting
//! for a batch of runs ([`batch_events`]).

pub mod batch_events;
pub mod datasets;
pub mod evals_import;
pub mod prompt_tests;
pub mod runs;
