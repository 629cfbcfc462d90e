//! Seed 000, Migration 1: evaluator configs become polymorphic.
//!
//! A config belonged to a prompt (`prompt_id`); now it belongs to a *configurable*: a prompt
//! version (monitoring) or a prompt test (testing), named by `configurable_type` (the seed's
//! literal Rails class names) and `configurable_id`, and it gains `threshold` (0-100).
//!
//! `up` moves each config to its prompt's active version, else to the version with the highest
//! `version_number` (seed 000). The seed would orphan the configs of a prompt that has no
//! version at all; here they stay attached to the prompt (`PromptTracker::Prompt`), so nothing
//! is lost. Unique (`configurable_type`, `configurable_id`, `evaluator_key`); `prompt_id` goes.
//!
//! `down` maps every config back to its prompt and makes `prompt_id` not null again (the
//! seed's `down` left it nullable). It refuses, naming the rows, when that cannot be done
//! without loss: configs owned by a test, configs whose owner is gone, or two configs of one
//! prompt's versions with the same evaluator key. Thresholds, which the old schema has no
//! column for, are parked in the [`archive`](crate::archive) and restored by the next `up`.
//!
//! On PostgreSQL the table is altered in place; SQLite cannot drop a foreign-key column, so
//! there the table is rebuilt (create, copy, drop, rename), keeping ids and the id sequence.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::archive;
use crate::m20250101_000001_baseline_prompt_tracker_schema as baseline;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20250102_000001_make_evaluator_config_polymorphic";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

/// Allowed `configurable_type` values.
pub const CONFIGURABLE_TYPES: &[&str] = &[TYPE_PROMPT_VERSION, TYPE_PROMPT_TEST, TYPE_PROMPT];

/// The version of prompt `prompt_id` (an SQL expression, e.g. `ec.prompt_id`) that its
/// configs move to, as a scalar subquery over alias `pv`: the active one, else the highest
/// `version_number`; among several active ones (legacy data may have them) the highest
/// `version_number` too; ties, which the unique (`prompt_id`, `version_number`) index forbids,
/// broken by the highest id. `version_number` is NOT NULL (baseline, and the Rails schema);
/// were it NULL, `DESC` would sort it first on PostgreSQL and last on SQLite.
///
/// [`m20261121_000003`](crate::m20261121_000003_one_active_version_per_prompt) keeps active
/// the version this picks, so a prompt's configs stay on its one active version.
pub fn target_version(prompt_id: &str) -> String {
    format!(
        "(SELECT pv.id FROM prompt_tracker_prompt_versions pv \
         WHERE pv.prompt_id = {prompt_id} \
         ORDER BY CASE WHEN pv.status = 'active' THEN 0 ELSE 1 END, pv.version_number DESC, pv.id DESC LIMIT 1)"
    )
}

/// The prompt a polymorphic config `ec` belongs to, or NULL when its owner is gone or is a test.
const OWNER_PROMPT: &str = "CASE ec.configurable_type \
     WHEN 'PromptTracker::PromptVersion' THEN (SELECT pv.prompt_id FROM prompt_tracker_prompt_versions pv WHERE pv.id = ec.configurable_id) \
     WHEN 'PromptTracker::Prompt' THEN (SELECT p.id FROM prompt_tracker_prompts p WHERE p.id = ec.configurable_id) END";

fn type_check() -> String {
    in_list("configurable_type", CONFIGURABLE_TYPES)
}

const THRESHOLD_CHECK: &str = "threshold IS NULL OR (threshold >= 0 AND threshold <= 100)";

