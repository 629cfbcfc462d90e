//! Test runs against wiremock providers speaking each real wire format: end to end per
//! format, every failure kind, verdict rules, datasets, crash recovery, two instances, and
//! what requests waiting for a batch (`?wait=true`) cost and how they are woken.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::db_tests;
use crate::support::{App, AppOptions, TestDb, spawn_app_with, test_providers};
use crate::tracking::insert_config;

fn openai_chat(text: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}})
}

fn openai_responses(text: &str) -> Value {
    json!({"id": "resp_1", "object": "response", "model": "gpt-4o-2024-08-06", "status": "completed",
           "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                       "content": [{"type": "output_text", "text": text, "annotations": []}]}],
           "usage": {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}})
}

fn anthropic(text: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
           "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
           "usage": {"input_tokens": 1000, "output_tokens": 500}})
}

fn gemini(text: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
           "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 500, "totalTokenCount": 1500},
           "modelVersion": "gemini-2.0-flash", "responseId": "r-1"})
}

/// The four wire formats: (model_config, mock path, success body for a text).
/// (model_config, mock path, success body builder) of one wire format.
type Format = (Value, &'static str, fn(&str) -> Value);

fn formats() -> Vec<Format> {
    vec![
        (
            json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
            "/v1/chat/completions",
            openai_chat,
        ),
        (
            json!({"provider": "openai", "api": "response_api", "model": "gpt-4o"}),
            "/v1/responses",
            openai_responses,
        ),
        (
            json!({"provider": "anthropic", "api": "messages", "model": "claude-3-5-haiku-latest", "max_tokens": 256}),
            "/v1/messages",
            anthropic,
        ),
        (
            json!({"provider": "google", "api": "gemini", "model": "gemini-2.0-flash"}),
            "/v1beta/models/gemini-2.0-flash:generateContent",
            gemini,
        ),
    ]
}

async fn app_with_mock(db: &TestDb, workers: usize) -> (App, MockServer) {
    let mock = MockServer::start().await;
    let uri = mock.uri();
    let app = spawn_app_with(
        db,
        AppOptions {
            providers: test_providers(Some(&uri), Some(&uri), Some(&uri)),
            workers,
            ..Default::default()
        },
    )
    .await;
    (app, mock)
}

/// A prompt "Greet {{ name }}." (system "Be brief.") with `model_config`, and one test with
/// `evaluators` (JSON bodies for POST .../evaluator-configs). Returns (version id, test id).
async fn setup(
    app: &App,
    name: &str,
    model_config: Value,
    evaluators: &[Value],
    pass_threshold: Option<i32>,
) -> (i64, i64) {
    let p = app.create("/api/v1/prompts", json!({"name": name})).await["id"]
        .as_i64()
        .unwrap();
    let v = app
        .create(&format!("/api/v1/prompts/{p}/versions"), json!({"system_prompt": "Be brief.", "user_prompt": "Greet {{ name }}.", "model_config": model_config}))
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
    if let Some(th) = pass_threshold {
        db_set_pass_threshold(app, t, th).await;
    }
    for e in evaluators {
        app.create(&format!("/api/v1/tests/{t}/evaluator-configs"), e.clone())
            .await;
    }
    (v, t)
}

async fn db_set_pass_threshold(app: &App, test: i64, th: i32) {
    let a = app
        .patch(
            &format!("/api/v1/tests/{test}"),
            json!({"pass_threshold": th}),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
}

fn keyword(word: &str) -> Value {
    json!({"evaluator_key": "keyword", "config": {"required_keywords": [word]}})
}

async fn run_and_wait(app: &App, test: i64, body: Value) -> Value {
    let a = app
        .post(&format!("/api/v1/tests/{test}/runs?wait=true"), body)
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body
}

async fn every_wire_format_runs_end_to_end(db: TestDb) {
    let (app, mock) = app_with_mock(&db, 2).await;
    for (i, (config, p, body)) in formats().into_iter().enumerate() {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(body("Hello Ada, welcome!")))
            .mount(&mock)
            .await;
        let (_, t) = setup(
            &app,
            &format!("Format {i}"),
            config.clone(),
            &[keyword("welcome")],
            None,
        )
        .await;
        let done = run_and_wait(&app, t, json!({})).await;
        let run = &done["runs"][0];
        assert_eq!(run["status"], "passed", "{config}: {run}");
        assert_eq!(run["passed"], true);
        assert_eq!(run["total_evaluators"], 1);
        assert_eq!(done["batch"]["verdict"], "passed");
        let response = app
            .get(&format!("/api/v1/llm-responses/{}", run["llm_response_id"]))
            .await
            .body;
        assert_eq!(response["is_test_run"], true);
        assert_eq!(response["response_text"], "Hello Ada, welcome!");
        assert_eq!(response["rendered_prompt"], "Greet Ada.");
        assert_eq!(response["tokens_prompt"], 1000);
        assert_eq!(response["tokens_completion"], 500);
        assert!(
            response["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
            "{config}: priced: {response}"
        );
        assert_eq!(run["cost_usd"], response["cost_usd"]);
        assert_eq!(response["evaluations"][0]["evaluation_context"], "test_run");
        assert!(run["execution_time_ms"].is_i64());
    }
    // Both prompts were sent: the system prompt in each provider's own field.
    let received = mock.received_requests().await.unwrap();
    assert_eq!(received.len(), 4);
    let bodies: Vec<Value> = received
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        bodies[0]["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(bodies[1]["instructions"], "Be brief.");
    assert_eq!(bodies[2]["system"], "Be brief.");
    assert_eq!(
        bodies[3]["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
    assert_eq!(
        received[2].headers.get("x-api-key").unwrap(),
        "test-key-ANTHROPIC_API_KEY"
    );
    assert!(received[2].headers.get("anthropic-version").is_some());
}

async fn provider_failures_end_runs_as_errors(db: TestDb) {
    let (app, mock) = app_with_mock(&db, 2).await;
    let chat = json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"});
    let cases: Vec<(&str, ResponseTemplate, &str)> = vec![
        (
            "bad-request",
            ResponseTemplate::new(400).set_body_json(
                json!({"error": {"message": "bad things", "type": "invalid_request_error"}}),
            ),
            "bad_request",
        ),
        (
            "unauthorized",
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"message": "Incorrect API key"}})),
            "authentication",
        ),
        (
            "server",
            ResponseTemplate::new(500).set_body_string("oops"),
            "server_error",
        ),
        (
            "garbage",
            ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
            "malformed_response",
        ),
        (
            "slow",
            ResponseTemplate::new(200)
                .set_body_json(openai_chat("late"))
                .set_delay(std::time::Duration::from_secs(5)),
            "timeout",
        ),
    ];
    for (name, template, error_type) in cases {
        let model = format!("gpt-4o-{name}");
        let mut config = chat.clone();
        config["model"] = json!(model);
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_partial_json(json!({"model": model})))
            .respond_with(template)
            .mount(&mock)
            .await;
        let (_, t) = setup(&app, &format!("Fail {name}"), config, &[keyword("x")], None).await;
        let done = run_and_wait(&app, t, json!({})).await;
        let run = &done["runs"][0];
        assert_eq!(run["status"], "error", "{name}: {run}");
        assert!(
            run["error_message"].as_str().unwrap().contains(error_type),
            "{name}: {run}"
        );
        assert_eq!(done["batch"]["verdict"], "error");
        let response = app
            .get(&format!("/api/v1/llm-responses/{}", run["llm_response_id"]))
            .await
            .body;
        assert_eq!(response["error_type"], error_type, "{name}");
        assert_eq!(
            response["status"],
            if name == "slow" { "timeout" } else { "error" },
            "{name}"
        );
    }
    // 429 then success: retried, and the run passes.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "gpt-4o-busy"})))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"error": {"message": "slow down"}})),
        )
        .up_to_n_times(1)
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "gpt-4o-busy"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat("ok x")))
        .mount(&mock)
        .await;
    let mut busy = chat.clone();
    busy["model"] = json!("gpt-4o-busy");
    let (_, t) = setup(&app, "Busy", busy, &[keyword("x")], None).await;
    assert_eq!(
        run_and_wait(&app, t, json!({})).await["runs"][0]["status"],
        "passed"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_test_runs WHERE status IN ('pending', 'running')").await, 0);
}

