//! Baseline: the PromptTracker schema as it stood before phase 1 (before seed 000).
//!
//! Every table and index is created only where absent (`IF NOT EXISTS`), so a database that
//! the PromptTracker Rails engine already populated at this state is adopted, not broken.
//! Tables mirror the Rails schema: `id bigint` primary keys, `created_at`/`updated_at`
//! timestamps, JSON columns (`jsonb` on PostgreSQL) with `[]`/`{}` defaults. String-backed
//! enums carry CHECK constraints on the tables this migration creates.
//!
//! `down` drops the tables (and so their data): it is the end of the history. It also drops
//! [`archive`](crate::archive), the migrations' own table, if values are still parked there.

use sea_orm_migration::prelude::*;

use crate::support::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250101_000001_baseline_prompt_tracker_schema"
    }
}

/// Allowed `status` values of a prompt version.
pub const VERSION_STATUSES: &[&str] = &["draft", "active", "deprecated"];
/// Allowed `status` values of an LLM response.
pub const RESPONSE_STATUSES: &[&str] = &["pending", "success", "error", "timeout"];
/// Allowed `status` values of a prompt test run.
pub const TEST_RUN_STATUSES: &[&str] =
    &["pending", "running", "passed", "failed", "error", "skipped"];
/// Allowed `run_mode` values of an evaluator config.
pub const RUN_MODES: &[&str] = &["sync", "async"];

fn fk(
    name: &str,
    from: (&'static str, &'static str),
    to: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to, "id")
        .to_owned()
}

/// `prompt_tracker_prompts`
pub fn prompts_table() -> TableCreateStatement {
    Table::create()
        .table(PROMPTS)
        .if_not_exists()
        .col(id())
        .col(ColumnDef::new("name").string().not_null())
        .col(ColumnDef::new("slug").string().not_null())
        .col(ColumnDef::new("description").text())
        .col(ColumnDef::new("category").string())
        .col(json("tags", "[]"))
        .col(ColumnDef::new("created_by").string())
        .col(ColumnDef::new("archived_at").timestamp())
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .to_owned()
}

/// `prompt_tracker_prompt_versions`
pub fn prompt_versions_table() -> TableCreateStatement {
    Table::create()
        .table(PROMPT_VERSIONS)
        .if_not_exists()
        .col(id())
        .col(ColumnDef::new("prompt_id").big_integer().not_null())
        .col(ColumnDef::new("user_prompt").text().not_null())
        .col(ColumnDef::new("system_prompt").text())
        .col(ColumnDef::new("version_number").integer().not_null())
        .col(string_enum(
            PROMPT_VERSIONS,
            "status",
            VERSION_STATUSES,
            "draft",
        ))
        .col(json("variables_schema", "[]"))
        .col(json("model_config", "{}"))
        .col(ColumnDef::new("notes").text())
        .col(ColumnDef::new("created_by").string())
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_prompt_versions_prompt_id",
            (PROMPT_VERSIONS, "prompt_id"),
            PROMPTS,
        ))
        .to_owned()
}

/// `prompt_tracker_evaluator_configs` as it stood before phase 1: owned by a prompt
/// (`prompt_id` not null), one config per evaluator key per prompt. `table` lets a
/// migration build this shape under a temporary name when it rebuilds the table on SQLite.
pub fn evaluator_configs_table(table: &'static str) -> TableCreateStatement {
    Table::create()
        .table(table)
        .if_not_exists()
        .col(id())
        .col(ColumnDef::new("prompt_id").big_integer().not_null())
        .col(ColumnDef::new("evaluator_key").string().not_null())
        .col(ColumnDef::new("enabled").boolean().not_null().default(true))
        .col(json("config", "{}"))
        .col(string_enum(
            EVALUATOR_CONFIGS,
            "run_mode",
            RUN_MODES,
            "async",
        ))
        .col(ColumnDef::new("priority").integer().not_null().default(0))
        .col(
            ColumnDef::new("weight")
                .decimal_len(5, 2)
                .not_null()
                .default(Expr::cust("1.0")),
        )
        .col(ColumnDef::new("depends_on").string())
        .col(ColumnDef::new("min_dependency_score").integer())
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_evaluator_configs_prompt_id",
            (table, "prompt_id"),
            PROMPTS,
        ))
        .to_owned()
}

