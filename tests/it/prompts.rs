//! `/api/v1/prompts` through real HTTP.

use serde_json::json;

use crate::db_tests;
use crate::support::{TestDb, spawn_app};

async fn prompts_crud_slugs_archive_and_errors(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let p = app
        .create(
            "/api/v1/prompts",
            json!({"name": "Customer Support: Reply!", "tags": ["support"]}),
        )
        .await;
    assert_eq!(p["slug"], "customer_support_reply");
    assert_eq!(p["tags"], json!(["support"]));
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'), "{p}");
    let id = p["id"].as_i64().unwrap();
    // Collisions get _2, _3.
    let p2 = app
        .create("/api/v1/prompts", json!({"name": "customer support reply"}))
        .await;
    assert_eq!(p2["slug"], "customer_support_reply_2");
    let p3 = app
        .create("/api/v1/prompts", json!({"name": "Customer-Support reply"}))
        .await;
    assert_eq!(p3["slug"], "customer_support_reply_3");

    // Conflicts and validation.
    app.post(
        "/api/v1/prompts",
        json!({"name": "Customer Support: Reply!"}),
    )
    .await
    .problem(409);
    app.post(
        "/api/v1/prompts",
        json!({"name": "Other", "slug": "customer_support_reply"}),
    )
    .await
    .problem(409);
    assert_eq!(
        app.post("/api/v1/prompts", json!({"name": ""}))
            .await
            .problem(422),
        vec!["name"]
    );
    assert_eq!(
        app.post("/api/v1/prompts", json!({"name": "X", "slug": "Bad Slug"}))
            .await
            .problem(422),
        vec!["slug"]
    );
    assert_eq!(
        app.post("/api/v1/prompts", json!({"nme": "typo"}))
            .await
            .problem(422)
            .len(),
        1
    );
    assert_eq!(
        app.post("/api/v1/prompts", json!({"name": 5}))
            .await
            .problem(422),
        vec!["name"]
    );
    // NUL characters cannot be stored by PostgreSQL: refused up front, never a 500.
    assert_eq!(
        app.post("/api/v1/prompts", json!({"name": "a\u{0}b"}))
            .await
            .problem(422),
        vec!["body"]
    );
    assert_eq!(
        app.get("/api/v1/prompts?slug=a%00b").await.problem(422),
        vec!["query"]
    );
    let raw = app
        .client
        .post(format!("{}/api/v1/prompts", app.base))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.headers()["content-type"], "application/problem+json");
    let no_type = app
        .client
        .post(format!("{}/api/v1/prompts", app.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(no_type.status(), 415);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1_100_000));
    let too_big = app
        .client
        .post(format!("{}/api/v1/prompts", app.base))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    assert_eq!(
        app.get("/api/v1/prompts").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "nothing changed"
    );

    // Read, filter, patch.
    assert_eq!(
        app.get(&format!("/api/v1/prompts/{id}")).await.body["name"],
        "Customer Support: Reply!"
    );
    app.get("/api/v1/prompts/999999").await.problem(404);
    app.get("/api/v1/prompts/abc").await.problem(404);
    let by_slug = app
        .get("/api/v1/prompts?slug=customer_support_reply_2")
        .await;
    assert_eq!(by_slug.body["data"][0]["id"], p2["id"]);
    let patched = app
        .patch(
            &format!("/api/v1/prompts/{id}"),
            json!({"description": "Replies", "category": "cs"}),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["description"], "Replies");
    let cleared = app
        .patch(
            &format!("/api/v1/prompts/{id}"),
            json!({"description": null}),
        )
        .await;
    assert_eq!(cleared.body["description"], json!(null));
    assert_eq!(cleared.body["category"], "cs");
    app.patch(
        &format!("/api/v1/prompts/{id}"),
        json!({"name": "customer support reply"}),
    )
    .await
    .problem(409);

    // Archive: soft delete, still readable, filterable.
    let archived = app.delete(&format!("/api/v1/prompts/{id}")).await;
    assert_eq!(archived.status, 200);
    assert!(archived.body["archived_at"].is_string());
    assert!(app.get(&format!("/api/v1/prompts/{id}")).await.body["archived_at"].is_string());
    let only_archived = app.get("/api/v1/prompts?archived=true").await.body;
    assert_eq!(only_archived["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/v1/prompts?archived=false").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.get("/api/v1/prompts?archived=maybe").await.problem(422);
}

async fn prompt_lists_page_with_opaque_cursors(db: TestDb) {
    let app = spawn_app(&db, None).await;
    for i in 0..7 {
        app.create("/api/v1/prompts", json!({"name": format!("p{i}")}))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/prompts?limit=3&cursor={c}"),
            None => "/api/v1/prompts?limit=3".to_owned(),
        };
        let page = app.get(&path).await.body;
        for p in page["data"].as_array().unwrap() {
            seen.push(p["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("p{i}")).collect::<Vec<_>>());
    app.get("/api/v1/prompts?limit=0").await.problem(422);
    app.get("/api/v1/prompts?limit=501").await.problem(422);
    assert_eq!(
        app.get("/api/v1/prompts?cursor=garbage").await.problem(422),
        vec!["cursor"]
    );
}

async fn bearer_token_guards_the_api_but_not_the_probes(db: TestDb) {
    let mut app = spawn_app(&db, Some("s3cret")).await;
    assert_eq!(app.get("/api/v1/prompts").await.status, 200);
    app.token = Some("wrong".into());
    app.get("/api/v1/prompts").await.problem(401);
    app.token = None;
    app.get("/api/v1/prompts").await.problem(401);
    app.post("/api/v1/prompts", json!({"name": "x"}))
        .await
        .problem(401);
    assert_eq!(app.get("/healthz").await.status, 200);
    assert_eq!(app.get("/readyz").await.status, 200);
    assert_eq!(
        app.client
            .get(format!("{}/docs/", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

db_tests!(
    prompts_crud_slugs_archive_and_errors,
    prompt_lists_page_with_opaque_cursors,
    bearer_token_guards_the_api_but_not_the_probes
);