async fn verdicts_follow_weights_and_thresholds(db: TestDb) {
    let (app, mock) = app_with_mock(&db, 2).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat("Hello Ada, welcome")))
        .mount(&mock)
        .await;
    let chat = json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"});
    let good = keyword("welcome");
    let bad = json!({"evaluator_key": "exact_match", "config": {"expected_text": "goodbye"}, "weight": 1});
    // All must pass.
    let (_, t) = setup(
        &app,
        "All pass",
        chat.clone(),
        std::slice::from_ref(&good),
        None,
    )
    .await;
    assert_eq!(
        run_and_wait(&app, t, json!({})).await["runs"][0]["status"],
        "passed"
    );
    let (_, t) = setup(
        &app,
        "One fails",
        chat.clone(),
        &[good.clone(), bad.clone()],
        None,
    )
    .await;
    let r = run_and_wait(&app, t, json!({})).await;
    assert_eq!(r["runs"][0]["status"], "failed");
    assert_eq!(
        (
            r["runs"][0]["passed_evaluators"].as_i64(),
            r["runs"][0]["failed_evaluators"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(r["batch"]["verdict"], "failed");
    // Weight 0: informational.
    let info = json!({"evaluator_key": "length", "config": {"min_length": 500}, "weight": 0});
    let (_, t) = setup(
        &app,
        "Informational",
        chat.clone(),
        &[good.clone(), info],
        None,
    )
    .await;
    assert_eq!(
        run_and_wait(&app, t, json!({})).await["runs"][0]["status"],
        "passed"
    );
    // Weighted threshold: (3*100 + 1*0)/4 = 75.
    let heavy = json!({"evaluator_key": "keyword", "config": {"required_keywords": ["welcome"]}, "weight": 3});
    let (_, t) = setup(
        &app,
        "Weighted pass",
        chat.clone(),
        &[heavy.clone(), bad.clone()],
        Some(75),
    )
    .await;
    assert_eq!(
        run_and_wait(&app, t, json!({})).await["runs"][0]["status"],
        "passed"
    );
    let (_, t) = setup(&app, "Weighted fail", chat.clone(), &[heavy, bad], Some(76)).await;
    assert_eq!(
        run_and_wait(&app, t, json!({})).await["runs"][0]["status"],
        "failed"
    );
    // No evaluators: skipped, not passed.
    let (_, t) = setup(&app, "Nothing", chat, &[], None).await;
    let r = run_and_wait(&app, t, json!({})).await;
    assert_eq!(r["runs"][0]["status"], "skipped");
    assert_eq!(r["runs"][0]["passed"], Value::Null);
    assert_eq!(r["batch"]["verdict"], "skipped");
}

async fn datasets_versions_and_up_front_refusals(db: TestDb) {
    let (app, mock) = app_with_mock(&db, 2).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat("welcome")))
        .mount(&mock)
        .await;
    let chat = json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"});
    let (v, t) = setup(&app, "Rows", chat.clone(), &[keyword("welcome")], None).await;
    // One run per row; 202 first, then the batch finishes.
    let a = app
        .post(
            &format!("/api/v1/tests/{t}/runs"),
            json!({"rows": [{"name": "A"}, {"name": "B"}, {"name": "C"}]}),
        )
        .await;
    assert_eq!(a.status, 202, "{:?}", a.body);
    assert_eq!(a.body["runs"].as_array().unwrap().len(), 3);
    assert!(
        a.body["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "pending"
                || r["status"] == "running"
                || r["status"] == "passed")
    );
    let batch = a.body["batch_id"].as_i64().unwrap();
    let mut b = Value::Null;
    for _ in 0..200 {
        b = app
            .get(&format!("/api/v1/test-run-batches/{batch}"))
            .await
            .body;
        if b["verdict"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        (
            b["total"].as_i64(),
            b["finished"].as_i64(),
            b["passed"].as_i64()
        ),
        (Some(3), Some(3), Some(3)),
        "{b}"
    );
    let runs = app
        .get(&format!("/api/v1/test-runs?batch_id={batch}"))
        .await
        .body;
    let mut names: Vec<String> = runs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["variables"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["A", "B", "C"]);
    assert_eq!(
        app.get(&format!("/api/v1/tests/{t}/runs")).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let one = runs["data"][0]["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/v1/test-runs/{one}")).await.body["id"],
        one
    );
    app.get("/api/v1/test-runs/999999").await.problem(404);
    app.get("/api/v1/test-run-batches/999999")
        .await
        .problem(404);

    // A whole version: every enabled test.
    app.create(
        &format!("/api/v1/versions/{v}/tests"),
        json!({"name": "second", "template_variables": {"name": "Bo"}}),
    )
    .await;
    app.create(
        &format!("/api/v1/versions/{v}/tests"),
        json!({"name": "off", "enabled": false, "template_variables": {"name": "X"}}),
    )
    .await;
    let all = app
        .post(
            &format!("/api/v1/versions/{v}/test-runs?wait=true"),
            json!({}),
        )
        .await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(all.body["runs"].as_array().unwrap().len(), 2);
    assert_eq!(
        all.body["batch"]["skipped"], 1,
        "the second test has no evaluators"
    );

    // Refused before anything is stored.
    let before = db
        .count("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_test_runs")
        .await;
    assert_eq!(
        app.post(
            &format!("/api/v1/tests/{t}/runs"),
            json!({"rows": [{"name": "ok"}, {"other": 1}]})
        )
        .await
        .problem(422),
        vec!["rows[1].name"]
    );
    assert_eq!(
        app.post(&format!("/api/v1/tests/{t}/runs"), json!({"variables": {}}))
            .await
            .problem(422),
        vec!["variables.name"]
    );
    app.post(&format!("/api/v1/tests/{t}/runs"), json!({"rows": []}))
        .await
        .problem(422);
    let (_, legacy) = setup(
        &app,
        "Assistants",
        json!({"provider": "openai", "api": "assistants_api", "model": "gpt-4o"}),
        &[],
        None,
    )
    .await;
    let refused = app
        .post(&format!("/api/v1/tests/{legacy}/runs"), json!({}))
        .await;
    refused.problem(422);
    assert!(
        refused.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("retired"),
        "{:?}",
        refused.body
    );
    let no_key = spawn_app_with(
        &db,
        AppOptions {
            workers: 0,
            ..Default::default()
        },
    )
    .await;
    let missing = no_key
        .post(&format!("/api/v1/tests/{t}/runs"), json!({}))
        .await;
    missing.problem(422);
    assert!(
        missing.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("OPENAI_API_KEY"),
        "{:?}",
        missing.body
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_test_runs")
            .await,
        before
    );
    assert_eq!(
        mock.received_requests().await.unwrap().len(),
        5,
        "no provider call for refused requests"
    );
}

