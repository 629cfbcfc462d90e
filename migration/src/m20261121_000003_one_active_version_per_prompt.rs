//! At most one `active` version per prompt, enforced by the database: a partial unique index
//! on `prompt_id` where `status = 'active'` (both backends support partial indexes), so that
//! concurrent activations can never leave two active versions.
//!
//! The PromptTracker Rails engine never enforced this in the database, so a legacy database
//! can hold prompts with several active versions. Refusing them (as this migration first did)
//! left an operator's `migrate up` stopped half-way with nothing to do but edit the data by
//! hand, so `up` resolves them itself, set-based on both backends (one `INSERT ... SELECT`
//! into the archive, one `UPDATE`):
//!
//! - in each prompt with several active versions, the active version with the highest
//!   `version_number` stays active (ties, which the unique (`prompt_id`, `version_number`)
//!   index forbids, go to the highest id) and the others become `deprecated`. This is the
//!   version to which
//!   [`m20250102_000001`](crate::m20250102_000001_make_evaluator_config_polymorphic) moved the
//!   prompt's evaluator configs: both migrations take it from the same
//!   [`target_version`](crate::m20250102_000001_make_evaluator_config_polymorphic::target_version),
//!   so the configs stay on the version that remains active;
//! - the deprecated versions' original status is parked in the [`archive`](crate::archive)
//!   (original `active`, derived `deprecated`);
//! - one line of log ([`report`]) names the prompts changed (id and slug), with the version
//!   each keeps active and the versions it deprecated.
//!
//! `down` drops the index and puts each parked status back while the version still is
//! `deprecated` (a version whose status changed since keeps its new status), then clears its
//! archive entries, so `up` then `down` restores the data exactly (`tests/it/migrations.rs`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

use crate::archive;
use crate::m20250102_000001_make_evaluator_config_polymorphic::target_version;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20261121_000003_one_active_version_per_prompt";
const INDEX: &str = "index_prompt_tracker_prompt_versions_one_active_per_prompt";
/// How many prompts the log line names; it counts the others.
const NAMED: usize = 20;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

/// `WHERE` of the versions `v` that `up` deprecates: active, in a prompt with several active
/// versions, and not the one migration 2 chose for the prompt's configs.
fn surplus_active() -> String {
    format!(
        "v.status = 'active' AND v.prompt_id IN \
         (SELECT prompt_id FROM {PROMPT_VERSIONS} WHERE status = 'active' GROUP BY prompt_id HAVING COUNT(*) > 1) \
         AND v.id <> {}",
        target_version("v.prompt_id")
    )
}

/// The line of log naming the prompts `up` changed: for each of the first [`NAMED`], its id,
/// slug, the version it keeps active and the versions it deprecated. `rows`: (prompt id, slug,
/// version id, version_number (NULL only in a database that dropped NOT NULL), kept active),
/// ordered by prompt.
fn report_line(prompts: i64, rows: &[(i64, String, i64, Option<i64>, bool)]) -> String {
    let mut named: Vec<String> = Vec::new();
    for (i, (prompt, slug, ..)) in rows.iter().enumerate() {
        if i > 0 && rows[i - 1].0 == *prompt {
            continue;
        }
        let versions = |kept: bool| -> String {
            let ids: Vec<String> = rows
                .iter()
                .filter(|r| r.0 == *prompt && r.4 == kept)
                .map(|r| match r.3 {
                    Some(n) => format!("{} (v{n})", r.2),
                    None => format!("{} (no version_number)", r.2),
                })
                .collect();
            ids.join(", ")
        };
        named.push(format!(
            "prompt {prompt} `{slug}` keeps version {} active, deprecates {}",
            versions(true),
            versions(false)
        ));
    }
    let more = prompts - named.len() as i64;
    let more = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!(
        "{NAME}: {prompts} prompt(s) had several active versions; each keeps the one with the \
         highest version_number, the others are now deprecated (their status is parked for \
         `down`): {}{more}",
        named.join("; ")
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let surplus = surplus_active();
        let prompts: Vec<i64> = column(
            manager,
            &format!("SELECT COUNT(DISTINCT v.prompt_id) FROM {PROMPT_VERSIONS} v WHERE {surplus}"),
        )
        .await?;
        let prompts = prompts.first().copied().unwrap_or(0);
        if prompts > 0 {
            archive::ensure(manager).await?;
            let (original, derived) = match backend(manager) {
                DbBackend::Postgres => ("to_jsonb(v.status)", "to_jsonb('deprecated'::text)"),
                _ => ("v.status", "'deprecated'"),
            };
            exec(
                manager,
                &format!(
                    "INSERT INTO {} (migration, table_name, row_id, column_name, original, derived) \
                     SELECT '{NAME}', '{PROMPT_VERSIONS}', v.id, 'status', {original}, {derived} \
                     FROM {PROMPT_VERSIONS} v WHERE {surplus}",
                    archive::TABLE
                ),
            )
            .await?;
            let parked = format!(
                "SELECT a.row_id FROM {} a WHERE {}",
                archive::TABLE,
                archive::key(NAME, PROMPT_VERSIONS, "status")
            );
            exec(
                manager,
                &format!(
                    "UPDATE {PROMPT_VERSIONS} SET status = 'deprecated' WHERE id IN ({parked})"
                ),
            )
            .await?;

            // The first prompts changed, each with its kept and deprecated versions.
            let rows = manager
                .get_connection()
                .query_all_raw(Statement::from_string(
                    backend(manager),
                    format!(
                        "SELECT p.id, p.slug, v.id, CAST(v.version_number AS BIGINT), \
                         CASE WHEN v.status = 'active' THEN 1 ELSE 0 END FROM {PROMPT_VERSIONS} v \
                         JOIN {PROMPTS} p ON p.id = v.prompt_id \
                         WHERE p.id IN (SELECT DISTINCT d.prompt_id FROM {PROMPT_VERSIONS} d WHERE d.id IN ({parked}) \
                                        ORDER BY d.prompt_id LIMIT {NAMED}) \
                           AND (v.status = 'active' OR v.id IN ({parked})) \
                         ORDER BY p.id, v.version_number DESC, v.id DESC"
                    ),
                ))
                .await?;
            let rows = rows
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get_by_index::<i64>(0)?,
                        r.try_get_by_index::<String>(1)?,
                        r.try_get_by_index::<i64>(2)?,
                        r.try_get_by_index::<Option<i64>>(3)?,
                        r.try_get_by_index::<i32>(4)? == 1,
                    ))
                })
                .collect::<Result<Vec<_>, DbErr>>()?;
            report(&report_line(prompts, &rows));
        }
        exec(
            manager,
            &format!("CREATE UNIQUE INDEX {INDEX} ON {PROMPT_VERSIONS} (prompt_id) WHERE status = 'active'"),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_index(manager, INDEX, PROMPT_VERSIONS).await?;
        if archive::exists(manager).await? {
            let (original, derived) = match backend(manager) {
                DbBackend::Postgres => ("a.original #>> '{}'", "a.derived #>> '{}'"),
                _ => ("a.original", "a.derived"),
            };
            exec(
                manager,
                &format!(
                    "UPDATE {PROMPT_VERSIONS} SET status = {original} FROM {} a \
                     WHERE {} AND a.row_id = {PROMPT_VERSIONS}.id AND {derived} = {PROMPT_VERSIONS}.status",
                    archive::TABLE,
                    archive::key(NAME, PROMPT_VERSIONS, "status")
                ),
            )
            .await?;
            archive::clear(manager, NAME, PROMPT_VERSIONS, "status").await?;
        }
        Ok(())
    }
}
