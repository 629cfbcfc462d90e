//! Background work. For now: the `async` evaluators of tracked calls, run on the tokio runtime
//! after the tracking request has answered. Failures are logged (the call itself is already
//! stored); work in flight when the process stops is not resumed.

use sea_orm::DatabaseConnection;

use crate::llm_responses;

/// Runs the async evaluator configs `config_ids` on response `response_id` in the background.
pub fn spawn_evaluations(db: DatabaseConnection, response_id: i64, config_ids: Vec<i64>) {
    tokio::spawn(async move {
        if let Err(e) = llm_responses::run_async_evaluations(&db, response_id, &config_ids).await {
            tracing::error!(response_id, error = %e, "async evaluation failed");
        }
    });
}