async fn a_run_killed_mid_way_is_resumed_after_restart(db: TestDb) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_chat("welcome"))
                .set_delay(std::time::Duration::from_millis(800)),
        )
        .mount(&mock)
        .await;
    let uri = mock.uri();
    let opts = || AppOptions {
        providers: test_providers(Some(&uri), None, None),
        workers: 1,
        lease: std::time::Duration::from_millis(900),
        ..Default::default()
    };
    let first = spawn_app_with(&db, opts()).await;
    let (_, t) = setup(
        &first,
        "Crashy",
        json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
        &[keyword("welcome")],
        None,
    )
    .await;
    let started = first
        .post(&format!("/api/v1/tests/{t}/runs"), json!({}))
        .await
        .body;
    let run = started["runs"][0]["id"].as_i64().unwrap();
    // Wait until the worker is inside the provider call, then crash.
    for _ in 0..100 {
        if db.count(&format!("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_test_runs WHERE id = {run} AND status = 'running'")).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    first.crash();
    assert_eq!(db.count(&format!("SELECT COUNT(*) AS n FROM prompt_tracker_prompt_test_runs WHERE id = {run} AND status = 'running'")).await, 1);

    let second = spawn_app_with(&db, opts()).await;
    let mut status = Value::Null;
    for _ in 0..200 {
        status = second.get(&format!("/api/v1/test-runs/{run}")).await.body["status"].clone();
        if status == "passed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(status, "passed");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses WHERE is_test_run = TRUE")
            .await,
        1,
        "one stored call for the run"
    );
    // The job is marked done right after the run's verdict is stored.
    let mut open_jobs = -1;
    for _ in 0..100 {
        open_jobs = db
            .count("SELECT COUNT(*) AS n FROM prompt_tracker_jobs WHERE status <> 'done'")
            .await;
        if open_jobs == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(open_jobs, 0);
}

