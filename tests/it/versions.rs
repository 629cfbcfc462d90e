//! Versions, rendering and the catalogs through real HTTP.

use serde_json::json;

use crate::db_tests;
use crate::support::{App, TestDb, spawn_app};

async fn prompt(app: &App, name: &str) -> i64 {
    app.create("/api/v1/prompts", json!({"name": name})).await["id"]
        .as_i64()
        .unwrap()
}

async fn versions_store_the_new_model_config_form_and_validate(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let p = prompt(&app, "Greeter").await;
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({
                "system_prompt": "You work for {{ company }}.",
                "user_prompt": "Greet {{ name }}.",
                "model_config": {"provider": "openai_responses", "model": "gpt-4o", "temperature": 0.2, "tools": ["web_search"]}
            }),
        )
        .await;
    assert_eq!(v["version_number"], 1);
    assert_eq!(v["status"], "draft");
    assert_eq!(
        v["model_config"],
        json!({"provider": "openai", "api": "response_api", "model": "gpt-4o", "temperature": 0.2, "tools": ["web_search"]})
    );
    assert_eq!(v["api_type"], "openai_response_api");
    assert_eq!(v["model_config_label"], "OpenAI - Response API · gpt-4o");
    assert_eq!(v["supports_structured_output"], true);
    let names: Vec<&str> = v["variables_schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["company", "name"]);
    // Stored in the new form too.
    let id = v["id"].as_i64().unwrap();
    let stored = db
        .json(&format!(
            "SELECT model_config FROM prompt_tracker_prompt_versions WHERE id = {id}"
        ))
        .await;
    assert_eq!(stored["provider"], "openai");
    assert_eq!(stored["api"], "response_api");

    // A config kept on the prompt by the polymorphic migration moves to its first version.
    let q = prompt(&app, "Versionless").await;
    db.exec(&format!(
        "INSERT INTO prompt_tracker_evaluator_configs (configurable_type, configurable_id, evaluator_key, config, run_mode, created_at, updated_at)
         VALUES ('PromptTracker::Prompt', {q}, 'keyword', '{{\"required_keywords\": [\"a\"]}}', 'async', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    .await;
    let first = app
        .create(
            &format!("/api/v1/prompts/{q}/versions"),
            json!({"user_prompt": "x"}),
        )
        .await;
    let adopted = app
        .get(&format!(
            "/api/v1/versions/{}/evaluator-configs",
            first["id"]
        ))
        .await
        .body;
    assert_eq!(adopted["data"][0]["evaluator_key"], "keyword");
    assert_eq!(adopted["data"][0]["owner_type"], "prompt_version");

    let v2 = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "Hi"}),
        )
        .await;
    assert_eq!(v2["version_number"], 2);
    assert_eq!(v2["api_type"], "openai_chat_completion");

    // Validation: every problem named, valid choices listed; nothing created.
    let bad = app
        .post(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "Hi {{ name", "model_config": {"provider": "openai", "api": "nope", "model": "gpt-4o"}}),
        )
        .await;
    let fields = bad.problem(422);
    assert!(fields.contains(&"user_prompt".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"model_config.api".to_owned()),
        "{fields:?}"
    );
    let api_error = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "model_config.api")
        .unwrap();
    assert!(
        api_error["message"]
            .as_str()
            .unwrap()
            .contains("response_api"),
        "{api_error}"
    );
    let unknown = app
        .post(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "x", "model_config": {"provider": "acme"}}),
        )
        .await;
    let msg = unknown.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("anthropic") && msg.contains("openai"), "{msg}");
    let ranges = app
        .post(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "x", "model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o", "temperature": 3, "top_p": 1.5, "max_tokens": 0, "tools": ["web_search"]}}),
        )
        .await;
    let mut fields = ranges.problem(422);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "model_config.max_tokens",
            "model_config.temperature",
            "model_config.tools[0]",
            "model_config.top_p"
        ]
    );
    assert_eq!(
        app.get(&format!("/api/v1/prompts/{p}/versions")).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.post("/api/v1/prompts/999/versions", json!({"user_prompt": "x"}))
        .await
        .problem(404);
}

async fn render_names_missing_variables_and_shows_the_provider_request(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let p = prompt(&app, "Render").await;
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"system_prompt": "Be {{ tone }}.", "user_prompt": "Summarise {{ text }} for {{ reader }}.",
                   "model_config": {"provider": "anthropic", "api": "messages", "model": "claude-3-5-haiku-latest", "max_tokens": 200}}),
        )
        .await;
    let id = v["id"].as_i64().unwrap();
    let missing = app
        .post(
            &format!("/api/v1/versions/{id}/render"),
            json!({"variables": {"tone": "brief"}}),
        )
        .await;
    assert_eq!(
        missing.problem(422),
        vec!["variables.text", "variables.reader"]
    );
    let ok = app
        .post(
            &format!("/api/v1/versions/{id}/render"),
            json!({"variables": {"tone": "brief", "text": "the news", "reader": "kids"}}),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["system_prompt"], "Be brief.");
    assert_eq!(ok.body["user_prompt"], "Summarise the news for kids.");
    let req = &ok.body["provider_request"];
    assert_eq!(req["api_type"], "anthropic_messages");
    assert_eq!(req["path"], "/v1/messages");
    assert_eq!(req["body"]["system"], "Be brief.");
    assert_eq!(req["body"]["max_tokens"], 200);
    assert_eq!(
        req["body"]["messages"],
        json!([{"role": "user", "content": "Summarise the news for kids."}])
    );
}

