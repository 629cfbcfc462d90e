//! The migration history on legacy data (seed 000's Validation Checklist, seed 002's Success
//! Criteria 1 and 5), step-by-step reversibility, and refusal of data that cannot be placed.

use std::collections::BTreeMap;

use migration::{Migrator, MigratorTrait};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::db_tests;
use crate::support::TestDb;

const VERSION: &str = "PromptTracker::PromptVersion";
const TEST: &str = "PromptTracker::PromptTest";
const PROMPT: &str = "PromptTracker::Prompt";

/// PromptTracker data as it stood before phase 1, covering the seeds' edge cases.
const LEGACY: &[&str] = &[
    // p1: an active version (v2) that is not the highest version_number (v3, a draft).
    // p2: only a draft and a deprecated version; the draft has the higher version_number but
    //     the lower id. p3: no version at all. p4: the remaining model_config forms.
    // p5: three active versions (the Rails engine never enforced one), the highest
    //     version_number (v3) having neither the highest id nor the highest version_number of
    //     the prompt (v4, a draft).
    "INSERT INTO prompt_tracker_prompts (id, name, slug, tags, created_at, updated_at) VALUES
       (1, 'Active prompt', 'active_prompt', '[\"support\"]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (2, 'Drafts only', 'drafts_only', '[]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (3, 'No versions', 'no_versions', '[]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (4, 'Provider forms', 'provider_forms', '[]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (5, 'Several active', 'several_active', '[]', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
    "INSERT INTO prompt_tracker_prompt_versions (id, prompt_id, user_prompt, version_number, status, model_config, created_at, updated_at) VALUES
       (1, 1, 'Hi {{name}}', 1, 'deprecated', '{\"provider\": \"openai_responses\", \"model\": \"gpt-4o\", \"temperature\": 0.7, \"tools\": [\"web_search\"]}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (2, 1, 'Hello {{name}}', 2, 'active', '{\"provider\": \"openai_assistants\", \"model\": \"gpt-4o\", \"assistant_id\": \"asst_1\"}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (3, 1, 'Hey {{name}}', 3, 'draft', '{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (4, 2, 'Draft text', 3, 'draft', '{\"provider\": \"anthropic\", \"model\": \"claude-3-5-sonnet\"}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (5, 2, 'Old text', 1, 'deprecated', '{}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (6, 4, 'New form', 1, 'active', '{\"provider\": \"openai\", \"api\": \"response_api\", \"model\": \"gpt-4o\"}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (7, 4, 'Gemini', 2, 'draft', '{\"provider\": \"google\", \"model\": \"gemini-1.5-pro\"}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (8, 4, 'Hybrid', 3, 'draft', '{\"provider\": \"openai_responses\", \"api\": \"response_api\", \"model\": \"gpt-4o\"}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (9, 4, 'Blank api', 4, 'draft', '{\"provider\": \"openai_assistants\", \"api\": \"\", \"model\": \"gpt-4o\"}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (10, 5, 'Third', 3, 'active', '{}', '2025-01-03 10:00:00', '2025-01-03 10:00:00'),
       (11, 5, 'First', 1, 'active', '{}', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (12, 5, 'Second', 2, 'active', '{}', '2025-01-02 10:00:00', '2025-01-02 10:00:00'),
       (13, 5, 'Fourth', 4, 'draft', '{}', '2025-01-04 10:00:00', '2025-01-04 10:00:00')",
    "INSERT INTO prompt_tracker_evaluator_configs (id, prompt_id, evaluator_key, enabled, config, run_mode, priority, weight, created_at, updated_at) VALUES
       (1, 1, 'keyword', TRUE, '{\"required_keywords\": [\"hello\"]}', 'sync', 1, 2.5, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (2, 1, 'length', FALSE, '{}', 'async', 0, 1.0, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (3, 2, 'format', TRUE, '{\"format\": \"json\"}', 'async', 0, 1.0, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (4, 3, 'exact_match', TRUE, '{}', 'async', 0, 0.0, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (5, 5, 'keyword', TRUE, '{}', 'sync', 0, 1.0, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (6, 5, 'length', TRUE, '{}', 'async', 0, 1.0, '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
    // Tests with and without thresholds and configs, an empty list, a string threshold.
    "INSERT INTO prompt_tracker_prompt_tests (id, prompt_version_id, name, template_variables, model_config, evaluator_configs, created_at, updated_at) VALUES
       (1, 2, 'greets', '{\"name\": \"Ada\"}', '{}', '[{\"evaluator_key\": \"keyword\", \"threshold\": 90, \"config\": {\"required_keywords\": [\"Ada\"]}}, {\"evaluator_key\": \"length\"}]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (2, 2, 'no evaluators', '{}', '{}', '[]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (3, 3, 'json output', '{}', '{\"provider\": \"openai_responses\", \"model\": \"gpt-4o\"}', '[{\"evaluator_key\": \"format\", \"threshold\": \"75\", \"config\": {\"format\": \"json\"}}]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (4, 5, 'exact', '{}', '{}', '[{\"evaluator_key\": \"exact_match\", \"config\": {}}]', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (5, 6, 'bounds', '{}', '{\"provider\": \"openai_assistants\"}', '[{\"evaluator_key\": \"keyword\", \"threshold\": 0}, {\"evaluator_key\": \"length\", \"threshold\": 100, \"config\": {\"max_length\": 10}}]', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
    // `test_run` flags of every JSON kind, and every provider form.
    "INSERT INTO prompt_tracker_llm_responses (id, prompt_version_id, rendered_prompt, response_metadata, status, provider, model, cost_usd, created_at, updated_at) VALUES
       (1, 2, 'Hello Ada', '{\"test_run\": true}', 'success', 'openai_responses', 'gpt-4o', 0.001234, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (2, 2, 'Hello Ada', '{\"test_run\": \"true\"}', 'success', 'openai_assistants', 'gpt-4o', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (3, 2, 'Hello Ada', '{\"test_run\": false}', 'success', 'openai', 'gpt-4o', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (4, 3, 'Hey Bob', '{\"test_run\": \"false\"}', 'error', 'anthropic', 'claude-3-5-sonnet', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (5, 3, 'Hey Bob', '{}', 'success', 'google', 'gemini-1.5-pro', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (6, 4, 'Draft text', '{\"test_run\": 1}', 'success', 'mistral', 'mistral-large', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (7, 4, 'Draft text', '{\"meta\": {\"test_run\": true}}', 'timeout', 'openai', 'gpt-4o', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (8, 6, 'New form', '{\"test_run\": null}', 'pending', 'openai', 'gpt-4o', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (9, 6, 'New form', '{\"test_run\": \"TRUE\"}', 'success', 'openai', 'gpt-4o', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (10, 6, 'New form', '[]', 'success', 'openai', 'gpt-4o', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
    "INSERT INTO prompt_tracker_evaluations (id, llm_response_id, score, evaluator_type, metadata, passed, created_at, updated_at) VALUES
       (1, 1, 95.5, 'keyword', '{}', TRUE, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (2, 2, 40, 'length', '{}', FALSE, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (3, 3, 100, 'keyword', '{}', TRUE, '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
       (4, 6, 0, 'format', '{}', NULL, '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
    "INSERT INTO prompt_tracker_prompt_test_runs (id, prompt_test_id, prompt_version_id, llm_response_id, status, passed, passed_evaluators, total_evaluators, evaluator_results, created_at, updated_at) VALUES
       (1, 1, 2, 1, 'passed', TRUE, 2, 2, '[{\"evaluator_key\": \"keyword\", \"score\": 95.5}]', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
];

const TABLES: &[&str] = &[
    "prompt_tracker_prompts",
    "prompt_tracker_prompt_versions",
    "prompt_tracker_evaluator_configs",
    "prompt_tracker_prompt_tests",
    "prompt_tracker_llm_responses",
    "prompt_tracker_evaluations",
    "prompt_tracker_prompt_test_runs",
];

/// Applies the baseline only and fills it with [`LEGACY`].
async fn legacy(db: &TestDb) {
    legacy_with(db, &[]).await;
}

/// Applies the baseline only and fills it with [`LEGACY`], then runs `extra`.
async fn legacy_with(db: &TestDb, extra: &[&str]) {
    Migrator::up(&db.conn, Some(1)).await.expect("baseline");
    for sql in LEGACY.iter().chain(extra) {
        db.exec(sql).await;
    }
    if db.is_postgres() {
        // Explicit ids do not advance identity sequences; Rails-made rows would have.
        for table in TABLES {
            db.exec(&format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")).await;
        }
    }
}

async fn applied(db: &TestDb) -> usize {
    Migrator::get_applied_migrations(&db.conn)
        .await
        .expect("status")
        .len()
}

/// Seed 000's Validation Checklist and seed 002's Success Criteria 1 and 5, on [`LEGACY`].
async fn check_migrated(db: &TestDb) {
    // EvaluatorConfigs moved to the active version, else the highest version_number; a prompt
    // without versions keeps its config (owned by the prompt, not orphaned).
    let owners = db
        .rows("SELECT id, configurable_type AS t, configurable_id AS o, threshold FROM prompt_tracker_evaluator_configs WHERE id <= 6 ORDER BY id")
        .await;
    let got: Vec<(i64, &str, i64)> = owners
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["t"].as_str().unwrap(),
                r["o"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, VERSION, 2),
            (2, VERSION, 2),
            (3, VERSION, 4),
            (4, PROMPT, 3),
            (5, VERSION, 10),
            (6, VERSION, 10)
        ]
    );
    assert!(owners.iter().all(|r| r["threshold"].is_null()));
    assert_eq!(
        db.json("SELECT config FROM prompt_tracker_evaluator_configs WHERE id = 1")
            .await,
        json!({"required_keywords": ["hello"]})
    );
    assert!(
        !db.columns("prompt_tracker_evaluator_configs")
            .await
            .contains(&"prompt_id".to_owned())
    );

    // No orphaned EvaluatorConfig: every owner exists.
    let orphans = db
        .count(&format!(
            "SELECT COUNT(*) AS n FROM prompt_tracker_evaluator_configs ec WHERE NOT (
               (ec.configurable_type = '{VERSION}' AND EXISTS (SELECT 1 FROM prompt_tracker_prompt_versions v WHERE v.id = ec.configurable_id))
            OR (ec.configurable_type = '{TEST}' AND EXISTS (SELECT 1 FROM prompt_tracker_prompt_tests t WHERE t.id = ec.configurable_id))
            OR (ec.configurable_type = '{PROMPT}' AND EXISTS (SELECT 1 FROM prompt_tracker_prompts p WHERE p.id = ec.configurable_id)))"
        ))
        .await;
    assert_eq!(orphans, 0, "orphaned evaluator configs");

    // LlmResponse.is_test_run: JSON true and "true" only.
    let flags = db
        .rows("SELECT id, is_test_run FROM prompt_tracker_llm_responses ORDER BY id")
        .await;
    let test_runs: Vec<i64> = flags
        .iter()
        .filter(|r| r["is_test_run"] == json!(true))
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(test_runs, vec![1, 2]);

    // Evaluation.evaluation_context follows the response.
    let contexts = db
        .rows("SELECT id, evaluation_context AS c FROM prompt_tracker_evaluations ORDER BY id")
        .await;
    let contexts: Vec<&str> = contexts.iter().map(|r| r["c"].as_str().unwrap()).collect();
    assert_eq!(
        contexts,
        vec!["test_run", "test_run", "tracked_call", "tracked_call"]
    );

    // PromptTest evaluator_configs became rows, in array order, with the seed's defaults.
    let rows = db
        .rows(&format!(
            "SELECT configurable_id AS test, evaluator_key AS k, threshold, enabled, run_mode, priority, CAST(weight AS REAL) AS w
             FROM prompt_tracker_evaluator_configs WHERE configurable_type = '{TEST}' ORDER BY id"
        ))
        .await;
    let got: Vec<(i64, &str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["test"].as_i64().unwrap(),
                r["k"].as_str().unwrap(),
                r["threshold"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "keyword", 90),
            (1, "length", 80),
            (3, "format", 75),
            (4, "exact_match", 80),
            (5, "keyword", 0),
            (5, "length", 100)
        ]
    );
    for r in &rows {
        assert_eq!(r["enabled"], json!(true), "{r}");
        assert_eq!(r["run_mode"], "sync", "{r}");
        assert_eq!(r["priority"], 0, "{r}");
        assert_eq!(r["w"].as_f64(), Some(1.0), "{r}");
    }
    let configs = db.rows(&format!("SELECT config FROM prompt_tracker_evaluator_configs WHERE configurable_type = '{TEST}' ORDER BY id")).await;
    let configs: Vec<Value> = configs
        .iter()
        .map(|r| {
            if let Value::String(s) = &r["config"] {
                serde_json::from_str(s).unwrap()
            } else {
                r["config"].clone()
            }
        })
        .collect();
    assert_eq!(
        configs,
        vec![
            json!({"required_keywords": ["Ada"]}),
            json!({}),
            json!({"format": "json"}),
            json!({}),
            json!({}),
            json!({"max_length": 10})
        ]
    );
    assert!(
        !db.columns("prompt_tracker_prompt_tests")
            .await
            .contains(&"evaluator_configs".to_owned())
    );

    // All indexes created.
    let indexes = db.indexes().await;
    for name in [
        "index_evaluator_configs_on_configurable",
        "index_evaluator_configs_unique_per_configurable",
        "index_prompt_tracker_llm_responses_on_is_test_run",
        "index_prompt_tracker_evaluations_on_evaluation_context",
        "index_prompt_tracker_llm_responses_on_provider_and_api",
    ] {
        assert!(
            indexes.contains(&name.to_owned()),
            "missing index {name}: {indexes:?}"
        );
    }
    assert!(
        !indexes.iter().any(|i| i.contains("on_prompt_id_and_key")),
        "{indexes:?}"
    );

    // Foreign keys intact (and none left from evaluator configs to prompts).
    assert_eq!(foreign_keys(db).await, expected_foreign_keys(false));

    // Seed 002, Success Criterion 1: compound configs are now provider + api; others untouched.
    let expected_versions = [
        json!({"provider": "openai", "api": "response_api", "model": "gpt-4o", "temperature": 0.7, "tools": ["web_search"]}),
        json!({"provider": "openai", "api": "assistants_api", "model": "gpt-4o", "assistant_id": "asst_1"}),
        json!({"provider": "openai", "model": "gpt-4o-mini"}),
        json!({"provider": "anthropic", "model": "claude-3-5-sonnet"}),
        json!({}),
        json!({"provider": "openai", "api": "response_api", "model": "gpt-4o"}),
        json!({"provider": "google", "model": "gemini-1.5-pro"}),
        json!({"provider": "openai", "api": "response_api", "model": "gpt-4o"}),
        json!({"provider": "openai", "api": "assistants_api", "model": "gpt-4o"}),
    ];
    for (i, expected) in expected_versions.iter().enumerate() {
        let got = db
            .json(&format!(
                "SELECT model_config FROM prompt_tracker_prompt_versions WHERE id = {}",
                i + 1
            ))
            .await;
        assert_eq!(&got, expected, "version {}", i + 1);
    }
    assert_eq!(
        db.json("SELECT model_config FROM prompt_tracker_prompt_tests WHERE id = 3")
            .await,
        json!({"provider": "openai", "api": "response_api", "model": "gpt-4o"})
    );
    assert_eq!(
        db.json("SELECT model_config FROM prompt_tracker_prompt_tests WHERE id = 5")
            .await,
        json!({"provider": "openai", "api": "assistants_api"})
    );
    let responses = db
        .rows("SELECT id, provider, api FROM prompt_tracker_llm_responses ORDER BY id")
        .await;
    let responses: Vec<(&str, Option<&str>)> = responses
        .iter()
        .map(|r| (r["provider"].as_str().unwrap(), r["api"].as_str()))
        .collect();
    assert_eq!(
        responses,
        vec![
            ("openai", Some("response_api")),
            ("openai", Some("assistants_api")),
            ("openai", Some("chat_completion")),
            ("anthropic", Some("messages")),
            ("google", Some("gemini")),
            ("mistral", None),
            ("openai", Some("chat_completion")),
            ("openai", Some("chat_completion")),
            ("openai", Some("chat_completion")),
            ("openai", Some("chat_completion")),
        ]
    );

    // Seed 002, Success Criterion 5: no compound provider value anywhere.
    let compound = |table: &str, expr: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE {expr} IN ('openai_responses', 'openai_assistants')"
        )
    };
    let (v, t) = if db.is_postgres() {
        ("model_config->>'provider'", "model_config->>'provider'")
    } else {
        (
            "json_extract(model_config, '$.provider')",
            "json_extract(model_config, '$.provider')",
        )
    };
    assert_eq!(
        db.count(&compound("prompt_tracker_prompt_versions", v))
            .await,
        0
    );
    assert_eq!(
        db.count(&compound("prompt_tracker_prompt_tests", t)).await,
        0
    );
    assert_eq!(
        db.count(&compound("prompt_tracker_llm_responses", "provider"))
            .await,
        0
    );

    // Every legacy evaluation learnt its response's version (m20261121_000009).
    assert!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_evaluations")
            .await
            > 0
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM prompt_tracker_evaluations e \
             JOIN prompt_tracker_llm_responses r ON r.id = e.llm_response_id \
             WHERE e.prompt_version_id IS NULL OR e.prompt_version_id <> r.prompt_version_id"
        )
        .await,
        0
    );

    // Several active versions (p5): the highest version_number (v3, id 10) stays active, the
    // others are deprecated, the draft stays a draft; and it is the version that owns the
    // prompt's configs (above), i.e. m20250102_000001's choice.
    assert_eq!(
        statuses(db, 5).await,
        vec![
            (10, "active".to_owned()),
            (11, "deprecated".to_owned()),
            (12, "deprecated".to_owned()),
            (13, "draft".to_owned())
        ]
    );
    one_active_version_owning_the_configs(db).await;

    // Data nobody migrates is untouched.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_test_runs WHERE status = 'passed' AND llm_response_id = 1").await, 1);
}

/// (id, status) of the versions of prompt `prompt`, by id.
async fn statuses(db: &TestDb, prompt: i64) -> Vec<(i64, String)> {
    db.rows(&format!(
        "SELECT id, status FROM prompt_tracker_prompt_versions WHERE prompt_id = {prompt} ORDER BY id"
    ))
    .await
    .iter()
    .map(|r| {
        (
            r["id"].as_i64().unwrap(),
            r["status"].as_str().unwrap().to_owned(),
        )
    })
    .collect()
}

/// No prompt has two active versions, and every version-owned config of a prompt that has an
/// active version is on that version: m20261121_000003 kept active the version to which
/// m20250102_000001 had moved the prompt's configs.
async fn one_active_version_owning_the_configs(db: &TestDb) {
    assert_eq!(
        db.count(
            "SELECT COUNT(*) AS n FROM (SELECT prompt_id FROM prompt_tracker_prompt_versions \
             WHERE status = 'active' GROUP BY prompt_id HAVING COUNT(*) > 1) m"
        )
        .await,
        0,
        "prompts with several active versions"
    );
    let misplaced = db
        .rows(&format!(
            "SELECT ec.id, v.id AS owner, v.status FROM prompt_tracker_evaluator_configs ec \
             JOIN prompt_tracker_prompt_versions v ON v.id = ec.configurable_id \
             WHERE ec.configurable_type = '{VERSION}' AND v.status <> 'active' AND EXISTS \
               (SELECT 1 FROM prompt_tracker_prompt_versions a WHERE a.prompt_id = v.prompt_id AND a.status = 'active') \
             ORDER BY ec.id"
        ))
        .await;
    assert_eq!(
        misplaced,
        Vec::<Value>::new(),
        "configs not on their prompt's active version"
    );
}

/// (table, column, referenced table) of every foreign key.
async fn foreign_keys(db: &TestDb) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    if db.is_postgres() {
        let rows = db
            .rows(
                "SELECT tc.table_name::text AS t, kcu.column_name::text AS c, ccu.table_name::text AS r
                 FROM information_schema.table_constraints tc
                 JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name
                 JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name
                 WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'",
            )
            .await;
        for r in rows {
            out.push((
                r["t"].as_str().unwrap().to_owned(),
                r["c"].as_str().unwrap().to_owned(),
                r["r"].as_str().unwrap().to_owned(),
            ));
        }
    } else {
        for table in db.tables().await {
            for r in db
                .rows(&format!(
                    "SELECT \"from\" AS c, \"table\" AS r FROM pragma_foreign_key_list('{table}')"
                ))
                .await
            {
                out.push((
                    table.clone(),
                    r["c"].as_str().unwrap().to_owned(),
                    r["r"].as_str().unwrap().to_owned(),
                ));
            }
        }
        assert_eq!(
            db.rows("SELECT * FROM pragma_foreign_key_check").await,
            Vec::<Value>::new(),
            "foreign key violations"
        );
    }
    out.sort();
    out
}

fn expected_foreign_keys(with_evaluator_config_prompt: bool) -> Vec<(String, String, String)> {
    let mut fks = vec![
        (
            "prompt_tracker_evaluations",
            "llm_response_id",
            "prompt_tracker_llm_responses",
        ),
        (
            "prompt_tracker_llm_responses",
            "prompt_version_id",
            "prompt_tracker_prompt_versions",
        ),
        (
            "prompt_tracker_prompt_test_runs",
            "llm_response_id",
            "prompt_tracker_llm_responses",
        ),
        (
            "prompt_tracker_prompt_test_runs",
            "prompt_test_id",
            "prompt_tracker_prompt_tests",
        ),
        (
            "prompt_tracker_prompt_test_runs",
            "prompt_version_id",
            "prompt_tracker_prompt_versions",
        ),
        (
            "prompt_tracker_prompt_tests",
            "prompt_version_id",
            "prompt_tracker_prompt_versions",
        ),
        (
            "prompt_tracker_prompt_versions",
            "prompt_id",
            "prompt_tracker_prompts",
        ),
    ];
    if !with_evaluator_config_prompt {
        // The fully migrated schema also has the run batches and datasets.
        fks.push((
            "prompt_tracker_dataset_rows",
            "dataset_id",
            "prompt_tracker_datasets",
        ));
        fks.push((
            "prompt_tracker_datasets",
            "prompt_version_id",
            "prompt_tracker_prompt_versions",
        ));
        fks.push((
            "prompt_tracker_test_run_batches",
            "prompt_version_id",
            "prompt_tracker_prompt_versions",
        ));
    }
    if with_evaluator_config_prompt {
        fks.push((
            "prompt_tracker_evaluator_configs",
            "prompt_id",
            "prompt_tracker_prompts",
        ));
    }
    let mut fks: Vec<(String, String, String)> = fks
        .into_iter()
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
        .collect();
    fks.sort();
    fks
}

/// Up one step at a time from the legacy baseline (snapshotting every level), check the
/// result, then down one step at a time: each level's data must equal its snapshot, ending
/// with the legacy data exactly. Then up again and check again.
async fn legacy_data_migrates_and_every_step_reverses_exactly(db: TestDb) {
    legacy(&db).await;
    let mut snapshots: BTreeMap<usize, _> = BTreeMap::new();
    snapshots.insert(1, db.dump().await);
    let total = Migrator::migrations().len();
    for level in 2..=total {
        Migrator::up(&db.conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("up to level {level}: {e}"));
        snapshots.insert(level, db.dump().await);
    }
    assert_eq!(applied(&db).await, total);
    check_migrated(&db).await;

    for level in (1..total).rev() {
        Migrator::down(&db.conn, Some(1))
            .await
            .unwrap_or_else(|e| panic!("down to level {level}: {e}"));
        assert_eq!(applied(&db).await, level);
        let now = db.dump().await;
        let then = &snapshots[&level];
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            then.keys().collect::<Vec<_>>(),
            "tables at level {level}"
        );
        for (table, rows) in then {
            assert_eq!(
                &now[table], rows,
                "table {table} after going down to level {level}"
            );
        }
    }
    // Back at the baseline: p5's versions have their original statuses (also in the snapshot).
    assert_eq!(
        statuses(&db, 5).await,
        vec![
            (10, "active".to_owned()),
            (11, "active".to_owned()),
            (12, "active".to_owned()),
            (13, "draft".to_owned())
        ]
    );
    // `prompt_id` is NOT NULL again with its foreign key and unique index.
    assert_eq!(foreign_keys(&db).await, expected_foreign_keys(true));
    let err = db
        .conn
        .execute_unprepared(
            "INSERT INTO prompt_tracker_evaluator_configs (evaluator_key) VALUES ('x')",
        )
        .await;
    assert!(err.is_err(), "prompt_id must be NOT NULL again");
    assert!(
        db.indexes()
            .await
            .contains(&"index_prompt_tracker_evaluator_configs_on_prompt_id_and_key".to_owned())
    );

    Migrator::up(&db.conn, None).await.expect("up again");
    check_migrated(&db).await;
}

/// Values written after `up` that the old schema has no place for survive `down` then `up`:
/// thresholds, explicit test-run flags, manual evaluation contexts, edited test configs.
async fn values_written_after_up_survive_down_and_up(db: TestDb) {
    legacy(&db).await;
    Migrator::up(&db.conn, None).await.expect("up");
    db.exec("UPDATE prompt_tracker_evaluator_configs SET threshold = 70 WHERE id = 1")
        .await;
    db.exec("UPDATE prompt_tracker_llm_responses SET is_test_run = TRUE WHERE id = 5")
        .await;
    db.exec("UPDATE prompt_tracker_llm_responses SET is_test_run = FALSE WHERE id = 2")
        .await;
    db.exec("UPDATE prompt_tracker_evaluations SET evaluation_context = 'manual' WHERE id = 3")
        .await;
    db.exec(&format!(
        "UPDATE prompt_tracker_evaluator_configs SET enabled = FALSE, weight = 0, run_mode = 'async', priority = 3, threshold = 55
         WHERE configurable_type = '{TEST}' AND configurable_id = 5 AND evaluator_key = 'keyword'"
    ))
    .await;
    db.exec(r#"UPDATE prompt_tracker_prompt_versions SET model_config = '{"provider": "anthropic", "api": "messages", "model": "claude-sonnet-4"}' WHERE id = 1"#).await;

    db.exec("UPDATE prompt_tracker_evaluations SET evaluator_config_id = 1 WHERE id = 4")
        .await;
    let before = db.dump().await;
    let steps = applied(&db).await as u32 - 1;
    Migrator::down(&db.conn, Some(steps))
        .await
        .expect("down to the baseline");
    assert_eq!(applied(&db).await, 1);
    // The edited test configs went back into the JSON column with all their fields.
    let json = db
        .json("SELECT evaluator_configs FROM prompt_tracker_prompt_tests WHERE id = 5")
        .await;
    assert_eq!(json[0]["evaluator_key"], "keyword");
    assert_eq!(json[0]["enabled"], false);
    assert_eq!(json[0]["threshold"], 55);
    // Unchanged tests got their legacy JSON back verbatim (no defaults written into it).
    assert_eq!(
        db.json("SELECT evaluator_configs FROM prompt_tracker_prompt_tests WHERE id = 1")
            .await,
        json!([{"evaluator_key": "keyword", "threshold": 90, "config": {"required_keywords": ["Ada"]}}, {"evaluator_key": "length"}])
    );
    assert_eq!(
        db.json("SELECT evaluator_configs FROM prompt_tracker_prompt_tests WHERE id = 3")
            .await[0]["threshold"],
        "75"
    );
    // A config edited after up keeps its new form; the untouched compound one is compound again.
    assert_eq!(
        db.json("SELECT model_config FROM prompt_tracker_prompt_versions WHERE id = 1")
            .await["provider"],
        "anthropic"
    );
    assert_eq!(
        db.json("SELECT model_config FROM prompt_tracker_prompt_versions WHERE id = 2")
            .await["provider"],
        "openai_assistants"
    );

    Migrator::up(&db.conn, None).await.expect("up again");
    let mut after = db.dump().await;
    // A version's `revision` is a cache-validation counter, not data: after down and up it
    // starts again at the migration's time, never at a value it had before.
    let revisions = |dump: &mut BTreeMap<String, Vec<Value>>| -> Vec<i64> {
        dump.get_mut("prompt_tracker_prompt_versions")
            .unwrap()
            .iter_mut()
            .map(|r| {
                r.as_object_mut()
                    .unwrap()
                    .remove("revision")
                    .and_then(|v| v.as_i64())
                    .unwrap()
            })
            .collect()
    };
    let mut before = before;
    let (old, new) = (revisions(&mut before), revisions(&mut after));
    for (old, new) in old.iter().zip(&new) {
        assert!(new > old, "revision {old} came back as {new}");
    }
    for table in [
        "prompt_tracker_llm_responses",
        "prompt_tracker_evaluations",
        "prompt_tracker_prompt_versions",
    ] {
        assert_eq!(after[table], before[table], "{table}");
    }
    let strip = |rows: &Vec<Value>| -> Vec<Value> {
        rows.iter()
            .map(|r| {
                let mut r = r.clone();
                let o = r.as_object_mut().unwrap();
                for k in ["id", "created_at", "updated_at"] {
                    o.remove(k);
                }
                r
            })
            .collect()
    };
    assert_eq!(
        strip(&after["prompt_tracker_evaluator_configs"]),
        strip(&before["prompt_tracker_evaluator_configs"])
    );
    // What `down` parked was taken back; what remains is `up`'s record of rewritten values.
    let parked = db
        .count(&format!(
            "SELECT COUNT(*) AS n FROM {} WHERE derived IS NULL OR migration NOT IN \
             ('m20250102_000004_migrate_prompt_test_evaluator_configs', 'm20250103_000001_split_model_config_provider_api', \
              'm20261121_000003_one_active_version_per_prompt')",
            migration::archive::TABLE
        ))
        .await;
    assert_eq!(parked, 0, "values parked by down are consumed by up");
}

/// `down` of the polymorphic migration refuses configs it cannot give a prompt_id, naming
/// them, and changes nothing.
async fn polymorphic_down_refuses_colliding_configs(db: TestDb) {
    legacy(&db).await;
    Migrator::up(&db.conn, None).await.expect("up");
    // Version 3 (prompt 1) gets a `keyword` config too: prompt 1 would have two.
    db.exec(&format!(
        "INSERT INTO prompt_tracker_evaluator_configs (configurable_type, configurable_id, evaluator_key, config, run_mode, created_at, updated_at)
         VALUES ('{VERSION}', 3, 'keyword', '{{}}', 'sync', '2025-02-01 00:00:00', '2025-02-01 00:00:00')"
    ))
    .await;
    let id = db
        .count("SELECT MAX(id) AS n FROM prompt_tracker_evaluator_configs")
        .await;
    let steps = applied(&db).await as u32 - 2;
    Migrator::down(&db.conn, Some(steps))
        .await
        .expect("down to level 2");
    let before = db.dump().await;
    let err = Migrator::down(&db.conn, Some(1))
        .await
        .expect_err("must refuse")
        .to_string();
    assert!(
        err.contains("Row ids: 1, ") && err.contains(&id.to_string()),
        "{err}"
    );
    assert_eq!(applied(&db).await, 2);
    assert_eq!(
        db.dump().await,
        before,
        "a refused migration changes nothing"
    );
}

/// `up` of the test-config migration refuses entries it cannot place, naming the tests, and
/// changes nothing.
async fn test_config_up_refuses_unplaceable_entries(db: TestDb) {
    legacy(&db).await;
    let bad = [
        (6, r#"[{"threshold": 80}]"#),
        (
            7,
            r#"[{"evaluator_key": "keyword"}, {"evaluator_key": "keyword"}]"#,
        ),
        (8, r#"[{"evaluator_key": "keyword", "threshold": 180}]"#),
        (9, r#"[{"evaluator_key": "keyword", "threshold": "high"}]"#),
        (10, r#"{"evaluator_key": "keyword"}"#),
        (11, r#"["keyword"]"#),
        (12, r#"[{"evaluator_key": "keyword", "config": [1]}]"#),
        (13, r#"[{"evaluator_key": "keyword", "threshold": 79.5}]"#),
    ];
    for (id, json) in bad {
        db.exec(&format!(
            "INSERT INTO prompt_tracker_prompt_tests (id, prompt_version_id, name, evaluator_configs, created_at, updated_at)
             VALUES ({id}, 2, 'bad {id}', '{json}', '2025-01-01 10:00:00', '2025-01-01 10:00:00')"
        ))
        .await;
    }
    Migrator::up(&db.conn, Some(3))
        .await
        .expect("up to level 4");
    let before = db.dump().await;
    let err = Migrator::up(&db.conn, Some(1))
        .await
        .expect_err("must refuse")
        .to_string();
    assert!(err.contains("Row ids: 6, 7, 8, 9, 10, 11, 12, 13"), "{err}");
    assert_eq!(applied(&db).await, 4);
    assert_eq!(
        db.dump().await,
        before,
        "a refused migration changes nothing"
    );
}

/// Ties and NULLs among several active versions, which the baseline (and the Rails schema)
/// forbid with the unique (`prompt_id`, `version_number`) index and NOT NULL, in a database
/// that lost them: the version left active is still the one to which m20250102_000001 moved
/// the prompt's configs (on a tie, the higher id; a NULL wherever `version_number DESC` sorts
/// it on the backend), and `down` restores every status exactly.
async fn several_active_versions_keep_the_config_owner_on_ties(db: TestDb) {
    let mut extra = vec![
        "DROP INDEX index_prompt_tracker_prompt_versions_on_prompt_id_and_version_number",
        // p6: two active v2 (ids 20, 21), an active v1, a draft v3.
        "INSERT INTO prompt_tracker_prompts (id, name, slug, created_at, updated_at) VALUES
           (6, 'Tied', 'tied', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
        "INSERT INTO prompt_tracker_prompt_versions (id, prompt_id, user_prompt, version_number, status, created_at, updated_at) VALUES
           (20, 6, 'A', 2, 'active', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
           (21, 6, 'B', 2, 'active', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
           (22, 6, 'C', 1, 'active', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
           (23, 6, 'D', 3, 'draft', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
        "INSERT INTO prompt_tracker_evaluator_configs (id, prompt_id, evaluator_key, created_at, updated_at) VALUES
           (7, 6, 'keyword', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
    ];
    if db.is_postgres() {
        // p7: an active v5 and an active version without a number (SQLite cannot drop NOT NULL).
        extra.extend([
            "ALTER TABLE prompt_tracker_prompt_versions ALTER COLUMN version_number DROP NOT NULL",
            "INSERT INTO prompt_tracker_prompts (id, name, slug, created_at, updated_at) VALUES
               (7, 'Unnumbered', 'unnumbered', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
            "INSERT INTO prompt_tracker_prompt_versions (id, prompt_id, user_prompt, version_number, status, created_at, updated_at) VALUES
               (24, 7, 'E', 5, 'active', '2025-01-01 10:00:00', '2025-01-01 10:00:00'),
               (25, 7, 'F', NULL, 'active', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
            "INSERT INTO prompt_tracker_evaluator_configs (id, prompt_id, evaluator_key, created_at, updated_at) VALUES
               (8, 7, 'keyword', '2025-01-01 10:00:00', '2025-01-01 10:00:00')",
        ]);
    }
    legacy_with(&db, &extra).await;
    let baseline = db.dump().await;

    Migrator::up(&db.conn, None).await.expect("up");
    one_active_version_owning_the_configs(&db).await;
    assert_eq!(
        statuses(&db, 6).await,
        vec![
            (20, "deprecated".to_owned()),
            (21, "active".to_owned()),
            (22, "deprecated".to_owned()),
            (23, "draft".to_owned())
        ]
    );
    assert_eq!(
        db.count("SELECT configurable_id AS n FROM prompt_tracker_evaluator_configs WHERE id = 7")
            .await,
        21
    );
    if db.is_postgres() {
        let active: Vec<i64> = statuses(&db, 7)
            .await
            .into_iter()
            .filter(|(_, s)| s == "active")
            .map(|(id, _)| id)
            .collect();
        let owner = db
            .count("SELECT configurable_id AS n FROM prompt_tracker_evaluator_configs WHERE id = 8")
            .await;
        assert_eq!(active, vec![owner]);
    }

    let steps = applied(&db).await as u32 - 1;
    Migrator::down(&db.conn, Some(steps))
        .await
        .expect("down to the baseline");
    assert_eq!(db.dump().await, baseline, "down restores the legacy data");

    Migrator::up(&db.conn, None).await.expect("up again");
    one_active_version_owning_the_configs(&db).await;
    assert_eq!(statuses(&db, 6).await[1], (21, "active".to_owned()));
}

/// A database that PromptTracker created (baseline tables, no migration table) is adopted.
async fn existing_prompt_tracker_database_is_adopted(db: TestDb) {
    legacy(&db).await;
    db.exec("DROP TABLE seaql_migrations").await;
    Migrator::up(&db.conn, None)
        .await
        .expect("adopt and migrate");
    check_migrated(&db).await;
}

db_tests!(
    legacy_data_migrates_and_every_step_reverses_exactly,
    values_written_after_up_survive_down_and_up,
    polymorphic_down_refuses_colliding_configs,
    test_config_up_refuses_unplaceable_entries,
    several_active_versions_keep_the_config_owner_on_ties,
    existing_prompt_tracker_database_is_adopted,
);