async fn two_instances_never_run_the_same_job_twice(db: TestDb) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_chat("welcome"))
                .set_delay(std::time::Duration::from_millis(20)),
        )
        .mount(&mock)
        .await;
    let uri = mock.uri();
    let opts = || AppOptions {
        providers: test_providers(Some(&uri), None, None),
        workers: 4,
        ..Default::default()
    };
    let a = spawn_app_with(&db, opts()).await;
    // The second instance has its own connection pool on the same database.
    let other = TestDb::connect_same(&db).await;
    let b = spawn_app_with(&other, opts()).await;
    let (_, t) = setup(
        &a,
        "Shared",
        json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
        &[keyword("welcome")],
        None,
    )
    .await;
    let rows: Vec<Value> = (0..40).map(|i| json!({"name": format!("n{i}")})).collect();
    let batch = a
        .post(&format!("/api/v1/tests/{t}/runs"), json!({"rows": rows}))
        .await
        .body["batch_id"]
        .as_i64()
        .unwrap();
    let mut done = Value::Null;
    for _ in 0..400 {
        done = b
            .get(&format!("/api/v1/test-run-batches/{batch}"))
            .await
            .body;
        if done["verdict"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(done["passed"], 40, "{done}");
    assert_eq!(
        mock.received_requests().await.unwrap().len(),
        40,
        "each job ran exactly once"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses")
            .await,
        40
    );
    let workers = db
        .count("SELECT COUNT(DISTINCT locked_by) AS n FROM prompt_tracker_jobs")
        .await;
    assert!(workers >= 2, "work was shared: {workers} workers");
}

async fn llm_judge_scores_with_a_real_provider_call(db: TestDb) {
    let (app, mock) = app_with_mock(&db, 2).await;
    // The graded model answers; the judge (another model) returns structured JSON.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "gpt-4o"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat("Hello Ada!")))
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "gpt-4o-mini"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat(
            "{\"score\": 85, \"feedback\": \"Friendly and correct.\"}",
        )))
        .mount(&mock)
        .await;
    let judge = json!({"evaluator_key": "llm_judge", "threshold": 80,
                       "config": {"model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o-mini"}, "criteria": "Greets the user by name."}});
    let (_, t) = setup(
        &app,
        "Judged",
        json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
        &[judge],
        None,
    )
    .await;
    let run = &run_and_wait(&app, t, json!({})).await["runs"][0];
    assert_eq!(run["status"], "passed", "{run}");
    let response = app
        .get(&format!("/api/v1/llm-responses/{}", run["llm_response_id"]))
        .await
        .body;
    let e = &response["evaluations"][0];
    assert_eq!(e["evaluator_key"], "llm_judge");
    assert_eq!(e["score"], 85.0);
    assert_eq!(e["feedback"], "Friendly and correct.");
    let judged = &e["metadata"]["judge"];
    assert!(
        judged["prompt"]["user"]
            .as_str()
            .unwrap()
            .contains("Greets the user by name.")
    );
    assert!(
        judged["prompt"]["user"]
            .as_str()
            .unwrap()
            .contains("Hello Ada!")
    );
    assert_eq!(judged["tokens_prompt"], 1000);
    assert!(judged["cost_usd"].as_f64().is_some());
    assert!(judged["raw"].is_object());
    let received = mock.received_requests().await.unwrap();
    let judge_body: Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(
        judge_body["response_format"]["type"], "json_schema",
        "structured output requested: {judge_body}"
    );
}

