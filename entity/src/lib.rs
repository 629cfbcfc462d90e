//! SeaORM entities of the Prompt Tracker schema (the final state of the `migration` crate's
//! history), one module per table, and the typed values stored in JSON columns.
//!
//! No HTTP and no provider code lives here. Timestamps are `timestamp without time zone`
//! holding UTC (as the Rails engine stores them); money is `decimal` USD; scores are 0-100.

pub mod dataset;
pub mod dataset_row;
pub mod evaluation;
pub mod evaluator_config;
pub mod idempotency_key;
pub mod job;
pub mod llm_response;
pub mod model_config;
pub mod prompt;
pub mod prompt_test;
pub mod prompt_test_run;
pub mod prompt_version;
pub mod test_run_batch;
pub mod variables_schema;

pub use model_config::ModelConfig;
pub use variables_schema::{VariableDefinition, VariablesSchema};

/// The entities, for `use entity::prelude::*`.
pub mod prelude {
    pub use super::dataset::Entity as Dataset;
    pub use super::dataset_row::Entity as DatasetRow;
    pub use super::evaluation::Entity as Evaluation;
    pub use super::evaluator_config::Entity as EvaluatorConfig;
    pub use super::idempotency_key::Entity as IdempotencyKey;
    pub use super::job::Entity as Job;
    pub use super::llm_response::Entity as LlmResponse;
    pub use super::prompt::Entity as Prompt;
    pub use super::prompt_test::Entity as PromptTest;
    pub use super::prompt_test_run::Entity as PromptTestRun;
    pub use super::prompt_version::Entity as PromptVersion;
    pub use super::test_run_batch::Entity as TestRunBatch;
}
