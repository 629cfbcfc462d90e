//! The committed `openapi.yaml` is what the code generates, and the served documents match.

use crate::db_tests;
use crate::support::{TestDb, spawn_app};

#[test]
fn committed_openapi_yaml_is_what_the_code_generates() {
    let generated = api::openapi_yaml().expect("generate");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.yaml is stale: regenerate it with `cargo run -q -- openapi > openapi.yaml` and commit it"
    );
}

#[test]
fn every_operation_documents_its_responses() {
    let doc = serde_json::to_value(api::http::openapi()).expect("json");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            operations += 1;
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path}: no responses"));
            assert!(!responses.is_empty(), "{method} {path}");
            for (status, r) in responses {
                assert!(
                    r["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}: no description"
                );
            }
            if path.starts_with("/api/v1/") {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path}: 401 not documented"
                );
            }
        }
    }
    assert!(operations >= 5, "{operations}");
}

async fn served_documents_match_and_docs_work_offline(db: TestDb) {
    let app = spawn_app(&db, Some("s3cret")).await;
    let served = app.get("/api/v1/openapi.json").await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.body,
        serde_json::to_value(api::http::openapi()).unwrap()
    );
    let open = app
        .client
        .get(format!("{}/docs/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200, "the docs' copy needs no token");
    let ui = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 200);
    assert!(
        ui.text().await.unwrap().contains("swagger"),
        "Swagger UI page"
    );
}

db_tests!(served_documents_match_and_docs_work_offline);