/// The baseline indexes of `prompt_tracker_evaluator_configs`.
pub async fn evaluator_configs_indexes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    index(
        manager,
        "index_prompt_tracker_evaluator_configs_on_prompt_id_and_key",
        EVALUATOR_CONFIGS,
        &["prompt_id", "evaluator_key"],
        true,
    )
    .await
}

/// `prompt_tracker_prompt_tests` as it stood before phase 1, with the JSON
/// `evaluator_configs` column (entries `{evaluator_key, threshold?, config?}`).
pub fn prompt_tests_table() -> TableCreateStatement {
    Table::create()
        .table(PROMPT_TESTS)
        .if_not_exists()
        .col(id())
        .col(ColumnDef::new("prompt_version_id").big_integer().not_null())
        .col(ColumnDef::new("name").string().not_null())
        .col(ColumnDef::new("description").text())
        .col(json("template_variables", "{}"))
        .col(ColumnDef::new("expected_output").text())
        .col(json("expected_patterns", "[]"))
        .col(json("model_config", "{}"))
        .col(json("evaluator_configs", "[]"))
        .col(ColumnDef::new("enabled").boolean().not_null().default(true))
        .col(json("tags", "[]"))
        .col(json("metadata", "{}"))
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_prompt_tests_prompt_version_id",
            (PROMPT_TESTS, "prompt_version_id"),
            PROMPT_VERSIONS,
        ))
        .to_owned()
}

/// `prompt_tracker_llm_responses` as it stood before phase 1.
pub fn llm_responses_table() -> TableCreateStatement {
    Table::create()
        .table(LLM_RESPONSES)
        .if_not_exists()
        .col(id())
        .col(ColumnDef::new("prompt_version_id").big_integer().not_null())
        .col(ColumnDef::new("rendered_prompt").text().not_null())
        .col(ColumnDef::new("rendered_system_prompt").text())
        .col(json("variables_used", "{}"))
        .col(ColumnDef::new("response_text").text())
        .col(json("response_metadata", "{}"))
        .col(string_enum(
            LLM_RESPONSES,
            "status",
            RESPONSE_STATUSES,
            "pending",
        ))
        .col(ColumnDef::new("error_type").string())
        .col(ColumnDef::new("error_message").text())
        .col(ColumnDef::new("response_time_ms").integer())
        .col(ColumnDef::new("tokens_prompt").integer())
        .col(ColumnDef::new("tokens_completion").integer())
        .col(ColumnDef::new("tokens_total").integer())
        .col(ColumnDef::new("cost_usd").decimal_len(10, 6))
        .col(ColumnDef::new("provider").string().not_null())
        .col(ColumnDef::new("model").string().not_null())
        .col(ColumnDef::new("user_id").string())
        .col(ColumnDef::new("session_id").string())
        .col(ColumnDef::new("environment").string())
        .col(json("context", "{}"))
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_llm_responses_prompt_version_id",
            (LLM_RESPONSES, "prompt_version_id"),
            PROMPT_VERSIONS,
        ))
        .to_owned()
}

/// `prompt_tracker_evaluations` as it stood before phase 1.
pub fn evaluations_table() -> TableCreateStatement {
    Table::create()
        .table(EVALUATIONS)
        .if_not_exists()
        .col(id())
        .col(ColumnDef::new("llm_response_id").big_integer().not_null())
        .col(ColumnDef::new("score").decimal_len(10, 2).not_null())
        .col(
            ColumnDef::new("score_min")
                .decimal_len(10, 2)
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new("score_max")
                .decimal_len(10, 2)
                .not_null()
                .default(100),
        )
        .col(ColumnDef::new("evaluator_type").string().not_null())
        .col(ColumnDef::new("evaluator_id").string())
        .col(ColumnDef::new("feedback").text())
        .col(json("metadata", "{}"))
        .col(ColumnDef::new("passed").boolean())
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_evaluations_llm_response_id",
            (EVALUATIONS, "llm_response_id"),
            LLM_RESPONSES,
        ))
        .to_owned()
}

