//! The schema the entities describe is the schema the migrations build: same columns, types
//! and nullability on both backends, and every entity round-trips a row through SeaORM.

use entity::evaluator_config::{ConfigurableType, RunMode};
use entity::prelude::*;
use entity::{
    evaluation, evaluator_config, llm_response, prompt, prompt_test, prompt_test_run,
    prompt_version,
};
use rust_decimal::Decimal;
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IdenStatic, Iterable, ModelTrait, QueryFilter, Set,
};
use serde_json::json;

use crate::db_tests;
use crate::support::TestDb;

/// The type family a column type is stored as: (PostgreSQL `data_type`, SQLite declared type prefix).
fn family(t: &ColumnType) -> (&'static str, &'static str) {
    match t {
        ColumnType::BigInteger => ("bigint", "integer"),
        ColumnType::Integer => ("integer", "integer"),
        ColumnType::String(_) => ("character varying", "varchar"),
        ColumnType::Text => ("text", "text"),
        ColumnType::Boolean => ("boolean", "boolean"),
        ColumnType::JsonBinary => ("jsonb", "jsonb_text"),
        ColumnType::Decimal(_) => ("numeric", "real"),
        ColumnType::DateTime | ColumnType::Timestamp => {
            ("timestamp without time zone", "timestamp_text")
        }
        other => panic!("no mapping for {other:?}"),
    }
}

async fn check_entity<E: EntityTrait>(db: &TestDb, entity: E) {
    let table = entity.table_name();
    let sql = if db.is_postgres() {
        format!(
            "SELECT column_name::text AS name, data_type::text AS kind, (is_nullable = 'YES') AS nullable
             FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
        )
    } else {
        format!(
            "SELECT name, lower(type) AS kind, (\"notnull\" = 0 AND pk = 0) AS nullable FROM pragma_table_info('{table}') ORDER BY cid"
        )
    };
    let mut actual: Vec<(String, String, bool)> = db
        .rows(&sql)
        .await
        .iter()
        .map(|r| {
            let nullable = r["nullable"] == json!(true) || r["nullable"] == json!(1);
            (
                r["name"].as_str().unwrap().to_owned(),
                r["kind"].as_str().unwrap().to_owned(),
                nullable,
            )
        })
        .collect();
    let mut expected: Vec<(String, String, bool)> = E::Column::iter()
        .map(|c| {
            let def = c.def();
            let (pg, sqlite) = family(def.get_column_type());
            (
                c.as_str().to_owned(),
                if db.is_postgres() { pg } else { sqlite }.to_owned(),
                def.is_null(),
            )
        })
        .collect();
    actual.sort();
    expected.sort();
    if !db.is_postgres() {
        // SQLite declared types carry precision, e.g. `real(5, 2)`: compare the prefix.
        for (a, e) in actual.iter_mut().zip(&expected) {
            if a.1.starts_with(&e.1) {
                a.1 = e.1.clone();
            }
        }
    }
    assert_eq!(actual, expected, "entity and table {table} differ");
}

async fn entities_match_the_migrated_schema(db: TestDb) {
    db.migrate().await;
    check_entity(&db, Prompt).await;
    check_entity(&db, PromptVersion).await;
    check_entity(&db, EvaluatorConfig).await;
    check_entity(&db, PromptTest).await;
    check_entity(&db, LlmResponse).await;
    check_entity(&db, Evaluation).await;
    check_entity(&db, PromptTestRun).await;
    check_entity(&db, IdempotencyKey).await;
    check_entity(&db, Job).await;
    check_entity(&db, TestRunBatch).await;
    check_entity(&db, Dataset).await;
    check_entity(&db, DatasetRow).await;
    let mut tables = db.tables().await;
    tables.retain(|t| t != "seaql_migrations" && t != migration::archive::TABLE);
    assert_eq!(tables.len(), 12, "a table without an entity: {tables:?}");
}