/// The polymorphic shape of the table (SQLite rebuild), under `table`.
fn polymorphic_table(table: &'static str) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(id())
        .col(
            ColumnDef::new("configurable_type")
                .string()
                .not_null()
                .check((
                    "chk_prompt_tracker_evaluator_configs_configurable_type",
                    Expr::cust(type_check()),
                )),
        )
        .col(ColumnDef::new("configurable_id").big_integer().not_null())
        .col(ColumnDef::new("evaluator_key").string().not_null())
        .col(ColumnDef::new("enabled").boolean().not_null().default(true))
        .col(json("config", "{}"))
        .col(string_enum(
            EVALUATOR_CONFIGS,
            "run_mode",
            baseline::RUN_MODES,
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
        .col(ColumnDef::new("threshold").integer().check((
            "chk_prompt_tracker_evaluator_configs_threshold",
            Expr::cust(THRESHOLD_CHECK),
        )))
        .col(timestamp("created_at"))
        .col(timestamp("updated_at"))
        .to_owned()
}

async fn polymorphic_indexes(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    index(
        manager,
        "index_evaluator_configs_on_configurable",
        EVALUATOR_CONFIGS,
        &["configurable_type", "configurable_id"],
        false,
    )
    .await?;
    index(
        manager,
        "index_evaluator_configs_unique_per_configurable",
        EVALUATOR_CONFIGS,
        &["configurable_type", "configurable_id", "evaluator_key"],
        true,
    )
    .await
}

const SHARED_COLUMNS: &str = "id, evaluator_key, enabled, config, run_mode, priority, weight, depends_on, min_dependency_score, created_at, updated_at";
const SHARED_COLUMNS_EC: &str = "ec.id, ec.evaluator_key, ec.enabled, ec.config, ec.run_mode, ec.priority, ec.weight, ec.depends_on, ec.min_dependency_score, ec.created_at, ec.updated_at";

/// SQLite: replaces `prompt_tracker_evaluator_configs` by `temp` (already filled), keeping
/// the AUTOINCREMENT sequence so ids of deleted rows are never reused.
async fn sqlite_swap(manager: &SchemaManager<'_>, temp: &str) -> Result<(), DbErr> {
    exec(
        manager,
        &format!(
            "UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{EVALUATOR_CONFIGS}'), 0)) WHERE name = '{temp}'"
        ),
    )
    .await?;
    exec(manager, &format!("DROP TABLE {EVALUATOR_CONFIGS}")).await?;
    exec(
        manager,
        &format!("ALTER TABLE {temp} RENAME TO {EVALUATOR_CONFIGS}"),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let owner_type = format!(
            "CASE WHEN EXISTS (SELECT 1 FROM prompt_tracker_prompt_versions pv WHERE pv.prompt_id = ec.prompt_id) \
             THEN '{TYPE_PROMPT_VERSION}' ELSE '{TYPE_PROMPT}' END"
        );
        let owner_id = format!("COALESCE({}, ec.prompt_id)", target_version("ec.prompt_id"));
        match backend(manager) {
            DbBackend::Sqlite => {
                const TEMP: &str = "prompt_tracker_evaluator_configs_polymorphic";
                manager.create_table(polymorphic_table(TEMP)).await?;
                exec(
                    manager,
                    &format!(
                        "INSERT INTO {TEMP} (configurable_type, configurable_id, threshold, {SHARED_COLUMNS}) \
                         SELECT {owner_type}, {owner_id}, NULL, {SHARED_COLUMNS_EC} FROM {EVALUATOR_CONFIGS} ec"
                    ),
                )
                .await?;
                sqlite_swap(manager, TEMP).await?;
            }
            _ => {
                exec(
                    manager,
                    &format!(
                        "ALTER TABLE {EVALUATOR_CONFIGS} ADD COLUMN configurable_type varchar, \
                         ADD COLUMN configurable_id bigint, ADD COLUMN threshold integer"
                    ),
                )
                .await?;
                exec(
                    manager,
                    &format!("UPDATE {EVALUATOR_CONFIGS} AS ec SET configurable_type = {owner_type}, configurable_id = {owner_id}"),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "ALTER TABLE {EVALUATOR_CONFIGS} \
                         ALTER COLUMN configurable_type SET NOT NULL, ALTER COLUMN configurable_id SET NOT NULL, \
                         ADD CONSTRAINT chk_prompt_tracker_evaluator_configs_configurable_type CHECK ({}), \
                         ADD CONSTRAINT chk_prompt_tracker_evaluator_configs_threshold CHECK ({THRESHOLD_CHECK}), \
                         DROP COLUMN prompt_id",
                        type_check()
                    ),
                )
                .await?;
            }
        }
        polymorphic_indexes(manager).await?;

        // Thresholds parked by an earlier `down` come back.
        if archive::exists(manager).await? {
            let value = match backend(manager) {
                DbBackend::Postgres => "(a.original #>> '{}')::integer",
                _ => "CAST(a.original AS INTEGER)",
            };
            exec(
                manager,
                &format!(
                    "UPDATE {EVALUATOR_CONFIGS} SET threshold = {value} FROM {} a WHERE {} AND a.row_id = {EVALUATOR_CONFIGS}.id",
                    archive::TABLE,
                    archive::key(NAME, EVALUATOR_CONFIGS, "threshold")
                ),
            )
            .await?;
            archive::clear(manager, NAME, EVALUATOR_CONFIGS, "threshold").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_rows(
            manager,
            &format!(
                "SELECT m.id FROM (SELECT ec.id, {OWNER_PROMPT} AS prompt_id, \
                   COUNT(*) OVER (PARTITION BY {OWNER_PROMPT}, ec.evaluator_key) AS same_key \
                   FROM {EVALUATOR_CONFIGS} ec) m \
                 WHERE m.prompt_id IS NULL OR m.same_key > 1 ORDER BY m.id"
            ),
            "Cannot give these evaluator configs a prompt_id again: they belong to a prompt test, or their \
             version or prompt no longer exists, or several versions of one prompt configure the same \
             evaluator key (the old schema allows one per prompt). Delete or merge them first",
        )
        .await?;

        // Thresholds have no column in the old schema: park them for the next `up`.
        let parked: Vec<i64> = column(
            manager,
            &format!("SELECT COUNT(*) FROM {EVALUATOR_CONFIGS} WHERE threshold IS NOT NULL"),
        )
        .await?;
        if parked.first().copied().unwrap_or(0) > 0 {
            archive::ensure(manager).await?;
            let value = match backend(manager) {
                DbBackend::Postgres => "to_jsonb(threshold)",
                _ => "threshold",
            };
            exec(
                manager,
                &format!(
                    "INSERT INTO {} (migration, table_name, row_id, column_name, original) \
                     SELECT '{NAME}', '{EVALUATOR_CONFIGS}', id, 'threshold', {value} FROM {EVALUATOR_CONFIGS} WHERE threshold IS NOT NULL",
                    archive::TABLE
                ),
            )
            .await?;
        }

        match backend(manager) {
            DbBackend::Sqlite => {
                const TEMP: &str = "prompt_tracker_evaluator_configs_by_prompt";
                manager
                    .create_table(baseline::evaluator_configs_table(TEMP))
                    .await?;
                exec(
                    manager,
                    &format!(
                        "INSERT INTO {TEMP} (prompt_id, {SHARED_COLUMNS}) SELECT {OWNER_PROMPT}, {SHARED_COLUMNS_EC} FROM {EVALUATOR_CONFIGS} ec"
                    ),
                )
                .await?;
                sqlite_swap(manager, TEMP).await?;
            }
            _ => {
                drop_index(
                    manager,
                    "index_evaluator_configs_unique_per_configurable",
                    EVALUATOR_CONFIGS,
                )
                .await?;
                drop_index(
                    manager,
                    "index_evaluator_configs_on_configurable",
                    EVALUATOR_CONFIGS,
                )
                .await?;
                exec(
                    manager,
                    &format!("ALTER TABLE {EVALUATOR_CONFIGS} ADD COLUMN prompt_id bigint"),
                )
                .await?;
                exec(
                    manager,
                    &format!("UPDATE {EVALUATOR_CONFIGS} AS ec SET prompt_id = {OWNER_PROMPT}"),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "ALTER TABLE {EVALUATOR_CONFIGS} ALTER COLUMN prompt_id SET NOT NULL, \
                         ADD CONSTRAINT fk_prompt_tracker_evaluator_configs_prompt_id FOREIGN KEY (prompt_id) REFERENCES {PROMPTS} (id), \
                         DROP COLUMN configurable_type, DROP COLUMN configurable_id, DROP COLUMN threshold"
                    ),
                )
                .await?;
            }
        }
        baseline::evaluator_configs_indexes(manager).await
    }
}
