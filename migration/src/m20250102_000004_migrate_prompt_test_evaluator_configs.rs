//! Seed 000, Migration 4: prompt tests' JSON `evaluator_configs` become rows.
//!
//! Each entry `{evaluator_key, threshold?, config?}` of a test's JSON array becomes an
//! evaluator config owned by the test (`configurable_type = 'PromptTracker::PromptTest'`), in
//! array order, with the seed's defaults: threshold 80, config `{}`, enabled, run_mode `sync`,
//! priority 0, weight 1.0. Entries written by this migration's `down` also carry `enabled`,
//! `run_mode`, `priority`, `weight`, `depends_on` and `min_dependency_score`, which are read
//! back. The seed's row-by-row Ruby loop is one set-based `INSERT ... SELECT` over
//! `jsonb_array_elements` (PostgreSQL) or `json_each` (SQLite). The JSON column goes.
//!
//! `up` refuses, naming the tests, when an entry cannot become a row: the column is not an
//! array, an entry is not an object, has no string `evaluator_key`, repeats a key of the same
//! test, has a `threshold` that is not a whole number 0-100 (a number or a string of digits),
//! or a `config` that is not an object.
//!
//! `down` (which the seed got wrong: it left the rows in place and wrote `threshold: null`)
//! writes each test's rows back into the JSON column and deletes them. The original JSON of
//! every converted test is parked in the [`archive`](crate::archive), and comes back verbatim
//! when the test's configs are unchanged since `up`; otherwise the rows' current values win.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::archive;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20250102_000004_migrate_prompt_test_evaluator_configs";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

/// Tests (ids) whose JSON `evaluator_configs` cannot become rows.
fn invalid_tests(backend: DbBackend) -> String {
    match backend {
        DbBackend::Postgres => format!(
            "SELECT t.id FROM {PROMPT_TESTS} t \
             LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(t.evaluator_configs) = 'array' \
               THEN t.evaluator_configs ELSE '[]'::jsonb END) WITH ORDINALITY AS e(v, ord) ON TRUE \
             LEFT JOIN LATERAL (SELECT CASE jsonb_typeof(e.v->'threshold') \
                 WHEN 'number' THEN (e.v->>'threshold')::numeric \
                 WHEN 'string' THEN CASE WHEN e.v->>'threshold' ~ '^[0-9]{{1,3}}$' THEN (e.v->>'threshold')::numeric END \
               END AS n) th ON TRUE \
             WHERE jsonb_typeof(t.evaluator_configs) <> 'array' OR (e.v IS NOT NULL AND ( \
                jsonb_typeof(e.v) <> 'object' \
                OR COALESCE(jsonb_typeof(e.v->'evaluator_key'), '') <> 'string' OR e.v->>'evaluator_key' = '' \
                OR EXISTS (SELECT 1 FROM jsonb_array_elements(t.evaluator_configs) WITH ORDINALITY AS o(v, ord) \
                           WHERE o.ord < e.ord AND o.v->>'evaluator_key' = e.v->>'evaluator_key') \
                OR (COALESCE(jsonb_typeof(e.v->'threshold'), 'null') <> 'null' \
                    AND COALESCE(th.n NOT BETWEEN 0 AND 100 OR th.n <> trunc(th.n), TRUE)) \
                OR COALESCE(jsonb_typeof(e.v->'config'), 'null') NOT IN ('object', 'null') \
                OR COALESCE(jsonb_typeof(e.v->'enabled'), 'boolean') <> 'boolean' \
                OR COALESCE(e.v->>'run_mode', 'sync') NOT IN ('sync', 'async') \
                OR COALESCE(jsonb_typeof(e.v->'priority'), 'number') <> 'number' \
                OR COALESCE(jsonb_typeof(e.v->'weight'), 'number') <> 'number' \
                OR COALESCE(jsonb_typeof(e.v->'min_dependency_score'), 'null') NOT IN ('number', 'null') \
                OR COALESCE(jsonb_typeof(e.v->'depends_on'), 'null') NOT IN ('string', 'null'))) \
             GROUP BY t.id ORDER BY t.id"
        ),
        _ => format!(
            "SELECT t.id FROM {PROMPT_TESTS} t \
             LEFT JOIN json_each(CASE WHEN json_valid(t.evaluator_configs) AND json_type(t.evaluator_configs) = 'array' \
               THEN t.evaluator_configs ELSE '[]' END) e \
             WHERE NOT json_valid(t.evaluator_configs) OR json_type(t.evaluator_configs) <> 'array' OR (e.key IS NOT NULL AND ( \
                e.type <> 'object' \
                OR CASE WHEN e.type <> 'object' THEN 0 ELSE ( \
                COALESCE(json_type(e.value, '$.evaluator_key'), '') <> 'text' OR json_extract(e.value, '$.evaluator_key') = '' \
                OR EXISTS (SELECT 1 FROM json_each(t.evaluator_configs) o WHERE o.key < e.key AND o.type = 'object' \
                           AND CASE WHEN o.type = 'object' THEN json_extract(o.value, '$.evaluator_key') END = json_extract(e.value, '$.evaluator_key')) \
                OR (COALESCE(json_type(e.value, '$.threshold'), 'null') <> 'null' AND COALESCE(( \
                     CASE json_type(e.value, '$.threshold') \
                       WHEN 'integer' THEN json_extract(e.value, '$.threshold') \
                       WHEN 'real' THEN CASE WHEN json_extract(e.value, '$.threshold') = CAST(json_extract(e.value, '$.threshold') AS INTEGER) \
                                             THEN json_extract(e.value, '$.threshold') END \
                       WHEN 'text' THEN CASE WHEN length(json_extract(e.value, '$.threshold')) BETWEEN 1 AND 3 \
                                             AND json_extract(e.value, '$.threshold') NOT GLOB '*[^0-9]*' \
                                             THEN CAST(json_extract(e.value, '$.threshold') AS INTEGER) END \
                     END) NOT BETWEEN 0 AND 100, TRUE)) \
                OR COALESCE(json_type(e.value, '$.config'), 'null') NOT IN ('object', 'null') \
                OR COALESCE(json_type(e.value, '$.enabled'), 'true') NOT IN ('true', 'false') \
                OR COALESCE(json_extract(e.value, '$.run_mode'), 'sync') NOT IN ('sync', 'async') \
                OR COALESCE(json_type(e.value, '$.priority'), 'integer') <> 'integer' \
                OR COALESCE(json_type(e.value, '$.weight'), 'real') NOT IN ('integer', 'real') \
                OR COALESCE(json_type(e.value, '$.min_dependency_score'), 'null') NOT IN ('integer', 'null') \
                OR COALESCE(json_type(e.value, '$.depends_on'), 'null') NOT IN ('text', 'null')) END)) \
             GROUP BY t.id ORDER BY t.id"
        ),
    }
}

