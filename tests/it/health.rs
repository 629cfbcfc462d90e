//! The service starts on 127.0.0.1:0, migrates its database and answers the probes.

use crate::db_tests;
use crate::support::TestDb;

/// Starts the real app on an ephemeral port over `db` (migrated first); returns its base URL.
pub async fn spawn_app(db: &TestDb) -> String {
    use migration::MigratorTrait;
    migration::Migrator::up(&db.conn, None)
        .await
        .expect("migrate");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = api::AppState {
        db: db.conn.clone(),
    };
    tokio::spawn(async move { api::serve(listener, state).await });
    format!("http://{addr}")
}

async fn probes_answer_ok(db: TestDb) {
    let base = spawn_app(&db).await;
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
    let base = spawn_app(&db).await;
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
