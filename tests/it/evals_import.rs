//! The openai/evals importer: mapping, reporting what cannot map, and the created objects.

use api::testing::evals_import::{ImportOptions, MatchMode, import};
use serde_json::json;

use crate::db_tests;
use crate::support::{TestDb, spawn_app};

const SAMPLES: &str = r#"{"input": [{"role": "system", "content": "Answer Y or N."}, {"role": "user", "content": "Is 2 > 1?"}], "ideal": "Y"}
{"input": [{"role": "system", "content": "Answer Y or N."}, {"role": "user", "content": "Is 1 > 2?"}], "ideal": ["N", "No"], "id": 7}
{"input": [{"role": "system", "content": "Answer Y or N."}, {"role": "system", "content": "Example", "name": "example_user"}, {"role": "user", "content": "Is 3 > 2?"}], "ideal": "Y"}
{"input": [{"role": "system", "content": "Answer Y or N."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Is 0 > 1?"}], "ideal": "N"}
not json
{"input": [{"role": "system", "content": "Answer Y or N."}, {"role": "user", "content": "Is 5 > 4?"}], "ideal": 1}

{"input": [{"role": "system", "content": "Answer Y or N."}, {"role": "user", "content": "Is {{ x }} literal?"}], "ideal": "Y"}
"#;

async fn openai_evals_samples_import_with_a_report(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let report = import(
        &db.conn,
        SAMPLES,
        ImportOptions {
            prompt: "yes-no".into(),
            model_config: json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
            mode: MatchMode::StartsWith,
            dataset_name: "yes_no".into(),
        },
    )
    .await
    .expect("import");
    assert_eq!((report.samples, report.imported), (7, 3));
    let skipped: Vec<usize> = report.skipped.iter().map(|s| s.line).collect();
    assert_eq!(skipped, vec![3, 4, 5, 6], "{:?}", report.skipped);
    assert!(
        report.skipped[0].reason.contains("few-shot"),
        "{:?}",
        report.skipped[0]
    );
    assert!(
        report.skipped[1].reason.contains("multi-turn"),
        "{:?}",
        report.skipped[1]
    );
    assert!(
        report.skipped[3].reason.contains("ideal"),
        "{:?}",
        report.skipped[3]
    );
    assert_eq!(report.unmapped_keys, vec![("id".to_owned(), vec![2])]);

    let v = app
        .get(&format!("/api/v1/versions/{}", report.version_id))
        .await
        .body;
    assert_eq!(v["status"], "active");
    assert_eq!(v["system_prompt"], "Answer Y or N.");
    assert_eq!(v["user_prompt"], "{{ input }}");
    assert_eq!(
        v["model_config"]["temperature"], 0.0,
        "openai/evals Match samples at temperature 0"
    );
    let rows = app
        .get(&format!("/api/v1/datasets/{}/rows", report.dataset_id))
        .await
        .body;
    let data = rows["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(
        data[1]["row_data"],
        json!({"input": "Is 1 > 2?", "ideal": ["N", "No"]})
    );
    assert_eq!(data[2]["row_data"]["input"], "Is {{ x }} literal?");
    let configs = app
        .get(&format!(
            "/api/v1/tests/{}/evaluator-configs",
            report.test_id
        ))
        .await
        .body;
    assert_eq!(configs["data"][0]["evaluator_key"], "evals_match");
    assert_eq!(configs["data"][0]["config"]["mode"], "starts_with");
    // A literal `{{ x }}` in a sample is data, not template syntax.
    let rendered = app
        .post(
            &format!("/api/v1/versions/{}/render", report.version_id),
            json!({"variables": data[2]["row_data"]}),
        )
        .await;
    assert_eq!(rendered.body["user_prompt"], "Is {{ x }} literal?");

    // Nothing maps: nothing is created.
    let none = import(
        &db.conn,
        "{\"input\": 5, \"ideal\": \"x\"}\n",
        ImportOptions {
            prompt: "empty".into(),
            model_config: json!({}),
            mode: MatchMode::Exact,
            dataset_name: "empty".into(),
        },
    )
    .await;
    assert!(none.is_err());
    assert_eq!(
        app.get("/api/v1/prompts?slug=empty").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

db_tests!(openai_evals_samples_import_with_a_report);
