//! Prompt tests and evaluator configs through real HTTP.

use serde_json::json;

use crate::db_tests;
use crate::support::{TestDb, spawn_app};

async fn tests_and_evaluator_configs_on_both_owners(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let p = app
        .create("/api/v1/prompts", json!({"name": "Support"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let v = app
        .create(&format!("/api/v1/prompts/{p}/versions"), json!({"user_prompt": "Answer {{ q }}", "model_config": {"provider": "anthropic", "model": "claude-3-5-haiku-latest"}}))
        .await["id"]
        .as_i64()
        .unwrap();

    // Tests: model_config defaults to the version's; names unique per version.
    let t = app
        .create(
            &format!("/api/v1/versions/{v}/tests"),
            json!({"name": "refund", "template_variables": {"q": "refund?"}}),
        )
        .await;
    assert_eq!(t["model_config"]["provider"], "anthropic");
    assert_eq!(t["api_type"], "anthropic_messages");
    let tid = t["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/versions/{v}/tests"),
        json!({"name": "refund"}),
    )
    .await
    .problem(409);
    assert_eq!(
        app.post(&format!("/api/v1/versions/{v}/tests"), json!({"name": ""}))
            .await
            .problem(422),
        vec!["name"]
    );
    let legacy = app
        .create(&format!("/api/v1/versions/{v}/tests"), json!({"name": "legacy", "model_config": {"provider": "openai_assistants", "model": "gpt-4o"}}))
        .await;
    assert_eq!(legacy["model_config"]["api"], "assistants_api");
    let patched = app
        .patch(
            &format!("/api/v1/tests/{tid}"),
            json!({"expected_output": "Yes", "enabled": false}),
        )
        .await;
    assert_eq!(patched.body["expected_output"], "Yes");
    assert_eq!(patched.body["enabled"], false);

    // Configs on the test and on the version.
    let kw = app
        .create(&format!("/api/v1/tests/{tid}/evaluator-configs"), json!({"evaluator_key": "keyword", "config": {"required_keywords": ["refund"]}, "threshold": 70, "weight": 2}))
        .await;
    assert_eq!(kw["owner_type"], "prompt_test");
    assert_eq!(kw["run_mode"], "sync");
    assert_eq!(kw["weight"], 2.0);
    assert_eq!(
        kw["config"]["case_sensitive"], false,
        "defaults filled in: {kw}"
    );
    app.create(&format!("/api/v1/tests/{}/evaluator-configs", legacy["id"]), json!({"evaluator_key": "keyword", "config": {"required_keywords": ["x"]}, "threshold": 10})).await;
    app.create(
        &format!("/api/v1/tests/{tid}/evaluator-configs"),
        json!({"evaluator_key": "length", "config": {"max_length": 100}}),
    )
    .await;
    app.post(
        &format!("/api/v1/tests/{tid}/evaluator-configs"),
        json!({"evaluator_key": "keyword", "config": {"required_keywords": ["again"]}}),
    )
    .await
    .problem(409);
    let unknown = app
        .post(
            &format!("/api/v1/tests/{tid}/evaluator-configs"),
            json!({"evaluator_key": "vibes"}),
        )
        .await;
    assert_eq!(unknown.problem(422), vec!["evaluator_key"]);
    assert!(
        unknown.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("keyword")
    );
    let bad = app
        .post(&format!("/api/v1/tests/{tid}/evaluator-configs"), json!({"evaluator_key": "pattern_match", "config": {"patterns": ["/(unclosed/"]}, "threshold": 101, "weight": -1}))
        .await;
    let mut fields = bad.problem(422);
    fields.sort();
    assert_eq!(fields, vec!["config.patterns[0]", "threshold", "weight"]);
    app.post(
        "/api/v1/tests/9999/evaluator-configs",
        json!({"evaluator_key": "keyword"}),
    )
    .await
    .problem(404);

    let mon = app
        .create(
            &format!("/api/v1/versions/{v}/evaluator-configs"),
            json!({"evaluator_key": "format", "config": {"format": "json"}}),
        )
        .await;
    assert_eq!(mon["owner_type"], "prompt_version");
    assert_eq!(mon["run_mode"], "async");
    let listed = app
        .get(&format!("/api/v1/versions/{v}/evaluator-configs"))
        .await
        .body;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "test configs are not the version's"
    );
    assert_eq!(
        app.get(&format!("/api/v1/tests/{tid}/evaluator-configs"))
            .await
            .body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Copy from tests: keyword and length come over (first by test id wins), format is kept.
    app.create(
        &format!("/api/v1/tests/{tid}/evaluator-configs"),
        json!({"evaluator_key": "format", "config": {"format": "markdown"}}),
    )
    .await;
    let copied = app
        .post(
            &format!("/api/v1/versions/{v}/evaluator-configs/copy-from-tests"),
            json!({}),
        )
        .await;
    assert_eq!(copied.status, 200, "{:?}", copied.body);
    let keys: Vec<&str> = copied.body["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["evaluator_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, vec!["keyword", "length"]);
    assert_eq!(copied.body["created"][0]["threshold"], 70);
    assert_eq!(copied.body["skipped"], json!(["format"]));
    let again = app
        .post(
            &format!("/api/v1/versions/{v}/evaluator-configs/copy-from-tests"),
            json!({}),
        )
        .await;
    assert_eq!(again.body["created"], json!([]));

    // Patch and delete a config.
    let id = kw["id"].as_i64().unwrap();
    let p2 = app.patch(&format!("/api/v1/evaluator-configs/{id}"), json!({"threshold": null, "enabled": false, "config": {"required_keywords": ["refund", "policy"]}})).await;
    assert_eq!(p2.status, 200, "{:?}", p2.body);
    assert_eq!(p2.body["threshold"], json!(null));
    assert_eq!(
        p2.body["config"]["required_keywords"],
        json!(["refund", "policy"])
    );
    app.patch(
        &format!("/api/v1/evaluator-configs/{id}"),
        json!({"config": {"nope": 1}}),
    )
    .await
    .problem(422);
    assert_eq!(
        app.delete(&format!("/api/v1/evaluator-configs/{id}"))
            .await
            .status,
        204
    );
    app.get(&format!("/api/v1/evaluator-configs/{id}"))
        .await
        .problem(404);

    // Deleting a test takes its configs; a test with runs is refused.
    assert_eq!(
        app.delete(&format!("/api/v1/tests/{}", legacy["id"]))
            .await
            .status,
        204
    );
    assert_eq!(db.count(&format!("SELECT COUNT(*) AS n FROM prompt_tracker_evaluator_configs WHERE configurable_id = {} AND configurable_type = 'PromptTracker::PromptTest'", legacy["id"])).await, 0);
    db.exec(&format!(
        "INSERT INTO prompt_tracker_prompt_test_runs (prompt_test_id, prompt_version_id, status, created_at, updated_at) VALUES ({tid}, {v}, 'passed', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    .await;
    app.delete(&format!("/api/v1/tests/{tid}"))
        .await
        .problem(409);
}

db_tests!(tests_and_evaluator_configs_on_both_owners);