async fn text_is_frozen_once_a_version_has_responses(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let p = prompt(&app, "Frozen").await;
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "Hi {{ name }}"}),
        )
        .await;
    let id = v["id"].as_i64().unwrap();
    let edited = app
        .patch(
            &format!("/api/v1/versions/{id}"),
            json!({"user_prompt": "Hello {{ name }}", "notes": "v1"}),
        )
        .await;
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["user_prompt"], "Hello {{ name }}");
    db.exec(&format!(
        "INSERT INTO prompt_tracker_llm_responses (prompt_version_id, rendered_prompt, status, provider, model, created_at, updated_at)
         VALUES ({id}, 'Hello Ada', 'success', 'openai', 'gpt-4o', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    .await;
    for change in [
        json!({"user_prompt": "Changed"}),
        json!({"system_prompt": "New"}),
        json!({"model_config": {"provider": "anthropic", "model": "claude-3-5-haiku-latest"}}),
    ] {
        let a = app.patch(&format!("/api/v1/versions/{id}"), change).await;
        a.problem(409);
        assert!(
            a.body["detail"].as_str().unwrap().contains("new version"),
            "{:?}",
            a.body
        );
    }
    // Notes, status and an unchanged text are fine.
    let ok = app
        .patch(
            &format!("/api/v1/versions/{id}"),
            json!({"notes": "frozen", "user_prompt": "Hello {{ name }}", "status": "deprecated"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(
        app.patch(
            &format!("/api/v1/versions/{id}"),
            json!({"status": "active"})
        )
        .await
        .problem(422),
        vec!["status"]
    );
}

async fn concurrent_creates_get_distinct_numbers_and_one_version_stays_active(db: TestDb) {
    let app = std::sync::Arc::new(spawn_app(&db, None).await);
    let p = prompt(&app, "Busy").await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.post(
                &format!("/api/v1/prompts/{p}/versions"),
                json!({"user_prompt": format!("v{i}")}),
            )
            .await
        }));
    }
    let mut numbers = Vec::new();
    let mut ids = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 201, "{:?}", a.body);
        numbers.push(a.body["version_number"].as_i64().unwrap());
        ids.push(a.body["id"].as_i64().unwrap());
    }
    numbers.sort();
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());

    let mut tasks = Vec::new();
    for id in ids.clone() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.post(&format!("/api/v1/versions/{id}/activate"), json!({}))
                .await
        }));
    }
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let active = db.count(&format!("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_versions WHERE prompt_id = {p} AND status = 'active'")).await;
    assert_eq!(active, 1);
    let last = app
        .post(&format!("/api/v1/versions/{}/activate", ids[0]), json!({}))
        .await;
    assert_eq!(last.body["status"], "active");
    let statuses = app
        .get(&format!("/api/v1/prompts/{p}/versions?limit=500"))
        .await
        .body;
    let actives: Vec<i64> = statuses["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == "active")
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    assert_eq!(actives, vec![ids[0]]);

    // Archiving the prompt deprecates every version.
    app.delete(&format!("/api/v1/prompts/{p}")).await;
    let active = db.count(&format!("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_versions WHERE prompt_id = {p} AND status <> 'deprecated'")).await;
    assert_eq!(active, 0);
    app.post(
        &format!("/api/v1/prompts/{p}/versions"),
        json!({"user_prompt": "late"}),
    )
    .await
    .problem(409);
}

async fn catalogs_list_providers_and_evaluators(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let providers = app.get("/api/v1/providers").await.body;
    let openai = providers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "openai")
        .unwrap();
    let apis: Vec<&str> = openai["apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(apis.contains(&"OpenAI - Response API"), "{apis:?}");
    assert!(
        openai["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "gpt-4o")
    );
    let evaluators = app.get("/api/v1/evaluators").await.body;
    let keys: Vec<&str> = evaluators
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        vec![
            "exact_match",
            "pattern_match",
            "keyword",
            "length",
            "format",
            "json_schema",
            "llm_judge",
            "evals_match"
        ]
    );
    let length = evaluators
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "length")
        .unwrap();
    assert!(
        length["config_schema"]["properties"]["min_length"]["default"].is_number(),
        "{length}"
    );
}

db_tests!(
    versions_store_the_new_model_config_form_and_validate,
    render_names_missing_variables_and_shows_the_provider_request,
    text_is_frozen_once_a_version_has_responses,
    concurrent_creates_get_distinct_numbers_and_one_version_stays_active,
    catalogs_list_providers_and_evaluators,
);