/// `prompt_tracker_prompt_test_runs` as it stood before phase 1.
pub fn prompt_test_runs_table() -> TableCreateStatement {
    Table::create()
        .table(PROMPT_TEST_RUNS)
        .if_not_exists()
        .col(id())
        .col(ColumnDef::new("prompt_test_id").big_integer().not_null())
        .col(ColumnDef::new("prompt_version_id").big_integer().not_null())
        .col(ColumnDef::new("llm_response_id").big_integer())
        .col(string_enum(
            PROMPT_TEST_RUNS,
            "status",
            TEST_RUN_STATUSES,
            "pending",
        ))
        .col(ColumnDef::new("passed").boolean())
        .col(ColumnDef::new("error_message").text())
        .col(
            ColumnDef::new("passed_evaluators")
                .integer()
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new("failed_evaluators")
                .integer()
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new("total_evaluators")
                .integer()
                .not_null()
                .default(0),
        )
        .col(json("evaluator_results", "[]"))
        .col(ColumnDef::new("execution_time_ms").integer())
        .col(ColumnDef::new("cost_usd").decimal_len(10, 6))
        .col(json("metadata", "{}"))
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_prompt_test_runs_prompt_test_id",
            (PROMPT_TEST_RUNS, "prompt_test_id"),
            PROMPT_TESTS,
        ))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_prompt_test_runs_prompt_version_id",
            (PROMPT_TEST_RUNS, "prompt_version_id"),
            PROMPT_VERSIONS,
        ))
        .foreign_key(&mut fk(
            "fk_prompt_tracker_prompt_test_runs_llm_response_id",
            (PROMPT_TEST_RUNS, "llm_response_id"),
            LLM_RESPONSES,
        ))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(prompts_table()).await?;
        index(
            manager,
            "index_prompt_tracker_prompts_on_name",
            PROMPTS,
            &["name"],
            true,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_prompts_on_slug",
            PROMPTS,
            &["slug"],
            true,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_prompts_on_archived_at",
            PROMPTS,
            &["archived_at"],
            false,
        )
        .await?;

        manager.create_table(prompt_versions_table()).await?;
        index(
            manager,
            "index_prompt_tracker_prompt_versions_on_prompt_id_and_version_number",
            PROMPT_VERSIONS,
            &["prompt_id", "version_number"],
            true,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_prompt_versions_on_prompt_id_and_status",
            PROMPT_VERSIONS,
            &["prompt_id", "status"],
            false,
        )
        .await?;

        manager
            .create_table(evaluator_configs_table(EVALUATOR_CONFIGS))
            .await?;
        evaluator_configs_indexes(manager).await?;

        manager.create_table(prompt_tests_table()).await?;
        index(
            manager,
            "index_prompt_tracker_prompt_tests_on_prompt_version_id_and_name",
            PROMPT_TESTS,
            &["prompt_version_id", "name"],
            true,
        )
        .await?;

        manager.create_table(llm_responses_table()).await?;
        index(
            manager,
            "index_prompt_tracker_llm_responses_on_prompt_version_id",
            LLM_RESPONSES,
            &["prompt_version_id"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_llm_responses_on_status",
            LLM_RESPONSES,
            &["status"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_llm_responses_on_provider_and_model",
            LLM_RESPONSES,
            &["provider", "model"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_llm_responses_on_created_at",
            LLM_RESPONSES,
            &["created_at"],
            false,
        )
        .await?;

        manager.create_table(evaluations_table()).await?;
        index(
            manager,
            "index_prompt_tracker_evaluations_on_llm_response_id",
            EVALUATIONS,
            &["llm_response_id"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_evaluations_on_evaluator_type",
            EVALUATIONS,
            &["evaluator_type"],
            false,
        )
        .await?;

        manager.create_table(prompt_test_runs_table()).await?;
        index(
            manager,
            "index_prompt_tracker_prompt_test_runs_on_prompt_test_id",
            PROMPT_TEST_RUNS,
            &["prompt_test_id"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_prompt_test_runs_on_prompt_version_id",
            PROMPT_TEST_RUNS,
            &["prompt_version_id"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_prompt_test_runs_on_llm_response_id",
            PROMPT_TEST_RUNS,
            &["llm_response_id"],
            false,
        )
        .await?;
        index(
            manager,
            "index_prompt_tracker_prompt_test_runs_on_status",
            PROMPT_TEST_RUNS,
            &["status"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The migrations' own archive goes with the schema it served.
        for table in [
            crate::archive::TABLE,
            PROMPT_TEST_RUNS,
            EVALUATIONS,
            LLM_RESPONSES,
            PROMPT_TESTS,
            EVALUATOR_CONFIGS,
            PROMPT_VERSIONS,
            PROMPTS,
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