/// A database failure while a run is being stored is not the run's outcome: the job is
/// retried and the run ends `passed`, with one call to the graded model. PostgreSQL: the
/// worker's backend is terminated (`pg_terminate_backend`) while it stores the judge's
/// evaluation, after the provider's answer was committed.
async fn a_lost_database_connection_retries_the_run(db: TestDb) {
    if !db.is_postgres() {
        return;
    }
    let (app, mock) = app_with_mock(&db, 1).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "gpt-4o"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat("Hello Ada!")))
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"model": "gpt-4o-mini"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_chat("{\"score\": 90, \"feedback\": \"Fine.\"}")),
        )
        .mount(&mock)
        .await;
    let judge = json!({"evaluator_key": "llm_judge", "threshold": 80,
                       "config": {"model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o-mini"}, "criteria": "Greets the user by name."}});
    let (_, t) = setup(
        &app,
        "Interrupted",
        json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
        &[judge],
        None,
    )
    .await;
    // Evaluation inserts wait while `hold_evaluations` has a row, so the test can find the
    // worker's backend in the middle of storing one.
    db.exec("CREATE TABLE hold_evaluations (x int)").await;
    db.exec("INSERT INTO hold_evaluations VALUES (1)").await;
    db.exec(
        "CREATE FUNCTION hold_evaluation() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         WHILE EXISTS (SELECT 1 FROM hold_evaluations) LOOP PERFORM pg_sleep(0.05); END LOOP; \
         RETURN NEW; END $$",
    )
    .await;
    db.exec("CREATE TRIGGER hold BEFORE INSERT ON prompt_tracker_evaluations FOR EACH ROW EXECUTE FUNCTION hold_evaluation()").await;
    let started = app
        .post(&format!("/api/v1/tests/{t}/runs"), json!({}))
        .await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let batch = started.body["batch_id"].as_i64().unwrap();
    // The worker's backend (not this query's own, whose text matches the pattern too).
    let mut pid = 0;
    for _ in 0..200 {
        pid = db
            .count("SELECT COALESCE(MAX(pid), 0) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()")
            .await;
        if pid != 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(pid, 0, "no backend was storing an evaluation");
    // Terminated while its insert is still held, then the hold is lifted for the retry: the
    // other way round, the held insert could finish first and its connection, back in the pool
    // the app shares with `db`, could be the one that runs `pg_terminate_backend` on itself.
    db.exec(&format!("SELECT pg_terminate_backend({pid})"))
        .await;
    db.exec("DELETE FROM hold_evaluations").await;
    let mut body = Value::Null;
    for _ in 0..300 {
        body = app
            .get(&format!("/api/v1/test-run-batches/{batch}"))
            .await
            .body;
        if body["total"] == 1 && body["finished"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(body["finished"], 1, "{body}");
    let run = app.get(&format!("/api/v1/tests/{t}/runs")).await.body["data"][0].clone();
    assert_eq!(run["status"], "passed", "{run}");
    let graded = mock
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["model"] == "gpt-4o")
        .count();
    assert_eq!(graded, 1, "the graded model was called again");
    let attempts = db
        .count("SELECT MAX(attempts) AS n FROM prompt_tracker_jobs")
        .await;
    assert_eq!(attempts, 2, "the job was retried once");
}

/// Test configs written behind the API's back (an adopted PromptTracker database, or SQL):
/// run with PromptTracker's meaning when they can, and otherwise the run ends as `error` with
/// the reason; no run crashes or stays pending.
async fn stored_configs_the_api_refuses_never_crash_a_run(db: TestDb) {
    let (app, mock) = app_with_mock(&db, 2).await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_chat("Hello Ada, welcome")))
        .mount(&mock)
        .await;
    let chat = json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"});
    let test_owner = |t: i64| ("PromptTracker::PromptTest", t);

    // `{}` (what migration 5 writes for a test entry without config): PromptTracker scores a
    // keyword config without keywords 100.
    let (_, t) = setup(&app, "No keywords", chat.clone(), &[], None).await;
    insert_config(&db, test_owner(t), "keyword", json!({}), "sync", None).await;
    let r = run_and_wait(&app, t, json!({})).await;
    assert_eq!(r["runs"][0]["status"], "passed", "{r}");

    // A look-behind cannot run here: the run ends as error, its evaluation is kept in error.
    let (_, t) = setup(&app, "Look-behind", chat.clone(), &[], None).await;
    insert_config(
        &db,
        test_owner(t),
        "pattern_match",
        json!({"patterns": ["/(?<=Hello )Ada/"]}),
        "sync",
        None,
    )
    .await;
    let r = run_and_wait(&app, t, json!({})).await;
    let run = &r["runs"][0];
    assert_eq!(run["status"], "error", "{run}");
    assert_eq!(run["passed"], Value::Null);
    let message = run["error_message"].as_str().unwrap();
    assert!(
        message.starts_with("evaluator `pattern_match` (config ")
            && message.contains("cannot run")
            && message.contains("look-around"),
        "{message}"
    );
    let response = app
        .get(&format!("/api/v1/llm-responses/{}", run["llm_response_id"]))
        .await
        .body;
    let e = &response["evaluations"][0];
    assert_eq!(e["evaluation_context"], "test_run");
    assert_eq!(e["passed"], Value::Null);
    assert!(
        e["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("look-around"),
        "{e}"
    );

    // PromptTracker's own llm_judge config shape: refused before any judge call.
    let (_, t) = setup(&app, "Ruby judge", chat, &[], None).await;
    insert_config(
        &db,
        test_owner(t),
        "llm_judge",
        json!({"judge_model": "gpt-4o", "custom_instructions": "Be kind."}),
        "sync",
        None,
    )
    .await;
    let r = run_and_wait(&app, t, json!({})).await;
    let run = &r["runs"][0];
    assert_eq!(run["status"], "error", "{run}");
    let message = run["error_message"].as_str().unwrap();
    assert!(
        message.contains("llm_judge") && message.contains("config.judge_model"),
        "{message}"
    );
    // One call per run, to the graded model only.
    assert_eq!(mock.received_requests().await.unwrap().len(), 3);
}

