//! Prompt versions get a `revision` counter that the database itself advances whenever
//! anything a tracked call reads from the version changes.
//!
//! A tracked call reads its version, the version's prompt (slug, id) and the version's enabled
//! evaluator configs. The service caches those per version and per slug and checks the cached
//! `revision` inside the statement that inserts the response (`INSERT ... SELECT ... WHERE
//! EXISTS (version with that revision)`): a stale cache inserts nothing, and the service reads
//! again. Triggers keep the counter honest whoever writes, the service, `import-evals`, or an
//! operator's SQL:
//! - any `UPDATE` of a version advances its revision (unless the statement sets it itself);
//! - any `INSERT`, `UPDATE` or `DELETE` of an evaluator config owned by a version
//!   (`configurable_type = 'PromptTracker::PromptVersion'`) advances that version's revision;
//! - any `UPDATE` of a prompt (slug, archive) advances the revision of all its versions.
//!
//! `up` starts existing versions at the migration's time in milliseconds since the Unix epoch
//! (new versions start at 0), so a version that goes through `down` and `up` again never gets
//! back a revision a cache saw before, whatever changed in between. `down` drops the triggers
//! and the column: the counter is derived state (only equality matters), so nothing is lost.

use sea_orm_migration::prelude::*;

use sea_orm_migration::sea_orm::DbBackend;

use crate::support::*;

pub struct Migration;

/// The version trigger (and its PostgreSQL function).
const VERSION_TRIGGER: &str = "prompt_tracker_prompt_versions_revision";
/// The config triggers' prefix (PostgreSQL: one trigger; SQLite: one per event).
const CONFIG_TRIGGER: &str = "prompt_tracker_evaluator_configs_revision";
/// The prompt trigger (and its PostgreSQL function).
const PROMPT_TRIGGER: &str = "prompt_tracker_prompts_revision";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000010_add_revision_to_prompt_versions"
    }
}

/// SQLite's config triggers (one per event and row image): name suffix, event, row image.
const SQLITE_CONFIG_TRIGGERS: [(&str, &str, &str); 4] = [
    ("insert", "INSERT", "NEW"),
    ("update", "UPDATE", "NEW"),
    ("update_old", "UPDATE", "OLD"),
    ("delete", "DELETE", "OLD"),
];

/// `UPDATE` that advances the revision of the versions matching `condition`.
fn bump(condition: &str) -> String {
    format!("UPDATE {PROMPT_VERSIONS} SET revision = revision + 1 WHERE {condition}")
}

/// PostgreSQL: function `name` with the plpgsql `body` and the row trigger `name` running it
/// `timing` (such as `AFTER UPDATE`) on `table`.
async fn pg_trigger(
    manager: &SchemaManager<'_>,
    name: &str,
    timing: &str,
    table: &str,
    body: &str,
) -> Result<(), DbErr> {
    exec(
        manager,
        &format!(
            "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$"
        ),
    )
    .await?;
    exec(
        manager,
        &format!(
            "CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
        ),
    )
    .await
}

/// SQLite: row trigger `name` running `statement` `timing` on `table` when `when` holds.
async fn sqlite_trigger(
    manager: &SchemaManager<'_>,
    name: &str,
    timing: &str,
    table: &str,
    when: &str,
    statement: &str,
) -> Result<(), DbErr> {
    exec(
        manager,
        &format!(
            "CREATE TRIGGER {name} {timing} ON {table} FOR EACH ROW WHEN {when} BEGIN {statement}; END"
        ),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PROMPT_VERSIONS)
                    .add_column(
                        ColumnDef::new("revision")
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis().max(1));
        exec(
            manager,
            &format!("UPDATE {PROMPT_VERSIONS} SET revision = {start}"),
        )
        .await?;
        let owned = format!("configurable_type = '{TYPE_PROMPT_VERSION}'");
        let of_prompt = bump("prompt_id = NEW.id");
        match backend(manager) {
            DbBackend::Postgres => {
                pg_trigger(
                    manager,
                    VERSION_TRIGGER,
                    "BEFORE UPDATE",
                    PROMPT_VERSIONS,
                    "IF NEW.revision = OLD.revision THEN NEW.revision := OLD.revision + 1; END IF; \
                     RETURN NEW;",
                )
                .await?;
                pg_trigger(
                    manager,
                    CONFIG_TRIGGER,
                    "AFTER INSERT OR UPDATE OR DELETE",
                    EVALUATOR_CONFIGS,
                    &format!(
                        "IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.{owned} THEN {old}; END IF; \
                         IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.{owned} THEN {new}; END IF; \
                         RETURN NULL;",
                        old = bump("id = OLD.configurable_id"),
                        new = bump("id = NEW.configurable_id"),
                    ),
                )
                .await?;
                pg_trigger(
                    manager,
                    PROMPT_TRIGGER,
                    "AFTER UPDATE",
                    PROMPTS,
                    &format!("{of_prompt}; RETURN NULL;"),
                )
                .await
            }
            _ => {
                // SQLite: AFTER triggers, one per event. Its own UPDATE changes `revision`, so
                // the version trigger's WHEN stops it from firing itself again.
                sqlite_trigger(
                    manager,
                    VERSION_TRIGGER,
                    "AFTER UPDATE",
                    PROMPT_VERSIONS,
                    "NEW.revision = OLD.revision",
                    &bump("id = NEW.id"),
                )
                .await?;
                for (suffix, event, row) in SQLITE_CONFIG_TRIGGERS {
                    sqlite_trigger(
                        manager,
                        &format!("{CONFIG_TRIGGER}_{suffix}"),
                        &format!("AFTER {event}"),
                        EVALUATOR_CONFIGS,
                        &format!("{row}.{owned}"),
                        &bump(&format!("id = {row}.configurable_id")),
                    )
                    .await?;
                }
                sqlite_trigger(
                    manager,
                    PROMPT_TRIGGER,
                    "AFTER UPDATE",
                    PROMPTS,
                    "1",
                    &of_prompt,
                )
                .await
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match backend(manager) {
            DbBackend::Postgres => {
                for (trigger, table) in [
                    (PROMPT_TRIGGER, PROMPTS),
                    (CONFIG_TRIGGER, EVALUATOR_CONFIGS),
                    (VERSION_TRIGGER, PROMPT_VERSIONS),
                ] {
                    exec(
                        manager,
                        &format!("DROP TRIGGER IF EXISTS {trigger} ON {table}"),
                    )
                    .await?;
                    exec(manager, &format!("DROP FUNCTION IF EXISTS {trigger}()")).await?;
                }
            }
            _ => {
                let configs = SQLITE_CONFIG_TRIGGERS
                    .iter()
                    .map(|(suffix, _, _)| format!("{CONFIG_TRIGGER}_{suffix}"));
                let all = [PROMPT_TRIGGER.to_owned()]
                    .into_iter()
                    .chain(configs)
                    .chain([VERSION_TRIGGER.to_owned()]);
                for trigger in all {
                    exec(manager, &format!("DROP TRIGGER IF EXISTS {trigger}")).await?;
                }
            }
        }
        manager
            .alter_table(
                Table::alter()
                    .table(PROMPT_VERSIONS)
                    .drop_column("revision")
                    .to_owned(),
            )
            .await
    }
}
