//! The one writer of LLM-call rows (`api::tracking::calls`), seen from its sources: a test
//! run's call is always recorded (a cost the column cannot hold is stored as null and
//! noted), where the same numbers in a tracked call are refused; every source's
//! `created_at` is whole microseconds, so what a later read returns on both backends.

use chrono::{DateTime, Timelike, Utc};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::db_tests;
use crate::support::{App, AppOptions, TestDb, spawn_app_with, test_providers};

/// An OpenAI chat completion reporting `completion_tokens` output tokens.
fn openai_chat(text: &str, completion_tokens: i64) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 1000, "completion_tokens": completion_tokens,
                     "total_tokens": 1000 + completion_tokens}})
}

async fn app_with_mock(db: &TestDb) -> (App, MockServer) {
    let mock = MockServer::start().await;
    let uri = mock.uri();
    let app = spawn_app_with(
        db,
        AppOptions {
            providers: test_providers(Some(&uri), Some(&uri), Some(&uri)),
            ..Default::default()
        },
    )
    .await;
    (app, mock)
}

/// A prompt "Greet {{ name }}." on gpt-4o with one test (keyword `welcome`): (version, test).
async fn setup(app: &App) -> (i64, i64) {
    let p = app
        .create("/api/v1/prompts", json!({"name": "Costly"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "Greet {{ name }}.",
                   "model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let t = app
        .create(
            &format!("/api/v1/versions/{v}/tests"),
            json!({"name": "greets", "template_variables": {"name": "Ada"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.create(
        &format!("/api/v1/tests/{t}/evaluator-configs"),
        json!({"evaluator_key": "keyword", "config": {"required_keywords": ["welcome"]}}),
    )
    .await;
    (v, t)
}

fn timestamp(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("not an RFC 3339 timestamp: {v}"))
        .with_timezone(&Utc)
}

async fn a_test_call_over_the_cost_bound_is_recorded(db: TestDb) {
    let (app, mock) = app_with_mock(&db).await;
    // 1,000 × 2.50/M + 1.5e9 × 10.00/M = 15,000.0025 USD: more than numeric(10,6) holds.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_chat("Hello Ada, welcome!", 1_500_000_000)),
        )
        .mount(&mock)
        .await;
    let (v, t) = setup(&app).await;

    // The run finishes (no 500, nothing left running) and is judged on its answer.
    let done = app
        .post(&format!("/api/v1/tests/{t}/runs?wait=true"), json!({}))
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    let run = &done.body["runs"][0];
    assert_eq!(run["status"], "passed", "{run}");
    assert_eq!(run["cost_usd"], Value::Null, "{run}");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_test_runs WHERE status IN ('pending', 'running')")
            .await,
        0
    );

    // The provider's answer is stored with its counts; the cost is null, and noted.
    let id = run["llm_response_id"].as_i64().expect("a stored response");
    let got = app.get(&format!("/api/v1/llm-responses/{id}")).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let response = &got.body;
    assert_eq!(response["is_test_run"], true);
    assert_eq!(response["response_text"], "Hello Ada, welcome!");
    assert_eq!(response["tokens_prompt"], 1000);
    assert_eq!(response["tokens_completion"], 1_500_000_000);
    assert_eq!(response["tokens_total"], 1_500_001_000);
    assert_eq!(response["cost_usd"], Value::Null, "{response}");
    let notes = response["response_metadata"]["recording_notes"]
        .as_array()
        .unwrap_or_else(|| panic!("a note: {response}"));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["field"], "cost_usd");
    assert_eq!(notes[0]["value"], "15000.002500");
    assert!(
        notes[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("9999.999999")),
        "{notes:?}"
    );
    assert_eq!(
        response["response_metadata"]["prompt_test_run_id"],
        run["id"]
    );
    assert_eq!(response["evaluations"][0]["passed"], true);

    // The same numbers reported as a tracked call are refused: the client can fix them.
    assert_eq!(
        app.post(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": v, "variables": {"name": "Ada"}, "response_text": "x",
                   "tokens_prompt": 1000, "tokens_completion": 1_500_000_000}),
        )
        .await
        .problem(422),
        vec!["cost_usd"]
    );
}

async fn a_test_calls_created_at_is_what_later_reads_return(db: TestDb) {
    let (app, mock) = app_with_mock(&db).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat("Hello, welcome", 500)))
        .mount(&mock)
        .await;
    let (v, t) = setup(&app).await;
    let before = Utc::now();
    let done = app
        .post(&format!("/api/v1/tests/{t}/runs?wait=true"), json!({}))
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    let id = done.body["runs"][0]["llm_response_id"].as_i64().unwrap();

    let one = app.get(&format!("/api/v1/llm-responses/{id}")).await.body;
    let created = timestamp(&one["created_at"]);
    // Whole microseconds (what PostgreSQL keeps; SQLite keeps what it is given).
    assert_eq!(created.nanosecond() % 1000, 0, "{}", one["created_at"]);
    assert!(created >= before - chrono::Duration::microseconds(1));
    // Every later read agrees: the list, read twice (on PostgreSQL, the second from its
    // row cache), and the one response again.
    for _ in 0..2 {
        let list = app
            .get(&format!(
                "/api/v1/llm-responses?version_id={v}&is_test_run=true"
            ))
            .await
            .body;
        assert_eq!(list["data"][0]["id"], id, "{list}");
        assert_eq!(list["data"][0]["created_at"], one["created_at"]);
    }
    let again = app.get(&format!("/api/v1/llm-responses/{id}")).await.body;
    assert_eq!(again["created_at"], one["created_at"]);

    // The tracked call's answer is built from the row in memory: the same precision, and
    // the same value a later read returns.
    let tracked = app
        .create(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": v, "variables": {"name": "Ada"}, "response_text": "x"}),
        )
        .await;
    assert_eq!(timestamp(&tracked["created_at"]).nanosecond() % 1000, 0);
    let read = app
        .get(&format!("/api/v1/llm-responses/{}", tracked["id"]))
        .await
        .body;
    assert_eq!(read["created_at"], tracked["created_at"]);
}

db_tests!(
    a_test_call_over_the_cost_bound_is_recorded,
    a_test_calls_created_at_is_what_later_reads_return,
);
