//! The Prompt Tracker schema history.
//!
//! This crate is the only place that changes the schema. Each migration lives in its own file
//! and runs on SQLite and PostgreSQL. The history reproduces the PromptTracker Rails engine:
//!
//! 1. [`m20250101_000001_baseline_prompt_tracker_schema`]: the schema as it stood before
//!    phase 1, created only where absent so an existing PromptTracker database is adopted.
//! 2. [`m20250102_000001_make_evaluator_config_polymorphic`]: seed 000, Migration 1.
//! 3. [`m20250102_000002_add_test_run_tracking_to_llm_responses`]: seed 000, Migration 2.
//! 4. [`m20250102_000003_add_evaluation_context`]: seed 000, Migration 3.
//! 5. [`m20250102_000004_migrate_prompt_test_evaluator_configs`]: seed 000, Migration 4.
//! 6. [`m20250103_000001_split_model_config_provider_api`]: seed 002, Phase 3.
//! 7. [`m20261121_000001_add_evaluator_config_to_evaluations`]: evaluations name their config.
//! 8. [`m20261121_000002_create_idempotency_keys`]: replay answers of `Idempotency-Key`.
//! 9. [`m20261121_000003_one_active_version_per_prompt`]: a partial unique index (surplus
//!    active versions of legacy data are deprecated first).
//! 10. [`m20261121_000004_create_jobs`]: the durable job queue.
//! 11. [`m20261121_000005_add_test_run_batches_and_verdicts`]: batches, pass thresholds, run links.
//! 12. [`m20261121_000006_create_datasets`]: datasets of variable rows.
//! 13. [`m20261121_000007_add_list_indexes`]: composite indexes for filtered response lists.
//! 14. [`m20261121_000008_index_unfinished_jobs`]: a partial index that keeps job claims cheap
//!     (replaces the `(status, run_after, id)` index).
//! 15. [`m20261121_000009_add_prompt_version_id_to_evaluations`]: evaluations filter by version.
//! 16. [`m20261121_000010_add_revision_to_prompt_versions`]: a trigger-kept revision counter
//!     that lets the service cache what tracked calls read.
//!
//! Every `down` restores the previous schema and the previous data. Values that the schema on
//! one side of a migration cannot hold are parked in [`archive`] and put back when the
//! migration runs the other way; rows that cannot be placed at all stop the migration with an
//! error that names them.

pub use sea_orm_migration::prelude::*;

pub mod archive;
pub mod m20250101_000001_baseline_prompt_tracker_schema;
pub mod m20250102_000001_make_evaluator_config_polymorphic;
pub mod m20250102_000002_add_test_run_tracking_to_llm_responses;
pub mod m20250102_000003_add_evaluation_context;
pub mod m20250102_000004_migrate_prompt_test_evaluator_configs;
pub mod m20250103_000001_split_model_config_provider_api;
pub mod m20261121_000001_add_evaluator_config_to_evaluations;
pub mod m20261121_000002_create_idempotency_keys;
pub mod m20261121_000003_one_active_version_per_prompt;
pub mod m20261121_000004_create_jobs;
pub mod m20261121_000005_add_test_run_batches_and_verdicts;
pub mod m20261121_000006_create_datasets;
pub mod m20261121_000007_add_list_indexes;
pub mod m20261121_000008_index_unfinished_jobs;
pub mod m20261121_000009_add_prompt_version_id_to_evaluations;
pub mod m20261121_000010_add_revision_to_prompt_versions;
pub mod support;

/// The migrator of the whole history, in order. Used by the `migration` CLI, by
/// `prompt-tracker migrate ...` and by the service at start-up.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_baseline_prompt_tracker_schema::Migration),
            Box::new(m20250102_000001_make_evaluator_config_polymorphic::Migration),
            Box::new(m20250102_000002_add_test_run_tracking_to_llm_responses::Migration),
            Box::new(m20250102_000003_add_evaluation_context::Migration),
            Box::new(m20250102_000004_migrate_prompt_test_evaluator_configs::Migration),
            Box::new(m20250103_000001_split_model_config_provider_api::Migration),
            Box::new(m20261121_000001_add_evaluator_config_to_evaluations::Migration),
            Box::new(m20261121_000002_create_idempotency_keys::Migration),
            Box::new(m20261121_000003_one_active_version_per_prompt::Migration),
            Box::new(m20261121_000004_create_jobs::Migration),
            Box::new(m20261121_000005_add_test_run_batches_and_verdicts::Migration),
            Box::new(m20261121_000006_create_datasets::Migration),
            Box::new(m20261121_000007_add_list_indexes::Migration),
            Box::new(m20261121_000008_index_unfinished_jobs::Migration),
            Box::new(m20261121_000009_add_prompt_version_id_to_evaluations::Migration),
            Box::new(m20261121_000010_add_revision_to_prompt_versions::Migration),
        ]
    }
}