/// 100 requests waiting (`?wait=true`) on batches whose runs cannot finish (no workers) cost
/// about one statement a second in all, not one per request: the instance checks every batch
/// that has waiters with one statement per second ([`api::testing::batch_events`]). Counted,
/// not timed: the statements the app sends over a 3 s window once every request waits must be
/// under 5 a second (15). Then the runs are ended by hand in SQL, which wakes nobody and
/// notifies nothing: the fallback poll still answers every request with its finished run.
async fn waiting_requests_share_one_check_a_second(db: TestDb) {
    const WAITERS: i64 = 100;
    const WINDOW_S: u64 = 3;
    let statements = Arc::new(AtomicU64::new(0));
    let app = Arc::new(
        spawn_app_with(
            &db,
            AppOptions {
                // A key, so that runs may start; no worker, so none ends.
                providers: test_providers(Some("http://127.0.0.1:9"), None, None),
                workers: 0,
                statements: Some(statements.clone()),
                ..Default::default()
            },
        )
        .await,
    );
    let (_, t) = setup(
        &app,
        "Waited for",
        json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
        &[],
        None,
    )
    .await;
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post(&format!("/api/v1/tests/{t}/runs?wait=true"), json!({}))
                    .await
            })
        })
        .collect();
    // Every request has stored its batch (and then waits); let their first checks pass.
    let mut batches = 0;
    for _ in 0..1_500 {
        batches = db
            .count("SELECT COUNT(*) AS n FROM prompt_tracker_test_run_batches")
            .await;
        if batches == WAITERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(batches, WAITERS);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = statements.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(WINDOW_S)).await;
    let spent = statements.load(Ordering::SeqCst) - before;
    eprintln!(
        "{WAITERS} waiting requests: {spent} statements in {WINDOW_S} s ({:.2}/s)",
        spent as f64 / WINDOW_S as f64
    );
    assert!(
        spent < 5 * WINDOW_S,
        "{WAITERS} waiting requests cost {spent} statements in {WINDOW_S} s"
    );
    assert!(
        waiters.iter().all(|w| !w.is_finished()),
        "a request answered before its run ended"
    );

    db.exec("UPDATE prompt_tracker_prompt_test_runs SET status = 'skipped'")
        .await;
    for waiter in waiters {
        let answer = tokio::time::timeout(Duration::from_secs(60), waiter)
            .await
            .expect("a waiting request was never answered")
            .expect("request task");
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(
            answer.body["batch"]["verdict"], "skipped",
            "{:?}",
            answer.body
        );
        assert_eq!(answer.body["runs"][0]["status"], "skipped");
    }
}

