//! Datasets, rows and imports through real HTTP, and runs over a dataset.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::db_tests;
use crate::support::{App, AppOptions, TestDb, spawn_app_with, test_providers};

async fn import(
    app: &App,
    dataset: i64,
    content_type: &str,
    body: String,
    query: &str,
) -> (u16, serde_json::Value) {
    let res = app
        .client
        .post(format!(
            "{}/api/v1/datasets/{dataset}/import{query}",
            app.base
        ))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

async fn datasets_rows_imports_and_dataset_runs(db: TestDb) {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "c", "object": "chat.completion", "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1}})))
        .mount(&mock)
        .await;
    let app = spawn_app_with(
        &db,
        AppOptions {
            providers: test_providers(Some(&mock.uri()), None, None),
            ..Default::default()
        },
    )
    .await;
    let p = app
        .create("/api/v1/prompts", json!({"name": "Capitals"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let v = app
        .create(
            &format!("/api/v1/prompts/{p}/versions"),
            json!({"user_prompt": "Capital of {{ country }}?",
                   "variables_schema": [{"name": "country", "type": "string", "required": true}, {"name": "hint", "type": "string", "required": false}],
                   "model_config": {"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let d = app
        .create(
            &format!("/api/v1/versions/{v}/datasets"),
            json!({"name": "europe"}),
        )
        .await;
    assert_eq!(d["schema"][0]["name"], "country");
    assert_eq!(d["row_count"], 0);
    let d = d["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/versions/{v}/datasets"),
        json!({"name": "europe"}),
    )
    .await
    .problem(409);

    // Rows: required variables present, no unknown keys.
    let row = app
        .create(
            &format!("/api/v1/datasets/{d}/rows"),
            json!({"row_data": {"country": "France"}}),
        )
        .await;
    assert_eq!(row["source"], "manual");
    let mut fields = app
        .post(
            &format!("/api/v1/datasets/{d}/rows"),
            json!({"row_data": {"hint": "x", "city": "Rome"}}),
        )
        .await
        .problem(422);
    fields.sort();
    assert_eq!(fields, vec!["row_data.city", "row_data.country"]);
    assert_eq!(
        app.delete(&format!("/api/v1/dataset-rows/{}", row["id"]))
            .await
            .status,
        204
    );

    // JSONL import: all or nothing, rejected lines reported with their numbers.
    let bad = "{\"country\": \"Spain\"}\n{\"countri\": \"Italy\"}\nnot json\n\n{\"country\": \"Portugal\"}\n".to_owned();
    let (status, body) = import(&app, d, "application/x-ndjson", bad.clone(), "").await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"line 2: row_data.countri")
            && fields.contains(&"line 2: row_data.country")
            && fields.contains(&"line 3: row"),
        "{fields:?}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/datasets/{d}")).await.body["row_count"],
        0,
        "nothing half-imported"
    );
    let (status, body) = import(&app, d, "application/x-ndjson", bad, "?skip_invalid=true").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["created"], 2);
    assert_eq!(body["rejected_count"], 2);
    assert_eq!(body["rejected"][0]["line"], 2);

    // CSV import (quoted fields, a header row).
    let csv =
        "country,hint\nGermany,\"central, big\"\n\"United Kingdom\",\nPoland,east\n".to_owned();
    let (status, body) = import(&app, d, "text/csv", csv, "").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["created"], 3);
    let rows = app
        .get(&format!("/api/v1/datasets/{d}/rows?limit=500"))
        .await
        .body;
    let countries: Vec<&str> = rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row_data"]["country"].as_str().unwrap())
        .collect();
    assert_eq!(
        countries,
        vec!["Spain", "Portugal", "Germany", "United Kingdom", "Poland"]
    );
    // The version's list counts each dataset's rows too.
    let listed = app
        .get(&format!("/api/v1/versions/{v}/datasets"))
        .await
        .body;
    let listed = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == d)
        .cloned()
        .expect("the dataset is listed");
    assert_eq!(listed["row_count"], 5);
    assert_eq!(rows["data"][2]["row_data"]["hint"], "central, big");
    assert_eq!(rows["data"][2]["line_number"], 2);
    let (status, _) = import(&app, d, "text/csv", "city\nRome\n".to_owned(), "").await;
    assert_eq!(status, 422);
    let (status, _) = import(&app, d, "application/json", "{}".to_owned(), "").await;
    assert_eq!(status, 415);
    let (status, _) = import(&app, d, "application/x-ndjson", String::new(), "").await;
    assert_eq!(status, 422, "an empty file imports nothing");

    // A big import streams in (10,000 rows).
    let d2 = app
        .create(
            &format!("/api/v1/versions/{v}/datasets"),
            json!({"name": "many"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let many: String = (0..10_000)
        .map(|i| format!("{{\"country\": \"C{i}\"}}\n"))
        .collect();
    let (status, body) = import(&app, d2, "application/x-ndjson", many, "").await;
    assert_eq!((status, body["created"].as_i64()), (201, Some(10_000)));

    // One run per dataset row, one batch.
    let t = app
        .create(
            &format!("/api/v1/versions/{v}/tests"),
            json!({"name": "capital"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let runs = app
        .post(
            &format!("/api/v1/tests/{t}/runs?wait=true"),
            json!({"dataset_id": d}),
        )
        .await;
    assert_eq!(runs.status, 200, "{:?}", runs.body);
    assert_eq!(runs.body["batch"]["total"], 5);
    let ran: Vec<&str> = runs.body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["variables"]["country"].as_str().unwrap())
        .collect();
    assert_eq!(
        ran,
        vec!["Spain", "Portugal", "Germany", "United Kingdom", "Poland"]
    );
    app.post(
        &format!("/api/v1/tests/{t}/runs"),
        json!({"dataset_id": 99999}),
    )
    .await
    .problem(422);
    app.post(
        &format!("/api/v1/tests/{t}/runs"),
        json!({"dataset_id": d, "rows": [{"country": "x"}]}),
    )
    .await
    .problem(422);

    // Rename, delete.
    assert_eq!(
        app.patch(&format!("/api/v1/datasets/{d}"), json!({"name": "eu"}))
            .await
            .body["name"],
        "eu"
    );
    assert_eq!(
        app.delete(&format!("/api/v1/datasets/{d}")).await.status,
        204
    );
    app.get(&format!("/api/v1/datasets/{d}")).await.problem(404);
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) AS n FROM prompt_tracker_dataset_rows WHERE dataset_id = {d}"
        ))
        .await,
        0
    );
}

db_tests!(datasets_rows_imports_and_dataset_runs);
