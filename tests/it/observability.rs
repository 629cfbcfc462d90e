//! Operability: `GET /metrics` (Prometheus text format) and request ids (`X-Request-Id`,
//! echoed or generated, repeated as `request_id` in problem+json bodies).
//!
//! The event counters are process-wide (one recorder per process, shared by every app the
//! tests start at once), so their assertions are lower bounds; the gauges read at scrape time
//! are the scraped app's own and are checked exactly.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::db_tests;
use crate::support::{App, AppOptions, TestDb, spawn_app, spawn_app_with, test_providers};

/// `GET /metrics` (with the app's token, if any): asserts a 200 in the text format, returns
/// the text.
pub async fn scrape(app: &App) -> String {
    let mut req = app.client.get(format!("{}/metrics", app.base));
    if let Some(token) = &app.token {
        req = req.bearer_auth(token);
    }
    let res = req.send().await.expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    res.text().await.expect("body")
}

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

async fn metrics_show_requests_by_route_template_pool_and_jobs(db: TestDb) {
    let mock = MockServer::start().await;
    // No workers: an enqueued run stays queued, so the job gauge is known exactly.
    let app = spawn_app_with(
        &db,
        AppOptions {
            providers: test_providers(Some(&mock.uri()), None, None),
            workers: 0,
            ..Default::default()
        },
    )
    .await;
    let p = app
        .create("/api/v1/prompts", json!({"name": "Observed"}))
        .await["id"]
        .as_i64()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(app.get(&format!("/api/v1/prompts/{p}")).await.status, 200);
    }
    assert_eq!(app.get("/api/v1/prompts/999999").await.status, 404);
    assert_eq!(app.get("/no/such/route").await.status, 404);
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "Hi {{ name }}.", "model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let t = app
        .create(
            &format!("/api/v1/versions/{v}/tests"),
            json!({"name": "t", "template_variables": {"name": "Ada"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let queued = app
        .post(&format!("/api/v1/tests/{t}/runs"), json!({}))
        .await;
    assert!(queued.status < 300, "{queued:?}");

    let text = scrape(&app).await;
    // Requests by route template (never the raw path), method and status class.
    let route = r#"route="/api/v1/prompts/{prompt_id}""#;
    assert!(
        value(
            &text,
            &format!(r#"prompt_tracker_http_requests_total{{method="GET",{route},status="2xx"}}"#)
        ) >= 2.0
    );
    assert!(
        value(
            &text,
            &format!(r#"prompt_tracker_http_requests_total{{method="GET",{route},status="4xx"}}"#)
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            r#"prompt_tracker_http_requests_total{method="GET",route="unmatched",status="4xx"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            &format!(
                r#"prompt_tracker_http_request_duration_seconds_count{{method="GET",{route},status="2xx"}}"#
            )
        ) >= 2.0
    );
    assert!(
        text.contains(&format!(
            r#"prompt_tracker_http_request_duration_seconds_bucket{{method="GET",{route},status="2xx",le="0.1"}}"#
        )),
        "a histogram with buckets:\n{text}"
    );
    assert!(
        !text.contains(&format!("/api/v1/prompts/{p}\"")),
        "no raw path"
    );
    assert!(text.contains("# TYPE prompt_tracker_http_requests_total counter"));
    assert!(text.contains("# TYPE prompt_tracker_http_request_duration_seconds histogram"));

    // The pool, read at scrape time.
    let size = value(&text, "prompt_tracker_db_pool_connections");
    let idle = value(&text, "prompt_tracker_db_pool_idle_connections");
    let max = value(&text, "prompt_tracker_db_pool_max_connections");
    assert!(
        size >= 1.0 && idle <= size && size <= max,
        "{size} {idle} {max}"
    );

    // The jobs, read at scrape time: this app's database has one queued test run.
    assert_eq!(
        value(
            &text,
            r#"prompt_tracker_jobs{kind="test_run",status="queued"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"prompt_tracker_jobs{kind="test_run",status="running"}"#
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            r#"prompt_tracker_jobs{kind="evaluate_response",status="queued"}"#
        ),
        0.0
    );
    assert!(text.contains("# TYPE prompt_tracker_jobs gauge"));
}

async fn metrics_count_provider_calls_jobs_and_list_cache(db: TestDb) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello Ada"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})))
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})))
        .mount(&mock)
        .await;
    let app = spawn_app_with(
        &db,
        AppOptions {
            providers: test_providers(Some(&mock.uri()), Some(&mock.uri()), None),
            ..Default::default()
        },
    )
    .await;
    let p = app.create("/api/v1/prompts", json!({"name": "Runs"})).await["id"]
        .as_i64()
        .unwrap();
    let mut versions = Vec::new();
    for config in [
        json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
        json!({"provider": "anthropic", "api": "messages", "model": "claude-3-5-haiku-latest", "max_tokens": 64}),
    ] {
        let v = app
            .create(
                &format!("/api/v1/prompts/{p}/versions"),
                json!({"user_prompt": "Greet {{ name }}.", "model_config": config}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        versions.push(v);
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
            json!({"evaluator_key": "keyword", "config": {"required_keywords": ["Ada"]}}),
        )
        .await;
        let done = app
            .post(&format!("/api/v1/tests/{t}/runs?wait=true"), json!({}))
            .await;
        assert_eq!(done.status, 200, "{:?}", done.body);
    }
    // Tracked calls, listed three times. On PostgreSQL: the first listing reads the rows in full
    // and remembers the page query, the second reads them again and caches them (both misses),
    // the third serves them from the cache (hits).
    for name in ["A", "B"] {
        app.create(
            "/api/v1/llm-responses",
            json!({"prompt_version_id": versions[0], "variables": {"name": name}, "response_text": "hi"}),
        )
        .await;
    }
    for _ in 0..3 {
        assert_eq!(app.get("/api/v1/llm-responses").await.status, 200);
    }

    let text = scrape(&app).await;
    assert!(
        value(
            &text,
            r#"prompt_tracker_provider_calls_total{provider="openai",api="chat_completion",outcome="ok"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            r#"prompt_tracker_provider_calls_total{provider="anthropic",api="messages",outcome="authentication"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            r#"prompt_tracker_provider_call_duration_seconds_count{provider="openai",api="chat_completion",outcome="ok"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &text,
            r#"prompt_tracker_job_attempts_total{kind="test_run",outcome="done"}"#
        ) >= 2.0
    );
    assert!(
        text.contains(
            r#"prompt_tracker_job_duration_seconds_bucket{kind="test_run",outcome="done",le="#
        ),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"prompt_tracker_jobs{kind="test_run",status="queued"}"#
        ),
        0.0
    );
    if db.is_postgres() {
        assert!(
            value(
                &text,
                r#"prompt_tracker_list_cache_misses_total{list="llm_responses"}"#
            ) >= 2.0
        );
        assert!(
            value(
                &text,
                r#"prompt_tracker_list_cache_hits_total{list="llm_responses"}"#
            ) >= 2.0
        );
        assert!(
            value(
                &text,
                r#"prompt_tracker_list_cache_rows{list="llm_responses"}"#
            ) >= 2.0
        );
        assert!(
            value(
                &text,
                r#"prompt_tracker_list_cache_bytes{list="llm_responses"}"#
            ) > 0.0
        );
    }
}