/// A request waiting on instance A (no workers, and a fallback poll of an hour) is answered
/// with the finished runs when instance B's workers end them: B's `NOTIFY` in the transaction
/// that ends each run reaches A's listener (PostgreSQL only). B starts once A's batch is
/// stored, and the provider answers after 300 ms, so the runs end while A waits.
async fn a_waiter_is_woken_by_another_instance(db: TestDb) {
    if !db.is_postgres() {
        return;
    }
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_chat("welcome"))
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&mock)
        .await;
    let uri = mock.uri();
    let a = Arc::new(
        spawn_app_with(
            &db,
            AppOptions {
                providers: test_providers(Some(&uri), None, None),
                workers: 0,
                wait_fallback_poll: Some(Duration::from_secs(3_600)),
                ..Default::default()
            },
        )
        .await,
    );
    let (_, t) = setup(
        &a,
        "Across instances",
        json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
        &[keyword("welcome")],
        None,
    )
    .await;
    let waiter = tokio::spawn({
        let a = a.clone();
        async move {
            a.post(
                &format!("/api/v1/tests/{t}/runs?wait=true"),
                json!({"rows": [{"name": "Ada"}, {"name": "Bob"}]}),
            )
            .await
        }
    });
    let mut batches = 0;
    for _ in 0..1_500 {
        batches = db
            .count("SELECT COUNT(*) AS n FROM prompt_tracker_test_run_batches")
            .await;
        if batches == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(batches, 1);
    let other = TestDb::connect_same(&db).await;
    let _b = spawn_app_with(
        &other,
        AppOptions {
            providers: test_providers(Some(&uri), None, None),
            workers: 2,
            ..Default::default()
        },
    )
    .await;
    let answer = tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .expect("B's NOTIFY did not wake the request waiting on A")
        .expect("request task");
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        answer.body["batch"]["verdict"], "passed",
        "{:?}",
        answer.body
    );
    let runs = answer.body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["status"] == "passed"), "{runs:?}");
    assert_eq!(mock.received_requests().await.unwrap().len(), 2);
}

db_tests!(
    waiting_requests_share_one_check_a_second,
    a_waiter_is_woken_by_another_instance,
    every_wire_format_runs_end_to_end,
    provider_failures_end_runs_as_errors,
    verdicts_follow_weights_and_thresholds,
    datasets_versions_and_up_front_refusals,
    a_run_killed_mid_way_is_resumed_after_restart,
    two_instances_never_run_the_same_job_twice,
    llm_judge_scores_with_a_real_provider_call,
    a_lost_database_connection_retries_the_run,
    stored_configs_the_api_refuses_never_crash_a_run,
);