/// One row per JSON entry, in test then array order.
fn insert_rows(backend: DbBackend) -> String {
    let columns = "configurable_type, configurable_id, evaluator_key, threshold, config, enabled, run_mode, \
                   priority, weight, depends_on, min_dependency_score, created_at, updated_at";
    match backend {
        DbBackend::Postgres => format!(
            "INSERT INTO {EVALUATOR_CONFIGS} ({columns}) \
             SELECT '{TYPE_PROMPT_TEST}', t.id, e.v->>'evaluator_key', \
               COALESCE(CASE WHEN jsonb_typeof(e.v->'threshold') IN ('number', 'string') THEN (e.v->>'threshold')::numeric::integer END, 80), \
               CASE WHEN jsonb_typeof(e.v->'config') = 'object' THEN e.v->'config' ELSE '{{}}'::jsonb END, \
               COALESCE((e.v->>'enabled')::boolean, TRUE), COALESCE(e.v->>'run_mode', 'sync'), \
               COALESCE((e.v->>'priority')::numeric::integer, 0), COALESCE((e.v->>'weight')::numeric, 1.0), \
               e.v->>'depends_on', (e.v->>'min_dependency_score')::numeric::integer, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP \
             FROM {PROMPT_TESTS} t CROSS JOIN LATERAL jsonb_array_elements(t.evaluator_configs) WITH ORDINALITY AS e(v, ord) \
             ORDER BY t.id, e.ord"
        ),
        _ => format!(
            "INSERT INTO {EVALUATOR_CONFIGS} ({columns}) \
             SELECT '{TYPE_PROMPT_TEST}', t.id, json_extract(e.value, '$.evaluator_key'), \
               COALESCE(CAST(json_extract(e.value, '$.threshold') AS INTEGER), 80), \
               CASE WHEN json_type(e.value, '$.config') = 'object' THEN json_extract(e.value, '$.config') ELSE '{{}}' END, \
               COALESCE(json_extract(e.value, '$.enabled'), 1), COALESCE(json_extract(e.value, '$.run_mode'), 'sync'), \
               COALESCE(json_extract(e.value, '$.priority'), 0), COALESCE(json_extract(e.value, '$.weight'), 1.0), \
               json_extract(e.value, '$.depends_on'), json_extract(e.value, '$.min_dependency_score'), CURRENT_TIMESTAMP, CURRENT_TIMESTAMP \
             FROM {PROMPT_TESTS} t, json_each(t.evaluator_configs) e \
             ORDER BY t.id, e.key"
        ),
    }
}