async fn metrics_need_the_token_when_one_is_set(db: TestDb) {
    let app = spawn_app(&db, Some("s3cret")).await;
    let anonymous = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
    let wrong = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth("nope")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let text = scrape(&app).await;
    assert!(
        text.contains("prompt_tracker_db_pool_connections"),
        "{text}"
    );
    // The probes stay open.
    let health = reqwest::get(format!("{}/healthz", app.base))
        .await
        .expect("request");
    assert_eq!(health.status(), 200);
}

async fn request_ids_are_echoed_or_generated_and_in_problems(db: TestDb) {
    let app = spawn_app(&db, Some("s3cret")).await;
    let get = |path: &str, id: Option<&str>| {
        let mut req = app
            .client
            .get(format!("{}{path}", app.base))
            .bearer_auth("s3cret");
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let header = |res: &reqwest::Response| {
        res.headers()
            .get("x-request-id")
            .expect("x-request-id in the answer")
            .to_str()
            .unwrap()
            .to_owned()
    };

    // Given: echoed, on success and in a problem body.
    let ok = get("/api/v1/prompts", Some("client-id-1")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(header(&ok), "client-id-1");
    let missing = get("/api/v1/prompts/999999", Some("client-id-2"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(header(&missing), "client-id-2");
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["request_id"], "client-id-2", "{body}");

    // Absent: generated (a UUID), different per request, and the problem's request_id.
    let a = get("/no/such/route", None).await.unwrap();
    assert_eq!(a.status(), 404);
    let generated = header(&a);
    assert_eq!(generated.len(), 36, "{generated}");
    assert_eq!(generated.matches('-').count(), 4, "{generated}");
    let body: serde_json::Value = a.json().await.unwrap();
    assert_eq!(body["request_id"], generated.as_str(), "{body}");
    let b = get("/healthz", None).await.unwrap();
    assert_ne!(header(&b), generated);

    // Refused by the token check: still carries the id.
    let refused = app
        .client
        .get(format!("{}/api/v1/prompts", app.base))
        .header("x-request-id", "client-id-3")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused), "client-id-3");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["request_id"], "client-id-3");

    // Unusable (too long, or with spaces): replaced by a generated one.
    for bad in ["x".repeat(129), "has space".to_owned()] {
        let res = get("/api/v1/prompts/999999", Some(&bad)).await.unwrap();
        let id = header(&res);
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36, "{id}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["request_id"], id.as_str());
    }

    // Validation problems (422) too.
    let invalid = app
        .client
        .post(format!("{}/api/v1/prompts", app.base))
        .bearer_auth("s3cret")
        .header("x-request-id", "client-id-4")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let body: serde_json::Value = invalid.json().await.unwrap();
    assert_eq!(body["request_id"], "client-id-4", "{body}");
}

db_tests!(
    metrics_show_requests_by_route_template_pool_and_jobs,
    metrics_count_provider_calls_jobs_and_list_cache,
    metrics_need_the_token_when_one_is_set,
    request_ids_are_echoed_or_generated_and_in_problems,
);