async fn every_entity_round_trips_and_polymorphic_relations_work_both_ways(db: TestDb) {
    db.migrate().await;
    let now = chrono::Utc::now().naive_utc();
    let c = &db.conn;
    let p = prompt::ActiveModel {
        name: Set("Greeting".into()),
        slug: Set("greeting".into()),
        tags: Set(json!(["a"])),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(c)
    .await
    .expect("prompt");
    let legacy_config: entity::ModelConfig = serde_json::from_value(
        json!({"provider": "openai_responses", "model": "gpt-4o", "seed": 1}),
    )
    .unwrap();
    let v = prompt_version::ActiveModel {
        prompt_id: Set(p.id),
        user_prompt: Set("Hello {{name}}".into()),
        version_number: Set(1),
        status: Set(prompt_version::VersionStatus::Active),
        variables_schema: Set(serde_json::from_value(
            json!([{"name": "name", "type": "string", "required": true}]),
        )
        .unwrap()),
        model_config: Set(legacy_config),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(c)
    .await
    .expect("version");
    // Written in the new form.
    let stored = db
        .json(&format!(
            "SELECT model_config FROM prompt_tracker_prompt_versions WHERE id = {}",
            v.id
        ))
        .await;
    assert_eq!(
        stored,
        json!({"provider": "openai", "api": "response_api", "model": "gpt-4o", "seed": 1})
    );
    assert_eq!(
        v.model_config.api_type(),
        entity::model_config::ApiType::OpenaiResponseApi
    );

    let t = prompt_test::ActiveModel {
        prompt_version_id: Set(v.id),
        name: Set("greets".into()),
        template_variables: Set(json!({"name": "Ada"})),
        expected_patterns: Set(json!([])),
        model_config: Set(entity::ModelConfig::default()),
        enabled: Set(true),
        tags: Set(json!([])),
        metadata: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(c)
    .await
    .expect("test");
    let config = |kind: ConfigurableType, owner: i64, key: &str| evaluator_config::ActiveModel {
        configurable_type: Set(kind),
        configurable_id: Set(owner),
        evaluator_key: Set(key.into()),
        enabled: Set(true),
        config: Set(json!({})),
        run_mode: Set(RunMode::Sync),
        priority: Set(0),
        weight: Set(Decimal::new(150, 2)),
        threshold: Set(Some(80)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    // Same owner id, different owner types: the relations must tell them apart.
    let on_version = config(ConfigurableType::PromptVersion, v.id, "keyword")
        .insert(c)
        .await
        .expect("config");
    let on_test = config(ConfigurableType::PromptTest, t.id, "length")
        .insert(c)
        .await
        .expect("config");
    config(ConfigurableType::PromptTest, v.id, "format")
        .insert(c)
        .await
        .expect("config");
    assert_eq!(on_version.weight, Decimal::new(150, 2));

    let of_version = v
        .find_related(EvaluatorConfig)
        .all(c)
        .await
        .expect("version configs");
    assert_eq!(
        of_version.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![on_version.id]
    );
    let of_test = t
        .find_related(EvaluatorConfig)
        .all(c)
        .await
        .expect("test configs");
    let test_keys: Vec<&str> = of_test.iter().map(|m| m.evaluator_key.as_str()).collect();
    assert!(test_keys.contains(&"length"), "{test_keys:?}");
    assert_eq!(
        on_version
            .find_related(PromptVersion)
            .one(c)
            .await
            .expect("owner")
            .map(|m| m.id),
        Some(v.id)
    );
    assert_eq!(
        on_test
            .find_related(PromptTest)
            .one(c)
            .await
            .expect("owner")
            .map(|m| m.id),
        Some(t.id)
    );
    assert_eq!(
        on_test
            .find_related(PromptVersion)
            .one(c)
            .await
            .expect("owner"),
        None,
        "a test's config has no version"
    );
    let with_configs = PromptVersion::find()
        .find_with_related(EvaluatorConfig)
        .filter(prompt_version::Column::Id.eq(v.id))
        .all(c)
        .await
        .expect("eager load");
    assert_eq!(with_configs[0].1.len(), 1);

    let r = llm_response::ActiveModel {
        prompt_version_id: Set(v.id),
        rendered_prompt: Set("Hello Ada".into()),
        variables_used: Set(json!({"name": "Ada"})),
        response_metadata: Set(json!({})),
        status: Set(llm_response::ResponseStatus::Success),
        tokens_prompt: Set(Some(12)),
        cost_usd: Set(Some(Decimal::new(1234, 6))),
        provider: Set("openai".into()),
        api: Set(Some("response_api".into())),
        model: Set("gpt-4o".into()),
        context: Set(json!({})),
        is_test_run: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(c)
    .await
    .expect("response");
    let e = evaluation::ActiveModel {
        llm_response_id: Set(r.id),
        prompt_version_id: Set(Some(r.prompt_version_id)),
        score: Set(Decimal::new(955, 1)),
        score_min: Set(Decimal::ZERO),
        score_max: Set(Decimal::new(100, 0)),
        evaluator_type: Set("keyword".into()),
        metadata: Set(json!({})),
        passed: Set(Some(true)),
        evaluation_context: Set(evaluation::EvaluationContext::TestRun),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(c)
    .await
    .expect("evaluation");
    let run = prompt_test_run::ActiveModel {
        prompt_test_id: Set(t.id),
        prompt_version_id: Set(v.id),
        llm_response_id: Set(Some(r.id)),
        status: Set(prompt_test_run::TestRunStatus::Passed),
        passed: Set(Some(true)),
        passed_evaluators: Set(1),
        failed_evaluators: Set(0),
        total_evaluators: Set(1),
        evaluator_results: Set(json!([])),
        cost_usd: Set(Some(Decimal::new(1234, 6))),
        metadata: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(c)
    .await
    .expect("run");

    assert_eq!(Prompt::find_by_id(p.id).one(c).await.unwrap(), Some(p));
    // The version-owned config inserted above advanced the version's revision (a trigger).
    let found = PromptVersion::find_by_id(v.id)
        .one(c)
        .await
        .unwrap()
        .unwrap();
    assert!(
        found.revision > v.revision,
        "revision {} after a config insert",
        found.revision
    );
    assert_eq!(
        found,
        prompt_version::Model {
            revision: found.revision,
            ..v.clone()
        }
    );
    assert_eq!(PromptTest::find_by_id(t.id).one(c).await.unwrap(), Some(t));
    assert_eq!(
        LlmResponse::find_by_id(r.id).one(c).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(Evaluation::find_by_id(e.id).one(c).await.unwrap(), Some(e));
    assert_eq!(
        PromptTestRun::find_by_id(run.id).one(c).await.unwrap(),
        Some(run)
    );
    assert_eq!(r.find_related(Evaluation).all(c).await.unwrap().len(), 1);
}

db_tests!(
    entities_match_the_migrated_schema,
    every_entity_round_trips_and_polymorphic_relations_work_both_ways
);