/// One pass over the test-owned rows: `(id, rebuilt)` per test, `rebuilt` being the JSON array
/// its rows are written back as, ordered by row id.
fn rebuilt_per_test(backend: DbBackend) -> String {
    let agg = match backend {
        DbBackend::Postgres => {
            "jsonb_agg(jsonb_build_object('evaluator_key', ec.evaluator_key, 'threshold', ec.threshold, \
               'config', ec.config, 'enabled', ec.enabled, 'run_mode', ec.run_mode, 'priority', ec.priority, \
               'weight', ec.weight, 'depends_on', ec.depends_on, 'min_dependency_score', ec.min_dependency_score) \
               ORDER BY ec.id)"
        }
        _ => {
            "json_group_array(json_object('evaluator_key', ec.evaluator_key, 'threshold', ec.threshold, \
               'config', json(ec.config), 'enabled', json(CASE WHEN ec.enabled THEN 'true' ELSE 'false' END), \
               'run_mode', ec.run_mode, 'priority', ec.priority, 'weight', ec.weight, 'depends_on', ec.depends_on, \
               'min_dependency_score', ec.min_dependency_score) ORDER BY ec.id)"
        }
    };
    format!(
        "(SELECT ec.configurable_id AS id, {agg} AS rebuilt FROM {EVALUATOR_CONFIGS} ec \
          WHERE ec.configurable_type = '{TYPE_PROMPT_TEST}' GROUP BY ec.configurable_id)"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = backend(manager);
        refuse_rows(
            manager,
            &invalid_tests(db),
            "These prompt tests have evaluator_configs entries that cannot become evaluator config rows \
             (not an array; an entry that is not an object, lacks a string evaluator_key or repeats one; \
             a threshold that is not a whole number 0-100; a config that is not an object; or a \
             malformed enabled/run_mode/priority/weight/depends_on/min_dependency_score). Fix them first",
        )
        .await?;

        exec(manager, &insert_rows(db)).await?;
        // Park each converted test's original JSON with what `down` would rebuild right now.
        archive::ensure(manager).await?;
        exec(
            manager,
            &format!(
                "INSERT INTO {} (migration, table_name, row_id, column_name, original, derived) \
                 SELECT '{NAME}', '{PROMPT_TESTS}', t.id, 'evaluator_configs', t.evaluator_configs, d.rebuilt \
                 FROM {PROMPT_TESTS} t JOIN {} d ON d.id = t.id",
                archive::TABLE,
                rebuilt_per_test(db)
            ),
        )
        .await?;
        archive::drop_if_empty(manager).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PROMPT_TESTS)
                    .drop_column("evaluator_configs")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = backend(manager);
        manager
            .alter_table(
                Table::alter()
                    .table(PROMPT_TESTS)
                    .add_column(json("evaluator_configs", "[]"))
                    .to_owned(),
            )
            .await?;
        exec(
            manager,
            &format!(
                "UPDATE {PROMPT_TESTS} SET evaluator_configs = d.rebuilt FROM {} d WHERE d.id = {PROMPT_TESTS}.id",
                rebuilt_per_test(db)
            ),
        )
        .await?;
        if archive::exists(manager).await? {
            exec(
                manager,
                &format!(
                    "UPDATE {PROMPT_TESTS} SET evaluator_configs = a.original FROM {} a \
                     WHERE {} AND a.row_id = {PROMPT_TESTS}.id AND a.derived = {PROMPT_TESTS}.evaluator_configs",
                    archive::TABLE,
                    archive::key(NAME, PROMPT_TESTS, "evaluator_configs")
                ),
            )
            .await?;
            archive::clear(manager, NAME, PROMPT_TESTS, "evaluator_configs").await?;
        }
        exec(
            manager,
            &format!(
                "DELETE FROM {EVALUATOR_CONFIGS} WHERE configurable_type = '{TYPE_PROMPT_TEST}'"
            ),
        )
        .await
    }
}
