//! Tracked calls, evaluations and stats through real HTTP.

use serde_json::{Value, json};

use crate::db_tests;
use crate::support::{App, TestDb, spawn_app};

/// A prompt with an active gpt-4o version `Hello {{ name }}`, a sync keyword evaluator and
/// an async length evaluator. Returns (prompt id, version id).
async fn setup(app: &App) -> (i64, i64) {
    let p = app
        .create("/api/v1/prompts", json!({"name": "Greeter"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"system_prompt": "Be warm.", "user_prompt": "Hello {{ name }}", "model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/v1/versions/{v}/activate"), json!({}))
        .await;
    app.create(&format!("/api/v1/versions/{v}/evaluator-configs"), json!({"evaluator_key": "keyword", "run_mode": "sync", "config": {"required_keywords": ["welcome"]}})).await;
    app.create(&format!("/api/v1/versions/{v}/evaluator-configs"), json!({"evaluator_key": "length", "run_mode": "async", "config": {"min_length": 1, "max_length": 20}})).await;
    (p, v)
}

async fn tracked_calls_render_cost_and_evaluate(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let (p, v) = setup(&app).await;
    let call = app
        .post(
            "/api/v1/llm-responses",
            json!({"prompt_slug": "greeter", "variables": {"name": "Ada"}, "response_text": "Hi Ada, welcome!",
                   "tokens_prompt": 1000, "tokens_completion": 500, "response_time_ms": 420, "environment": "prod", "session_id": "s1"}),
        )
        .await;
    assert_eq!(call.status, 201, "{:?}", call.body);
    let c = &call.body;
    assert_eq!(c["prompt_id"], p);
    assert_eq!(c["prompt_version_id"], v);
    assert_eq!(c["rendered_prompt"], "Hello Ada");
    assert_eq!(c["rendered_system_prompt"], "Be warm.");
    assert_eq!(c["tokens_total"], 1500);
    assert_eq!(c["status"], "success");
    assert_eq!(
        (
            c["provider"].as_str(),
            c["api"].as_str(),
            c["model"].as_str()
        ),
        (Some("openai"), Some("chat_completion"), Some("gpt-4o"))
    );
    // gpt-4o: $2.50 / $10.00 per million tokens.
    assert_eq!(c["cost_usd"], 0.0075);
    assert_eq!(c["is_test_run"], false);
    let evals = c["evaluations"].as_array().unwrap();
    assert_eq!(
        evals.len(),
        1,
        "only the sync evaluator before the answer: {evals:?}"
    );
    assert_eq!(evals[0]["evaluator_key"], "keyword");
    assert_eq!(evals[0]["evaluation_context"], "tracked_call");
    assert_eq!(evals[0]["passed"], true);
    assert!(evals[0]["evaluator_config_id"].is_i64());
    assert_eq!(
        evals[0]["metadata"]["evaluator_config"]["config"]["required_keywords"],
        json!(["welcome"])
    );
    // The async evaluator runs in the background.
    let id = c["id"].as_i64().unwrap();
    let mut got = Vec::new();
    for _ in 0..100 {
        got = app.get(&format!("/api/v1/llm-responses/{id}")).await.body["evaluations"]
            .as_array()
            .unwrap()
            .clone();
        if got.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["evaluator_key"], "length");
    assert_eq!(got[1]["passed"], true);

    // Explicit version, client cost, unknown model (cost null, never 0), compound provider split.
    let other = app
        .create(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": v, "variables": {"name": "Bob"}, "response_text": "no", "model": "my-finetune", "tokens_prompt": 10, "tokens_completion": 5, "status": "error", "error_type": "rate_limit"}),
        )
        .await;
    assert_eq!(other["cost_usd"], Value::Null);
    assert_eq!(other["evaluations"][0]["passed"], false);
    let paid = app.create("/api/v1/llm-responses", json!({"prompt_version_id": v, "variables": {"name": "C"}, "cost_usd": 0.5, "provider": "openai_responses", "model": "gpt-4o"})).await;
    assert_eq!(paid["cost_usd"], 0.5);
    assert_eq!(
        (paid["provider"].as_str(), paid["api"].as_str()),
        (Some("openai"), Some("response_api"))
    );

    // Bad input: each problem named, nothing stored.
    let before = db
        .count("SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses")
        .await;
    assert_eq!(
        app.post("/api/v1/llm-responses", json!({"prompt_slug": "greeter"}))
            .await
            .problem(422),
        vec!["variables.name"]
    );
    assert_eq!(
        app.post("/api/v1/llm-responses", json!({"prompt_slug": "nope"}))
            .await
            .problem(422),
        vec!["prompt_slug"]
    );
    assert_eq!(
        app.post("/api/v1/llm-responses", json!({}))
            .await
            .problem(422),
        vec!["prompt_version_id"]
    );
    assert_eq!(
        app.post("/api/v1/llm-responses", json!({"prompt_version_id": 99999}))
            .await
            .problem(422),
        vec!["prompt_version_id"]
    );
    let neg = app.post("/api/v1/llm-responses", json!({"prompt_version_id": v, "variables": {"name": "x"}, "tokens_prompt": -1, "cost_usd": -2})).await;
    let mut fields = neg.problem(422);
    fields.sort();
    assert_eq!(fields, vec!["cost_usd", "tokens_prompt"]);
    // A client's cost that rounds past the column's largest value is refused too.
    assert_eq!(
        app.post(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": v, "variables": {"name": "x"}, "cost_usd": 9999.9999996})
        )
        .await
        .problem(422),
        vec!["cost_usd"]
    );
    // A cost computed from absurd token counts would not fit the column: 422, not a 500.
    assert_eq!(
        app.post("/api/v1/llm-responses", json!({"prompt_version_id": v, "variables": {"name": "x"}, "tokens_prompt": 2_000_000_000, "tokens_completion": 2_000_000_000}))
            .await
            .problem(422),
        vec!["cost_usd"]
    );
    assert_eq!(
        app.post(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": v, "status": "great"})
        )
        .await
        .problem(422),
        vec!["status"]
    );
    let draft_only = app
        .create("/api/v1/prompts", json!({"name": "Drafty"}))
        .await;
    app.create(
        &format!("/api/v1/prompts/{}/versions", draft_only["id"]),
        json!({"user_prompt": "x", "model_config": {"provider": "openai", "model": "gpt-4o"}}),
    )
    .await;
    assert_eq!(
        app.post("/api/v1/llm-responses", json!({"prompt_slug": "drafty"}))
            .await
            .problem(422),
        vec!["prompt_slug"]
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses")
            .await,
        before
    );

    // The version is now frozen.
    app.patch(
        &format!("/api/v1/versions/{v}"),
        json!({"user_prompt": "Bye"}),
    )
    .await
    .problem(409);

    // Lists and filters.
    let all = app.get("/api/v1/llm-responses").await.body;
    let ids: Vec<i64> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let count = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            app.get(&format!("/api/v1/llm-responses?{q}")).await.body["data"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("status=error").await, 1);
    assert_eq!(count("api=response_api").await, 1);
    assert_eq!(
        count(&format!("prompt_id={p}&environment=prod&session_id=s1")).await,
        1
    );
    assert_eq!(count("model=gpt-4o&is_test_run=false").await, 2);
    assert_eq!(count(&format!("version_id={v}&provider=openai")).await, 3);
    assert_eq!(
        count("since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z").await,
        3
    );
    assert_eq!(count("until=2000-01-01T00:00:00Z").await, 0);
    app.get("/api/v1/llm-responses?since=yesterday")
        .await
        .problem(422);
    app.get("/api/v1/llm-responses/424242").await.problem(404);

    // Manual evaluations and the evaluations list.
    let manual = app
        .create(
            &format!("/api/v1/llm-responses/{id}/evaluations"),
            json!({"score": 35, "passed": false, "feedback": "too curt"}),
        )
        .await;
    assert_eq!(manual["evaluation_context"], "manual");
    assert_eq!(manual["evaluator_key"], "manual");
    assert_eq!(
        app.post(
            &format!("/api/v1/llm-responses/{id}/evaluations"),
            json!({"score": 101})
        )
        .await
        .problem(422),
        vec!["score"]
    );
    app.post(
        "/api/v1/llm-responses/424242/evaluations",
        json!({"score": 1}),
    )
    .await
    .problem(404);
    let evals = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            app.get(&format!("/api/v1/evaluations?{q}")).await.body["data"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(evals("evaluation_context=manual").await, 1);
    assert_eq!(evals(&format!("llm_response_id={id}")).await, 3);
    assert_eq!(
        evals(&format!("version_id={v}&evaluator_key=keyword")).await,
        3
    );
    // A manual evaluation is found by its response's version too.
    assert_eq!(
        evals(&format!("version_id={v}&evaluation_context=manual")).await,
        1
    );
    assert_eq!(evals("version_id=424242").await, 0);
    // "no" and the call without text fail the keyword check.
    assert_eq!(evals("passed=false&evaluator_key=keyword").await, 2);
}

async fn idempotency_keys_make_retries_safe(db: TestDb) {
    let app = std::sync::Arc::new(spawn_app(&db, None).await);
    let (_, v) = setup(&app).await;
    let body =
        json!({"prompt_version_id": v, "variables": {"name": "Ada"}, "response_text": "welcome"});
    let send = |key: &'static str, body: Value| {
        let app = app.clone();
        async move {
            app.client
                .post(format!("{}/api/v1/llm-responses", app.base))
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = send("k-1", body.clone()).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send("k-1", body.clone()).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = send(
        "k-1",
        json!({"prompt_version_id": v, "variables": {"name": "Eve"}}),
    )
    .await;
    assert_eq!(other.status(), 422);
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses")
            .await,
        1
    );

    // Concurrent retries of one request: one row, the same answer for all.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(send("k-2", body.clone())));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        let status = r.status().as_u16();
        let b: Value = r.json().await.unwrap();
        assert!(status == 201 || status == 409, "{status} {b}");
        if status == 201 {
            ids.insert(b["id"].as_i64().unwrap());
        }
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses")
            .await,
        2
    );
}

async fn version_stats_are_computed_in_sql(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let (_, v) = setup(&app).await;
    for (i, ms) in [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
        .iter()
        .enumerate()
    {
        let text = if i < 7 { "welcome" } else { "nope" };
        let status = if i == 9 { "error" } else { "success" };
        app.create(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": v, "variables": {"name": "x"}, "response_text": text, "status": status, "response_time_ms": ms, "tokens_prompt": 100, "tokens_completion": 10, "cost_usd": 0.01}),
        )
        .await;
    }
    db.exec(&format!(
        "INSERT INTO prompt_tracker_llm_responses (prompt_version_id, rendered_prompt, status, provider, model, response_time_ms, is_test_run, created_at, updated_at)
         VALUES ({v}, 'Hello t', 'success', 'openai', 'gpt-4o', 50, TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ))
    .await;
    let s = app.get(&format!("/api/v1/versions/{v}/stats")).await;
    assert_eq!(s.status, 200, "{:?}", s.body);
    let t = &s.body["tracked_calls"];
    assert_eq!(t["calls"], 10);
    assert_eq!(t["success_rate"], 0.9);
    assert_eq!(t["latency_ms_p50"], 500);
    assert_eq!(t["latency_ms_p95"], 1000);
    assert_eq!(t["tokens_prompt"], 1000);
    assert_eq!(t["tokens_total"], 1100);
    assert!((t["cost_usd"].as_f64().unwrap() - 0.1).abs() < 1e-9, "{t}");
    let kw = t["evaluators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["evaluator_key"] == "keyword")
        .unwrap();
    assert_eq!(kw["evaluations"], 10);
    assert_eq!(kw["pass_rate"], 0.7);
    let test = &s.body["test_calls"];
    assert_eq!(test["calls"], 1);
    assert_eq!(test["latency_ms_p50"], 50);
    let empty = app
        .get(&format!(
            "/api/v1/versions/{v}/stats?until=2000-01-01T00:00:00Z"
        ))
        .await
        .body;
    assert_eq!(empty["tracked_calls"]["calls"], 0);
    assert_eq!(empty["tracked_calls"]["success_rate"], Value::Null);
    app.get(&format!(
        "/api/v1/versions/{v}/stats?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z"
    ))
    .await
    .problem(422);
    app.get("/api/v1/versions/99999/stats").await.problem(404);
}

/// A tracked call answered from an instance's cache of versions and configs sees every change
/// at once, whoever makes it: another instance of the service, or plain SQL (the triggers of
/// migration 16 advance the version's revision, which the insert checks). Without `async`
/// evaluators a call is one statement on PostgreSQL; see the `_in_transactions` variant.
async fn cached_versions_follow_every_change(db: TestDb) {
    follow_every_change(db, false).await
}

/// The same with an `async` evaluator on the version: every call is a transaction that also
/// enqueues a job.
async fn cached_versions_follow_every_change_in_transactions(db: TestDb) {
    follow_every_change(db, true).await
}

async fn follow_every_change(db: TestDb, keep_async: bool) {
    let a = spawn_app(&db, None).await;
    let b = spawn_app(&db, None).await;
    let (_, v) = setup(&a).await;
    if !keep_async {
        db.exec("DELETE FROM prompt_tracker_evaluator_configs WHERE run_mode = 'async'")
            .await;
    }
    let jobs = || db.count("SELECT COUNT(*) AS n FROM prompt_tracker_jobs");
    let jobs_before = jobs().await;
    let track = |body: Value| {
        let a = &a;
        async move { a.post("/api/v1/llm-responses", body).await }
    };
    let keyword = |call: &Value| {
        let evals = call["evaluations"].as_array().unwrap();
        assert!(evals.len() <= 1, "{evals:?}");
        evals.first().map(|e| {
            (
                e["passed"].as_bool().unwrap(),
                e["metadata"]["evaluator_config"]["config"]["required_keywords"].clone(),
            )
        })
    };
    let by_slug = json!({"prompt_slug": "greeter", "variables": {"name": "Ada"}, "response_text": "welcome, hello"});
    let by_id =
        json!({"prompt_version_id": v, "variables": {"name": "Ada"}, "response_text": "welcome"});
    // Both keys cached by instance a.
    assert_eq!(
        keyword(&track(by_slug.clone()).await.body),
        Some((true, json!(["welcome"])))
    );
    assert_eq!(
        keyword(&track(by_id.clone()).await.body),
        Some((true, json!(["welcome"])))
    );

    // Instance b edits the sync config: a's next call evaluates with the new one.
    let configs = b
        .get(&format!("/api/v1/versions/{v}/evaluator-configs"))
        .await
        .body;
    let kw = configs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["evaluator_key"] == "keyword")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let patched = b
        .patch(
            &format!("/api/v1/evaluator-configs/{kw}"),
            json!({"config": {"required_keywords": ["goodbye"]}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(
        keyword(&track(by_id.clone()).await.body),
        Some((false, json!(["goodbye"])))
    );
    assert_eq!(
        keyword(&track(by_slug.clone()).await.body),
        Some((false, json!(["goodbye"])))
    );

    // Plain SQL disables it: no sync evaluation any more.
    db.exec("UPDATE prompt_tracker_evaluator_configs SET enabled = false WHERE evaluator_key = 'keyword'")
        .await;
    assert_eq!(keyword(&track(by_id.clone()).await.body), None);
    // b adds one back.
    b.create(&format!("/api/v1/versions/{v}/evaluator-configs"), json!({"evaluator_key": "exact_match", "run_mode": "sync", "config": {"expected_text": "welcome"}})).await;
    let call = track(by_id.clone()).await.body;
    assert_eq!(
        call["evaluations"][0]["evaluator_key"], "exact_match",
        "{call:?}"
    );

    // b activates a new version: the slug now names it.
    let p = call["prompt_id"].as_i64().unwrap();
    let v2 = b
        .create(&format!("/api/v1/prompts/{p}/versions"), json!({"user_prompt": "Hi {{ name }}", "model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}}))
        .await["id"]
        .as_i64()
        .unwrap();
    b.post(&format!("/api/v1/versions/{v2}/activate"), json!({}))
        .await;
    let call = track(by_slug.clone()).await.body;
    assert_eq!(
        (
            call["prompt_version_id"].as_i64(),
            call["rendered_prompt"].as_str()
        ),
        (Some(v2), Some("Hi Ada")),
        "{call:?}"
    );

    // A 422 computed from a cached entry is checked against a fresh read: v3 requires `name`
    // (a caches that), then b makes it optional with a default.
    let v3 = b
        .create(&format!("/api/v1/prompts/{p}/versions"), json!({"user_prompt": "Yo {{ name }}", "model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}}))
        .await["id"]
        .as_i64()
        .unwrap();
    let no_name = json!({"prompt_version_id": v3, "response_text": "x"});
    assert_eq!(
        track(no_name.clone()).await.problem(422),
        vec!["variables.name"]
    );
    let patched = b
        .patch(
            &format!("/api/v1/versions/{v3}"),
            json!({"variables_schema": [{"name": "name", "type": "string", "required": false, "default": "you"}]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let call = track(no_name).await;
    assert_eq!(call.status, 201, "{:?}", call.body);
    assert_eq!(call.body["rendered_prompt"], "Yo you");

    // b renames the prompt: the old slug is unknown to a at once, the new one works.
    let renamed = b
        .patch(&format!("/api/v1/prompts/{p}"), json!({"slug": "welcomer"}))
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(
        track(by_slug.clone()).await.problem(422),
        vec!["prompt_slug"]
    );
    let mut renamed_call = by_slug.clone();
    renamed_call["prompt_slug"] = json!("welcomer");
    assert_eq!(track(renamed_call).await.body["prompt_version_id"], v2);
    // A slug that does not match the version is refused, also from the cache.
    let mut wrong = by_id.clone();
    wrong["prompt_slug"] = json!("greeter");
    assert_eq!(track(wrong).await.problem(422), vec!["prompt_version_id"]);

    // One job per call of v while it had the async evaluator, none without it.
    let calls_of_v = db
        .count(&format!(
            "SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses WHERE prompt_version_id = {v}"
        ))
        .await;
    assert_eq!(
        jobs().await - jobs_before,
        if keep_async { calls_of_v } else { 0 }
    );
}

/// Every `sync` evaluation is stored with its response, in config order (priority, then id),
/// and the answer of `POST /llm-responses` is exactly what `GET /llm-responses/{id}` reads
/// back: the ids, the evaluations' `llm_response_id`, timestamps and scores built in memory
/// match the stored rows.
async fn sync_evaluations_are_stored_with_the_response(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let (_, v) = setup(&app).await;
    db.exec("DELETE FROM prompt_tracker_evaluator_configs WHERE run_mode = 'async'")
        .await;
    for (key, priority, config) in [
        ("length", 2, json!({"min_length": 1, "max_length": 10})),
        ("exact_match", 0, json!({"expected_text": "welcome"})),
        ("pattern_match", 1, json!({"patterns": ["/^wel/i"]})),
    ] {
        app.create(&format!("/api/v1/versions/{v}/evaluator-configs"), json!({"evaluator_key": key, "run_mode": "sync", "priority": priority, "config": config})).await;
    }
    for text in ["welcome", "welcome to a much longer answer"] {
        let call = app
            .post(
                "/api/v1/llm-responses",
                json!({"prompt_version_id": v, "variables": {"name": "Ada"}, "response_text": text, "tokens_prompt": 7, "tokens_completion": 3}),
            )
            .await;
        assert_eq!(call.status, 201, "{:?}", call.body);
        let id = call.body["id"].as_i64().unwrap();
        let evals = call.body["evaluations"].as_array().unwrap();
        let keys: Vec<_> = evals.iter().map(|e| e["evaluator_key"].clone()).collect();
        // setup's keyword evaluator has the default priority 0 and the lowest id.
        assert_eq!(
            keys,
            ["keyword", "exact_match", "pattern_match", "length"],
            "{evals:?}"
        );
        assert!(
            evals.iter().all(|e| e["llm_response_id"] == id),
            "{evals:?}"
        );
        let passed: Vec<_> = evals.iter().map(|e| e["passed"].as_bool()).collect();
        let long = text.len() > 10;
        assert_eq!(
            passed,
            [Some(true), Some(!long), Some(true), Some(!long)],
            "{evals:?}"
        );
        let read = app.get(&format!("/api/v1/llm-responses/{id}")).await;
        assert_eq!(read.body, call.body);
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) AS n FROM prompt_tracker_evaluations WHERE llm_response_id = {id}"
            ))
            .await,
            4
        );
    }
}

/// Every list page, with and without filters, holds the rows exactly as `GET` reads them one by
/// one (every column, NULLs included: on PostgreSQL lists decode rows by position, single reads
/// by name), newest first, and following `next_cursor` visits each matching row once.
async fn list_pages_hold_the_stored_rows(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let (p, v) = setup(&app).await;
    // No background evaluations appearing while the lists are read.
    db.exec("DELETE FROM prompt_tracker_evaluator_configs WHERE run_mode = 'async'")
        .await;
    // A version of another prompt: lists take each row's prompt id from its version.
    let q = app
        .create("/api/v1/prompts", json!({"name": "Farewell"}))
        .await["id"]
        .as_i64()
        .unwrap();
    assert_ne!(p, q);
    let other = app
        .create(
            &format!("/api/v1/prompts/{q}/versions"),
            json!({"user_prompt": "Bye {{ name }}", "model_config": {"provider": "anthropic", "model": "claude-3-5-haiku-latest"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    for i in 0..7 {
        let body = if i % 2 == 0 {
            json!({"prompt_version_id": v, "variables": {"name": format!("n{i}")}, "response_text": format!("welcome {i}"),
                   "tokens_prompt": 10 + i, "tokens_completion": 20 + i, "response_time_ms": 100 + i,
                   "environment": "prod", "session_id": format!("s{i}"), "user_id": format!("u{i}"),
                   "context": {"i": i}, "response_metadata": {"finish_reason": "stop"}})
        } else {
            json!({"prompt_version_id": other, "variables": {"name": format!("n{i}")}, "status": "error",
                   "error_type": "RateLimitError", "error_message": format!("slow down {i}")})
        };
        app.create("/api/v1/llm-responses", body).await;
    }
    // The responses and evaluations as single reads give them.
    let mut responses = Vec::new();
    let mut evaluations = Vec::new();
    for r in walk(&app, "/api/v1/llm-responses?limit=3").await {
        let mut read = app
            .get(&format!("/api/v1/llm-responses/{}", r["id"]))
            .await
            .body;
        evaluations.extend(read["evaluations"].as_array().unwrap().iter().cloned());
        read["evaluations"] = json!([]);
        assert_eq!(r, read);
        responses.push(r);
    }
    assert_eq!(responses.len(), 7);
    assert_eq!(responses.iter().filter(|r| r["prompt_id"] == q).count(), 3);
    assert!(
        responses
            .iter()
            .any(|r| r["rendered_system_prompt"].is_null())
    );
    assert!(
        responses
            .iter()
            .any(|r| r["error_type"] == "RateLimitError")
    );
    evaluations.sort_by_key(|e| std::cmp::Reverse(e["id"].as_i64()));
    assert_eq!(
        evaluations.len(),
        4,
        "a sync keyword evaluation per call of v"
    );
    assert_eq!(walk(&app, "/api/v1/evaluations?limit=2").await, evaluations);

    // The rows of one version among `rows`.
    let of_version = |rows: &[Value], version: i64| -> Vec<Value> {
        rows.iter()
            .filter(|r| r["prompt_version_id"] == version)
            .cloned()
            .collect()
    };
    let only = |version: i64| of_version(&responses, version);
    assert_eq!(
        walk(
            &app,
            &format!("/api/v1/llm-responses?version_id={v}&limit=2")
        )
        .await,
        only(v)
    );
    assert_eq!(
        walk(
            &app,
            &format!("/api/v1/llm-responses?version_id={other}&limit=2")
        )
        .await,
        only(other)
    );
    assert_eq!(
        walk(&app, "/api/v1/llm-responses?status=error&limit=1").await,
        only(other)
    );
    let of_v: Vec<Value> = evaluations
        .iter()
        .filter(|e| only(v).iter().any(|r| r["id"] == e["llm_response_id"]))
        .cloned()
        .collect();
    assert_eq!(
        walk(&app, &format!("/api/v1/evaluations?version_id={v}&limit=3")).await,
        of_v
    );

    // Read again: the same rows (on PostgreSQL a page query's second answer caches its rows'
    // JSON, later answers take the rows they can from there).
    assert_eq!(walk(&app, "/api/v1/llm-responses?limit=3").await, responses);
    assert_eq!(walk(&app, "/api/v1/evaluations?limit=2").await, evaluations);
    // Rows changed or deleted behind the service's back (an operator's SQL, another
    // instance): every list shows them as they are now.
    let changed = responses[1]["id"].as_i64().unwrap();
    let deleted = responses[4]["id"].as_i64().unwrap();
    let evaluation = evaluations[0]["id"].as_i64().unwrap();
    for sql in [
        format!(
            "UPDATE prompt_tracker_llm_responses SET response_text = 'edited', tokens_total = 999 WHERE id = {changed}"
        ),
        format!(
            "UPDATE prompt_tracker_evaluations SET feedback = 'edited' WHERE id = {evaluation}"
        ),
        format!("DELETE FROM prompt_tracker_evaluations WHERE llm_response_id = {deleted}"),
        format!("DELETE FROM prompt_tracker_llm_responses WHERE id = {deleted}"),
    ] {
        db.exec(&sql).await;
    }
    let mut now = responses.clone();
    now.retain(|r| r["id"] != deleted);
    for r in now.iter_mut().filter(|r| r["id"] == changed) {
        r["response_text"] = json!("edited");
        r["tokens_total"] = json!(999);
    }
    let version_of_changed = now.iter().find(|r| r["id"] == changed).unwrap()["prompt_version_id"]
        .as_i64()
        .unwrap();
    assert_eq!(walk(&app, "/api/v1/llm-responses?limit=3").await, now);
    assert_eq!(
        walk(
            &app,
            &format!("/api/v1/llm-responses?version_id={version_of_changed}&limit=2")
        )
        .await,
        of_version(&now, version_of_changed)
    );
    let mut evaluations_now = evaluations.clone();
    evaluations_now.retain(|e| e["llm_response_id"] != deleted);
    evaluations_now[0]["feedback"] = json!("edited");
    assert_eq!(
        walk(&app, "/api/v1/evaluations?limit=2").await,
        evaluations_now
    );
    assert_eq!(
        app.get(&format!("/api/v1/llm-responses/{changed}"))
            .await
            .body["response_text"],
        "edited"
    );
}

/// Every row of a list, following `next_cursor` from `first`; checks ids descend.
async fn walk(app: &App, first: &str) -> Vec<Value> {
    let mut rows: Vec<Value> = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page = app.get(&path).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        rows.extend(page.body["data"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={cursor}"),
            None => break,
        }
    }
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{first}: {ids:?}");
    rows
}

/// The positional reader of the PostgreSQL lists checks every column's name and type on the
/// first row, also where that row's value is NULL, and reads the rows sharing its columns.
async fn positional_reads_check_names_and_types(db: TestDb) {
    if !db.is_postgres() {
        return; // SQLite lists read SeaORM models
    }
    use api::store::positional::{Columns, read_all};
    use sea_orm::{ConnectionTrait, DbErr, Statement};
    let query = |sql: &str| {
        let stmt = Statement::from_string(db.backend(), sql.to_owned());
        let conn = &db.conn;
        async move { conn.query_all_raw(stmt).await.unwrap() }
    };
    let read = |c: &mut Columns<'_>| -> Result<(i64, Option<String>), DbErr> {
        Ok((
            c.next("id")?,
            c.next::<Option<&str>>("name")?.map(str::to_owned),
        ))
    };
    let rows =
        query("SELECT * FROM (VALUES (1::int8, NULL::text), (2, 'b'), (3, 'c')) AS t(id, name)")
            .await;
    assert_eq!(
        read_all(&rows, read).unwrap(),
        vec![
            (1, None),
            (2, Some("b".to_owned())),
            (3, Some("c".to_owned()))
        ]
    );
    // A type the reader does not decode, NULL in the first row: refused on the first row.
    let rows = query("SELECT * FROM (VALUES (1::int8, NULL::int4), (2, 5)) AS t(id, name)").await;
    let err = read_all(&rows, read).unwrap_err().to_string();
    assert!(err.contains("\"name\"") && err.contains("INT4"), "{err}");
    // A column out of place: refused, naming what was found.
    let rows = query("SELECT 'a'::text AS name, 1::int8 AS id").await;
    let err = read_all(&rows, read).unwrap_err().to_string();
    assert!(
        err.contains("column 0 is Some(\"name\"), expected \"id\""),
        "{err}"
    );
    // A reader that stops early on a row (a cached row: `row_cache`) leaves the checks on for
    // the next row, which is read in full and refused.
    let rows = query("SELECT * FROM (VALUES (1::int8, NULL::int4), (2, 5)) AS t(id, name)").await;
    let stop_at_1 = |c: &mut Columns<'_>| -> Result<(i64, Option<String>), DbErr> {
        let id: i64 = c.next("id")?;
        if id == 1 {
            return Ok((id, None));
        }
        Ok((id, c.next::<Option<&str>>("name")?.map(str::to_owned)))
    };
    let err = read_all(&rows, stop_at_1).unwrap_err().to_string();
    assert!(err.contains("\"name\"") && err.contains("INT4"), "{err}");
}

/// The list cache (`api::store::row_cache`) on a table of its own: a new page query reads its rows
/// in full; a page read again reads ids and versions, then only the rows changed since (with
/// their new values) or not held; a deleted row is gone; each page's JSON is what a plain read
/// gives; without a cache every row is read every time.
async fn cached_list_rows_are_checked_against_their_versions(db: TestDb) {
    if !db.is_postgres() {
        return; // the cache serves the PostgreSQL lists only
    }
    use api::store::row_cache::{PageStatements, RowCache, row_version_expr};
    use sea_orm::Statement;
    db.exec("CREATE TABLE row_cache_probe (id int8 PRIMARY KEY, name text NOT NULL)")
        .await;
    db.exec("INSERT INTO row_cache_probe VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        .await;
    // Pages of 2 rows, newest first (3 rows fetched: the third tells a next page exists).
    let statements = || {
        let sql = |columns: &str| {
            Statement::from_string(
                db.backend(),
                format!(
                    "SELECT {} AS row_version, {columns} FROM row_cache_probe ORDER BY id DESC LIMIT 3",
                    row_version_expr("row_cache_probe")
                ),
            )
        };
        PageStatements {
            rows: sql("id, name"),
            ids: sql("id"),
            table: "row_cache_probe",
            columns: vec!["id", "name"],
            keyset: api::store::pagination::Keyset {
                limit: 2,
                after: None,
            },
        }
    };
    // (rows read in full, the page's rows, the id the next page starts after)
    let read = |cache: &RowCache| {
        let cache = cache.clone();
        let conn = db.conn.clone();
        async move {
            let fetched = cache.fetch(&conn, statements()).await.unwrap();
            let read = fetched.read_count();
            let rows = fetched
                .read(|id, c| -> Result<(i64, &str), sea_orm::DbErr> { Ok((id, c.next("name")?)) })
                .unwrap();
            let page: Value =
                serde_json::from_slice(&cache.page_json(&fetched, rows, 64).unwrap()).unwrap();
            let next = page["next_cursor"].as_str().map(str::to_owned);
            (read, page["data"].clone(), next)
        }
    };
    let after = |id: i64| Some(api::store::pagination::encode(id));
    let cache = RowCache::new(1 << 20);
    let first = json!([[3, "three"], [2, "two"]]);
    assert_eq!(read(&cache).await, (2, first.clone(), after(2)));
    assert_eq!(cache.len(), 0, "a page query's first answer caches nothing");
    assert_eq!(read(&cache).await, (2, first.clone(), after(2)));
    assert_eq!(
        cache.len(),
        2,
        "the second caches the page's rows (not the extra one)"
    );
    assert_eq!(
        read(&cache).await,
        (0, first, after(2)),
        "then, unchanged, ids only"
    );
    db.exec("UPDATE row_cache_probe SET name = 'TWO' WHERE id = 2")
        .await;
    assert_eq!(
        read(&cache).await,
        (1, json!([[3, "three"], [2, "TWO"]]), after(2))
    );
    assert_eq!(read(&cache).await.0, 0);
    // An update that writes the same values is still a new row version: read again.
    db.exec("UPDATE row_cache_probe SET name = name WHERE id = 3")
        .await;
    assert_eq!(read(&cache).await.0, 1);
    db.exec("DELETE FROM row_cache_probe WHERE id = 2").await;
    db.exec("INSERT INTO row_cache_probe VALUES (4, 'four')")
        .await;
    assert_eq!(
        read(&cache).await,
        (1, json!([[4, "four"], [3, "three"]]), after(3))
    );
    db.exec("DELETE FROM row_cache_probe WHERE id IN (1, 3)")
        .await;
    assert_eq!(read(&cache).await, (0, json!([[4, "four"]]), None));
    // Without a cache every row is read, every time.
    let none = RowCache::new(0);
    db.exec("INSERT INTO row_cache_probe VALUES (5, 'five')")
        .await;
    for _ in 0..3 {
        assert_eq!(
            read(&none).await,
            (2, json!([[5, "five"], [4, "four"]]), None)
        );
    }
    db.exec("DROP TABLE row_cache_probe").await;
}

/// Inserts an evaluator config on `owner` (`PromptTracker::PromptVersion` or
/// `PromptTracker::PromptTest`) by SQL, behind the API's back, as an adopted PromptTracker
/// database has them.
pub(crate) async fn insert_config(
    db: &TestDb,
    owner: (&str, i64),
    key: &str,
    config: Value,
    run_mode: &str,
    threshold: Option<i32>,
) {
    let config = config.to_string().replace('\'', "''");
    let threshold = threshold.map_or("NULL".to_owned(), |t| t.to_string());
    db.exec(&format!(
        "INSERT INTO prompt_tracker_evaluator_configs (configurable_type, configurable_id, evaluator_key, config, run_mode, threshold, created_at, updated_at)
         VALUES ('{}', {}, '{key}', '{config}', '{run_mode}', {threshold}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        owner.0, owner.1
    ))
    .await;
}

/// Configs PromptTracker accepted (or that were written by SQL) which the API would refuse:
/// a tracked call is still 201 and recorded; configs that can run (PromptTracker's meaning)
/// are scored, the others are recorded as evaluations in error with the reason, in the answer,
/// the response's page, the evaluation list and the stats.
async fn stored_configs_the_api_refuses_never_fail_a_call(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let p = app
        .create("/api/v1/prompts", json!({"name": "Adopted"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "Hello {{ name }}"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/v1/versions/{v}/activate"), json!({}))
        .await;
    let owner = ("PromptTracker::PromptVersion", v);
    // Valid in PromptTracker, and run with its meaning here: no keywords scores 100; type
    // names are case-insensitive and unknown ones accept anything.
    insert_config(&db, owner, "keyword", json!({}), "sync", None).await;
    let types = json!({"format": "json", "schema": {"types": {"name": "String", "born": "date"}}});
    insert_config(&db, owner, "format", types, "sync", None).await;
    // Cannot run here: a look-behind (Onigmo has it, the regex crate not), a non-string
    // expected text (PromptTracker compares with its `to_s`), a config that does not validate
    // (async), an unknown evaluator (async).
    insert_config(
        &db,
        owner,
        "pattern_match",
        json!({"patterns": ["/(?<=a)b/"]}),
        "sync",
        None,
    )
    .await;
    insert_config(
        &db,
        owner,
        "exact_match",
        json!({"expected_text": 42}),
        "sync",
        Some(80),
    )
    .await;
    insert_config(
        &db,
        owner,
        "length",
        json!({"min_length": 50, "max_length": 5}),
        "async",
        None,
    )
    .await;
    insert_config(&db, owner, "sentiment", json!({}), "sync", None).await;

    let call = app
        .post(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": v, "variables": {"name": "Ada"}, "model": "gpt-4o", "response_text": "{\"name\": \"Ada\", \"born\": 1815}"}),
        )
        .await;
    assert_eq!(call.status, 201, "{:?}", call.body);
    let id = call.body["id"].as_i64().unwrap();
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) AS n FROM prompt_tracker_llm_responses WHERE id = {id}"
        ))
        .await,
        1
    );
    let evals = call.body["evaluations"].as_array().unwrap();
    let by_key = |evals: &[Value], key: &str| -> Value {
        evals
            .iter()
            .find(|e| e["evaluator_key"] == key)
            .unwrap_or_else(|| panic!("no {key} evaluation in {evals:?}"))
            .clone()
    };
    assert_eq!(evals.len(), 4, "the sync ones: {evals:?}");
    let keyword = by_key(evals, "keyword");
    assert_eq!(
        (keyword["score"].as_f64(), keyword["passed"].as_bool()),
        (Some(100.0), Some(true))
    );
    let format = by_key(evals, "format");
    assert_eq!(
        (format["score"].as_f64(), format["passed"].as_bool()),
        (Some(100.0), Some(true)),
        "{format}"
    );
    let pattern = by_key(evals, "pattern_match");
    assert_eq!(pattern["passed"], Value::Null);
    assert_eq!(pattern["score"], 0.0);
    let reason = pattern["metadata"]["error"].as_str().unwrap();
    assert!(
        reason.contains("config.patterns[0]") && reason.contains("look-around"),
        "{reason}"
    );
    assert_eq!(pattern["feedback"], format!("Not evaluated: {reason}"));
    assert_eq!(
        pattern["metadata"]["evaluator_config"]["config"],
        json!({"patterns": ["/(?<=a)b/"]})
    );
    let exact = by_key(evals, "exact_match");
    assert_eq!(exact["passed"], Value::Null);
    assert!(
        exact["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("config.expected_text"),
        "{exact}"
    );

    // The async ones (and the unknown key, which never runs inline) follow in the background.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = app.get(&format!("/api/v1/llm-responses/{id}")).await.body["evaluations"]
            .as_array()
            .unwrap()
            .clone();
        if got.len() == 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(got.len(), 6, "{got:?}");
    let length = by_key(&got, "length");
    assert_eq!(length["passed"], Value::Null);
    assert!(
        length["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("config.min_length"),
        "{length}"
    );
    let unknown = by_key(&got, "sentiment");
    assert_eq!(unknown["passed"], Value::Null);
    assert!(
        unknown["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("unknown evaluator `sentiment`"),
        "{unknown}"
    );
    // The job ends done: neither failed nor queued again for a retry.
    let mut pending = -1;
    for _ in 0..100 {
        pending = db
            .count("SELECT COUNT(*) AS n FROM prompt_tracker_jobs WHERE status <> 'done'")
            .await;
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0);

    // The list shows them too.
    let listed = app
        .get(&format!("/api/v1/evaluations?llm_response_id={id}"))
        .await
        .body;
    let listed = listed["data"].as_array().unwrap();
    assert_eq!(listed.len(), 6);
    let listed_pattern = by_key(listed, "pattern_match");
    assert_eq!(
        listed_pattern["metadata"]["error"],
        pattern["metadata"]["error"]
    );
    assert_eq!(listed_pattern["passed"], Value::Null);

    // Stats count them, without a verdict or a score.
    let stats = app.get(&format!("/api/v1/versions/{v}/stats")).await.body;
    let evaluators = stats["tracked_calls"]["evaluators"].as_array().unwrap();
    let pattern_stats = evaluators
        .iter()
        .find(|e| e["evaluator_key"] == "pattern_match")
        .unwrap();
    assert_eq!(pattern_stats["evaluations"], 1);
    assert_eq!(pattern_stats["pass_rate"], Value::Null);
    assert_eq!(pattern_stats["mean_score"], Value::Null);
    let keyword_stats = evaluators
        .iter()
        .find(|e| e["evaluator_key"] == "keyword")
        .unwrap();
    assert_eq!(keyword_stats["mean_score"], 100.0);
    // /metrics counts the evaluations whose config could not run (a per-process counter: the
    // other tests of this binary may add to it, never subtract).
    let metrics = crate::observability::scrape(&app).await;
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "prompt_tracker_evaluation_config_errors_total{evaluator=\"pattern_match\"}"
        )),
        "{metrics}"
    );
}

db_tests!(
    positional_reads_check_names_and_types,
    cached_list_rows_are_checked_against_their_versions,
    tracked_calls_render_cost_and_evaluate,
    idempotency_keys_make_retries_safe,
    version_stats_are_computed_in_sql,
    cached_versions_follow_every_change,
    cached_versions_follow_every_change_in_transactions,
    sync_evaluations_are_stored_with_the_response,
    list_pages_hold_the_stored_rows,
    stored_configs_the_api_refuses_never_fail_a_call
);

/// Clients that give up mid-request never leave a connection inside an open transaction:
/// later writes persist (sqlx 0.9.0 could otherwise keep a cancelled BEGIN open).
async fn abandoned_requests_lose_no_later_writes(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let (_, v) = setup(&app).await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(2))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let client = impatient.clone();
        let url = format!("{}/api/v1/llm-responses", app.base);
        tasks.push(tokio::spawn(async move {
            let _ = client.post(url).json(&json!({"prompt_version_id": v, "variables": {"name": format!("n{i}")}, "response_text": "welcome"})).send().await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for i in 0..20 {
        let p = app
            .create("/api/v1/prompts", json!({"name": format!("after {i}")}))
            .await;
        let got = app.get(&format!("/api/v1/prompts/{}", p["id"])).await;
        assert_eq!(
            got.status, 200,
            "prompt {i} was answered 201 but is not stored"
        );
    }
    if db.is_postgres() {
        let open = db
            .count("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'")
            .await;
        assert_eq!(open, 0, "a connection was left inside a transaction");
    }
}

db_tests!(abandoned_requests_lose_no_later_writes);
