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

/// `UPDATE` that advances the revision of version `{id}` (an SQL expression).
fn bump(id: &str) -> String {
    format!("UPDATE {PROMPT_VERSIONS} SET revision = revision + 1 WHERE id = {id}")
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
        match backend(manager) {
            DbBackend::Postgres => {
                exec(
                    manager,
                    &format!(
                        "CREATE FUNCTION {VERSION_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           IF NEW.revision = OLD.revision THEN
                             NEW.revision := OLD.revision + 1;
                           END IF;
                           RETURN NEW;
                         END $$"
                    ),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "CREATE TRIGGER {VERSION_TRIGGER} BEFORE UPDATE ON {PROMPT_VERSIONS} \
                         FOR EACH ROW EXECUTE FUNCTION {VERSION_TRIGGER}()"
                    ),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "CREATE FUNCTION {CONFIG_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.{owned} THEN
                             {old};
                           END IF;
                           IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.{owned} THEN
                             {new};
                           END IF;
                           RETURN NULL;
                         END $$",
                        old = bump("OLD.configurable_id"),
                        new = bump("NEW.configurable_id"),
                    ),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "CREATE TRIGGER {CONFIG_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {EVALUATOR_CONFIGS} \
                         FOR EACH ROW EXECUTE FUNCTION {CONFIG_TRIGGER}()"
                    ),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "CREATE FUNCTION {PROMPT_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN
                           UPDATE {PROMPT_VERSIONS} SET revision = revision + 1 WHERE prompt_id = NEW.id;
                           RETURN NULL;
                         END $$"
                    ),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "CREATE TRIGGER {PROMPT_TRIGGER} AFTER UPDATE ON {PROMPTS} \
                         FOR EACH ROW EXECUTE FUNCTION {PROMPT_TRIGGER}()"
                    ),
                )
                .await
            }
            _ => {
                // SQLite: AFTER triggers, one per event. Its own UPDATE changes `revision`, so
                // the version trigger's WHEN stops it from firing itself again.
                exec(
                    manager,
                    &format!(
                        "CREATE TRIGGER {VERSION_TRIGGER} AFTER UPDATE ON {PROMPT_VERSIONS} \
                         FOR EACH ROW WHEN NEW.revision = OLD.revision \
                         BEGIN {}; END",
                        bump("NEW.id")
                    ),
                )
                .await?;
                for (event, row) in [("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")] {
                    exec(
                        manager,
                        &format!(
                            "CREATE TRIGGER {CONFIG_TRIGGER}_{event} AFTER {event} ON {EVALUATOR_CONFIGS} \
                             FOR EACH ROW WHEN {row}.{owned} \
                             BEGIN {}; END",
                            bump(&format!("{row}.configurable_id"))
                        ),
                    )
                    .await?;
                }
                exec(
                    manager,
                    &format!(
                        "CREATE TRIGGER {CONFIG_TRIGGER}_update_old AFTER UPDATE ON {EVALUATOR_CONFIGS} \
                         FOR EACH ROW WHEN OLD.{owned} \
                         BEGIN {}; END",
                        bump("OLD.configurable_id")
                    ),
                )
                .await?;
                exec(
                    manager,
                    &format!(
                        "CREATE TRIGGER {PROMPT_TRIGGER} AFTER UPDATE ON {PROMPTS} \
                         FOR EACH ROW \
                         BEGIN UPDATE {PROMPT_VERSIONS} SET revision = revision + 1 WHERE prompt_id = NEW.id; END"
                    ),
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
                for trigger in [
                    PROMPT_TRIGGER.to_owned(),
                    format!("{CONFIG_TRIGGER}_insert"),
                    format!("{CONFIG_TRIGGER}_update"),
                    format!("{CONFIG_TRIGGER}_update_old"),
                    format!("{CONFIG_TRIGGER}_delete"),
                    VERSION_TRIGGER.to_owned(),
                ] {
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
