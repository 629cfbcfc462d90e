//! The service starts on 127.0.0.1:0, migrates its database and answers the probes.

use crate::db_tests;
use crate::support::{TestDb, spawn_app};

async fn probes_answer_ok(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let base = app.base.clone();
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let res = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{path}");
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body, serde_json::json!({"status": "ok"}), "{path}");
    }
}

async fn readyz_reports_a_lost_database_as_503_problem(db: TestDb) {
    let app = spawn_app(&db, None).await;
    let base = app.base.clone();
    db.conn.clone().close().await.expect("close pool");
    let res = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("request");
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["status"], 503);
    assert_eq!(body["title"], "Service Unavailable");
    let health = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("request");
    assert_eq!(
        health.status(),
        200,
        "liveness does not depend on the database"
    );
}

db_tests!(
    probes_answer_ok,
    readyz_reports_a_lost_database_as_503_problem
);
