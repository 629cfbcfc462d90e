//! Prompt tests and their verdicts: tests of a version ([`prompt_tests`]), datasets of
//! variable rows ([`datasets`]), the openai/evals importer ([`evals_import`]), and test runs
//! executed as jobs with server-side verdicts ([`runs`]).

pub mod datasets;
pub mod evals_import;
pub mod prompt_tests;
pub mod runs;
