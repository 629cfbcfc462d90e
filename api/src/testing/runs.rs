//! Prompt test runs: a run renders the version's prompts with its variables, calls the test's
//! provider, stores the call as an LLM response (`is_test_run`), runs the test's enabled
//! evaluator configs in priority order (context `test_run`), and the server decides the
//! verdict ([`verdict`]). Runs execute as durable jobs ([`crate::jobs`]); a failure of the
//! provider or an evaluator ends the run as `error` with its message — no run stays `running`.
//! Whoever ends a run of a batch tells the batch's waiters ([`BatchEvents`]).

use std::time::Instant;

use chrono::{DateTime, Utc};
use entity::evaluation::EvaluationContext;
use entity::job::JobKind;
use entity::llm_response::{self, ResponseStatus};
use entity::prelude::*;
use entity::prompt_test_run::{self, TestRunStatus};
use entity::{evaluation, prompt_test, test_run_batch};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};
use crate::evaluation::configs::{self, Owner};
use crate::evaluation::judge::Judge;
use crate::providers::PromptParts;
use crate::store::pagination::{Page, PageParams, utc};
use crate::testing::batch_events::BatchEvents;
use crate::tracking::calls;
use crate::validation::{Errors, FieldError};
use crate::{
    evaluation::evaluations, evaluation::judge, jobs, prompts::templates, prompts::versions,
    testing::prompt_tests,
};

/// What test runs use: the database, the provider clients and price table (through the
/// judge, which also scores with them), the job waker (to start workers on a new batch at
/// once) and the batch events (to answer the requests waiting for a batch once it finishes).
#[derive(Clone, Debug)]
pub struct TestRunner {
    pub db: DatabaseConnection,
    pub judge: Judge,
    pub waker: jobs::Waker,
    pub batches: BatchEvents,
}

/// Test runs as a job kind (`test_run`, payload `{"run_id", "test_id"?}`).
impl jobs::Handler for TestRunner {
    fn run<'a>(
        &'a self,
        job: &'a entity::job::Model,
        held: jobs::Held<'a>,
    ) -> futures_util::future::BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let test = job.payload.get("test_id").and_then(Value::as_i64);
            execute(self, jobs::payload_id(job, "run_id")?, test, Some(held)).await
        })
    }

    /// A run whose job will not be retried must not stay pending/running.
    fn given_up<'a>(
        &'a self,
        job: &'a entity::job::Model,
        error: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let message = format!(
                "the run's job failed after {} attempts: {error}",
                job.attempts
            );
            mark_error(self, jobs::payload_id(job, "run_id")?, &message).await
        })
    }
}

/// One evaluation's part in a verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// 0-100.
    pub score: f64,
    /// The evaluation's own pass/fail (threshold or the evaluator's rule).
    pub passed: bool,
    /// The config's weight; 0 makes the evaluation informational.
    pub weight: f64,
}

/// The outcome of a run's evaluations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// No evaluation bears on the verdict (no evaluators, or only weight-0 ones).
    Skipped,
}

/// The verdict of a run, decided by the server:
/// - no evaluations, or only informational ones (weight 0): `Skipped`, never a pass;
/// - the test has a `pass_threshold` (0-100): passed when the weighted mean score of the
///   evaluations with weight > 0 (`Σ wᵢ·scoreᵢ / Σ wᵢ`) is at least the threshold;
/// - otherwise: passed when every evaluation with weight > 0 passed (with all weights 1,
///   simply: every evaluation passed).
pub fn verdict(results: &[Scored], pass_threshold: Option<i32>) -> Verdict {
    let counted: Vec<&Scored> = results.iter().filter(|r| r.weight > 0.0).collect();
    if counted.is_empty() {
        return Verdict::Skipped;
    }
    let passed = match pass_threshold {
        Some(t) => {
            let weight: f64 = counted.iter().map(|r| r.weight).sum();
            let mean = counted.iter().map(|r| r.weight * r.score).sum::<f64>() / weight;
            mean + 1e-9 >= f64::from(t)
        }
        None => counted.iter().all(|r| r.passed),
    };
    if passed {
        Verdict::Passed
    } else {
        Verdict::Failed
    }
}

/// A test run as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RunOut {
    pub id: i64,
    pub prompt_test_id: i64,
    pub prompt_version_id: i64,
    pub batch_id: Option<i64>,
    pub llm_response_id: Option<i64>,
    pub status: TestRunStatus,
    /// The verdict; null until the run is final, and for skipped or errored runs.
    pub passed: Option<bool>,
    pub error_message: Option<String>,
    pub passed_evaluators: i32,
    pub failed_evaluators: i32,
    pub total_evaluators: i32,
    /// One entry per evaluation: key, config id, score, passed, weight, threshold, feedback.
    #[schema(value_type = Vec<Object>)]
    pub evaluator_results: Value,
    /// Render + call + evaluations, ms.
    pub execution_time_ms: Option<i32>,
    /// USD of the provider call.
    pub cost_usd: Option<f64>,
    /// The variables the run rendered with.
    #[schema(value_type = Object)]
    pub variables: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<prompt_test_run::Model> for RunOut {
    fn from(m: prompt_test_run::Model) -> Self {
        RunOut {
            id: m.id,
            prompt_test_id: m.prompt_test_id,
            prompt_version_id: m.prompt_version_id,
            batch_id: m.batch_id,
            llm_response_id: m.llm_response_id,
            status: m.status,
            passed: m.passed,
            error_message: m.error_message,
            passed_evaluators: m.passed_evaluators,
            failed_evaluators: m.failed_evaluators,
            total_evaluators: m.total_evaluators,
            evaluator_results: m.evaluator_results,
            execution_time_ms: m.execution_time_ms,
            cost_usd: m.cost_usd.and_then(|c| c.to_f64()),
            variables: m
                .metadata
                .get("variables")
                .cloned()
                .unwrap_or(Value::Object(Map::new())),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

/// Verdict of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchVerdict {
    /// Some runs are not finished.
    Pending,
    /// Every run passed or was skipped, and at least one passed.
    Passed,
    /// At least one run failed.
    Failed,
    /// No run failed but at least one errored.
    Error,
    /// Every run was skipped.
    Skipped,
}

/// Progress and verdict of a batch of runs.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchOut {
    pub id: i64,
    pub prompt_version_id: i64,
    /// Set when the batch runs one test; null for a whole-version batch.
    pub prompt_test_id: Option<i64>,
    pub total: i64,
    pub pending: i64,
    pub running: i64,
    pub finished: i64,
    pub passed: i64,
    pub failed: i64,
    pub errored: i64,
    pub skipped: i64,
    pub verdict: BatchVerdict,
    pub created_at: DateTime<Utc>,
}

/// The runs a request started (or, with `?wait=true`, finished).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StartedRuns {
    pub batch_id: i64,
    pub batch: BatchOut,
    pub runs: Vec<RunOut>,
}

/// Body of `POST /api/v1/tests/{test_id}/runs`. Without `variables` or `rows`, the test's
/// `template_variables` are used.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Variables for one run (instead of the test's).
    #[schema(value_type = Option<Object>)]
    pub variables: Option<Map<String, Value>>,
    /// Rows given inline: one run per row (1-10,000 rows).
    #[schema(value_type = Option<Vec<Object>>)]
    pub rows: Option<Vec<Map<String, Value>>>,
    /// A dataset of the test's version: one run per row, in row order.
    pub dataset_id: Option<i64>,
}

/// Largest number of rows one request may run.
pub const MAX_ROWS: usize = 10_000;

struct Planned {
    test: prompt_test::Model,
    variables: Map<String, Value>,
}

/// Validates and enqueues the runs of one test: one per row, or one with the given or the
/// test's variables; returns the batch id ([`started`] reads the batch and its runs). 422
/// (before anything is stored) for missing required variables, an unusable model config or
/// missing provider credentials.
pub async fn start_test(state: &TestRunner, test_id: i64, req: RunRequest) -> Result<i64> {
    let test = prompt_tests::find(&state.db, test_id).await?;
    let version = versions::find(&state.db, test.prompt_version_id).await?;
    let mut errors = Errors::default();
    if let Err(e) = state.judge.providers.check(&test.model_config) {
        errors.0.extend(e);
    }
    let given = [
        req.rows.is_some(),
        req.variables.is_some(),
        req.dataset_id.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(Error::invalid(
            "body",
            "give at most one of variables, rows and dataset_id",
        ));
    }
    let sets: Vec<(String, Map<String, Value>)> = if let Some(dataset_id) = req.dataset_id {
        let dataset = crate::testing::datasets::find(&state.db, dataset_id)
            .await
            .map_err(|_| {
                Error::invalid("dataset_id", format!("dataset {dataset_id} does not exist"))
            })?;
        if dataset.prompt_version_id != version.id {
            return Err(Error::invalid(
                "dataset_id",
                format!("dataset {dataset_id} belongs to another version"),
            ));
        }
        let rows = crate::testing::datasets::all_rows(&state.db, dataset_id).await?;
        if rows.is_empty() || rows.len() > crate::testing::datasets::MAX_IMPORT_ROWS {
            return Err(Error::invalid("dataset_id", "the dataset has no rows"));
        }
        rows.into_iter()
            .enumerate()
            .map(|(i, r)| (format!("dataset_rows[{i}]"), r))
            .collect()
    } else if let Some(rows) = req.rows {
        if rows.is_empty() || rows.len() > MAX_ROWS {
            return Err(Error::invalid(
                "rows",
                format!("must hold 1-{MAX_ROWS} rows"),
            ));
        }
        rows.into_iter()
            .enumerate()
            .map(|(i, r)| (format!("rows[{i}]"), r))
            .collect()
    } else if let Some(v) = req.variables {
        vec![("variables".to_owned(), v)]
    } else {
        vec![(
            "test.template_variables".to_owned(),
            test.template_variables
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )]
    };
    let mut planned = Vec::new();
    for (field, given) in sets {
        match templates::resolve(&version.variables_schema, &given) {
            Ok(values) => planned.push(Planned {
                test: test.clone(),
                variables: values,
            }),
            Err(e) => {
                for err in e {
                    let name = err.field.trim_start_matches("variables.");
                    errors.add(format!("{field}.{name}"), err.message);
                }
            }
        }
    }
    errors.finish().map_err(Error::Validation)?;
    enqueue(state, version.id, Some(test.id), planned).await
}

/// Validates and enqueues one run of every enabled test of a version (with each test's
/// `template_variables`). 422 when the version has no enabled test, or for any test whose
/// variables or model config cannot run (field `tests[<id>]....`). Returns the batch id.
pub async fn start_version(state: &TestRunner, version_id: i64) -> Result<i64> {
    let version = versions::find(&state.db, version_id).await?;
    let tests = PromptTest::find()
        .filter(prompt_test::Column::PromptVersionId.eq(version_id))
        .filter(prompt_test::Column::Enabled.eq(true))
        .order_by_asc(prompt_test::Column::Id)
        .all(&state.db)
        .await?;
    if tests.is_empty() {
        return Err(Error::invalid(
            "version_id",
            "the version has no enabled tests",
        ));
    }
    let mut errors = Errors::default();
    let mut planned = Vec::new();
    for test in tests {
        if let Err(e) = state.judge.providers.check(&test.model_config) {
            errors.extend_prefixed(&format!("tests[{}]", test.id), e);
        }
        let given = test
            .template_variables
            .as_object()
            .cloned()
            .unwrap_or_default();
        match templates::resolve(&version.variables_schema, &given) {
            Ok(values) => planned.push(Planned {
                test,
                variables: values,
            }),
            Err(e) => errors.extend_prefixed(
                &format!("tests[{}].template_variables", test.id),
                strip_variables(e),
            ),
        }
    }
    errors.finish().map_err(Error::Validation)?;
    enqueue(state, version_id, None, planned).await
}

fn strip_variables(errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| {
            FieldError::new(
                e.field.trim_start_matches("variables.").to_owned(),
                e.message,
            )
        })
        .collect()
}

/// Rows per multi-row INSERT: 17 columns x 500 stays well under SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
const INSERT_CHUNK: usize = 500;

/// Stores the batch, its runs and one job per run in one transaction, with multi-row INSERTs
/// (a 1,000-row batch is 5 statements, not 2,001), then wakes the workers. Returns the batch
/// id: a caller that waits for the batch reads it once, at the end.
async fn enqueue(
    state: &TestRunner,
    version_id: i64,
    test_id: Option<i64>,
    planned: Vec<Planned>,
) -> Result<i64> {
    let txn = crate::store::begin_write(&state.db).await?;
    let now = Utc::now().naive_utc();
    let batch = test_run_batch::ActiveModel {
        prompt_version_id: Set(version_id),
        prompt_test_id: Set(test_id),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut run_ids = Vec::with_capacity(planned.len());
    for chunk in planned.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|p| prompt_test_run::ActiveModel {
            prompt_test_id: Set(p.test.id),
            prompt_version_id: Set(version_id),
            llm_response_id: Set(None),
            status: Set(TestRunStatus::Pending),
            passed: Set(None),
            error_message: Set(None),
            passed_evaluators: Set(0),
            failed_evaluators: Set(0),
            total_evaluators: Set(0),
            evaluator_results: Set(json!([])),
            execution_time_ms: Set(None),
            cost_usd: Set(None),
            metadata: Set(json!({"variables": p.variables})),
            created_at: Set(now),
            updated_at: Set(now),
            batch_id: Set(Some(batch.id)),
            ..Default::default()
        });
        run_ids.extend(
            PromptTestRun::insert_many(rows)
                .exec_with_returning(&txn)
                .await?
                .into_iter()
                .map(|r| (r.id, r.prompt_test_id)),
        );
    }
    // Jobs in run order, so runs start in the order they were given; the test id lets the
    // worker read the test while it marks the run (see [`execute`]).
    run_ids.sort_unstable();
    for chunk in run_ids.chunks(INSERT_CHUNK) {
        let payloads = chunk
            .iter()
            .map(|(run, test)| json!({"run_id": run, "test_id": test}));
        jobs::enqueue_many(&txn, JobKind::TestRun, payloads).await?;
    }
    txn.commit().await?;
    state.waker.wake();
    Ok(batch.id)
}

/// The batch and its runs.
pub async fn started(db: &DatabaseConnection, batch_id: i64) -> Result<StartedRuns> {
    let batch = batch(db, batch_id).await?;
    let runs = PromptTestRun::find()
        .filter(prompt_test_run::Column::BatchId.eq(batch_id))
        .order_by_asc(prompt_test_run::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(RunOut::from)
        .collect();
    Ok(StartedRuns {
        batch_id,
        batch,
        runs,
    })
}

/// Waits until every run of the batch is final, then reads the batch and its runs
/// ([`started`]); a 409 when `timeout` passes first (404 when the batch does not exist). The
/// wait reads nothing itself: the instance's [`BatchEvents`] wakes it when a run of the batch
/// finishes here or (PostgreSQL) in another instance, and checks it at least once a second.
pub async fn wait(
    state: &TestRunner,
    batch_id: i64,
    timeout: std::time::Duration,
) -> Result<StartedRuns> {
    if state.batches.finished(batch_id, timeout).await {
        started(&state.db, batch_id).await
    } else {
        Err(Error::Conflict(format!(
            "Batch {batch_id} did not finish within {} s; poll GET /api/v1/test-run-batches/{batch_id}.",
            timeout.as_secs()
        )))
    }
}

/// Tells the waiters of `batch` that one of its runs was just ended outside a transaction:
/// those of other instances through `NOTIFY` (PostgreSQL; a failure is only logged, their
/// fallback poll covers it), this instance's at once. A run ended inside a transaction sends
/// its `NOTIFY` in it and wakes this instance's waiters after the commit instead.
async fn announce(state: &TestRunner, batch: Option<i64>) {
    let Some(batch) = batch else { return };
    if let Err(e) = BatchEvents::notify(&state.db, batch).await {
        tracing::warn!(batch, error = %e, "notifying the end of a run failed");
    }
    state.batches.wake(batch);
}

/// Progress and verdict of a batch. 404 when absent.
pub async fn batch(db: &DatabaseConnection, batch_id: i64) -> Result<BatchOut> {
    let b = TestRunBatch::find_by_id(batch_id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("test run batch", batch_id))?;
    let counts: Vec<(TestRunStatus, i64)> = PromptTestRun::find()
        .select_only()
        .column(prompt_test_run::Column::Status)
        .column_as(prompt_test_run::Column::Id.count(), "n")
        .filter(prompt_test_run::Column::BatchId.eq(batch_id))
        .group_by(prompt_test_run::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let n = |s: TestRunStatus| counts.iter().find(|(k, _)| *k == s).map_or(0, |(_, n)| *n);
    let (pending, running) = (n(TestRunStatus::Pending), n(TestRunStatus::Running));
    let (passed, failed, errored, skipped) = (
        n(TestRunStatus::Passed),
        n(TestRunStatus::Failed),
        n(TestRunStatus::Error),
        n(TestRunStatus::Skipped),
    );
    let total = pending + running + passed + failed + errored + skipped;
    let verdict = if pending + running > 0 {
        BatchVerdict::Pending
    } else if failed > 0 {
        BatchVerdict::Failed
    } else if errored > 0 {
        BatchVerdict::Error
    } else if passed > 0 {
        BatchVerdict::Passed
    } else {
        BatchVerdict::Skipped
    };
    Ok(BatchOut {
        id: b.id,
        prompt_version_id: b.prompt_version_id,
        prompt_test_id: b.prompt_test_id,
        total,
        pending,
        running,
        finished: passed + failed + errored + skipped,
        passed,
        failed,
        errored,
        skipped,
        verdict,
        created_at: utc(b.created_at),
    })
}

/// Reads one run. 404 when absent.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<prompt_test_run::Model> {
    PromptTestRun::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("test run", id))
}

/// Filters of `GET /api/v1/test-runs`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    pub batch_id: Option<i64>,
    pub version_id: Option<i64>,
    pub test_id: Option<i64>,
    pub status: Option<TestRunStatus>,
}

/// One page of runs, newest first.
pub async fn list(
    db: &DatabaseConnection,
    f: &RunFilter,
    page: &PageParams,
) -> Result<Page<RunOut>> {
    let keyset = page.keyset()?;
    let mut q = PromptTestRun::find()
        .order_by_desc(prompt_test_run::Column::Id)
        .limit(keyset.limit + 1);
    if let Some(after) = keyset.after {
        q = q.filter(prompt_test_run::Column::Id.lt(after));
    }
    if let Some(b) = f.batch_id {
        q = q.filter(prompt_test_run::Column::BatchId.eq(b));
    }
    if let Some(v) = f.version_id {
        q = q.filter(prompt_test_run::Column::PromptVersionId.eq(v));
    }
    if let Some(t) = f.test_id {
        q = q.filter(prompt_test_run::Column::PromptTestId.eq(t));
    }
    if let Some(s) = f.status {
        q = q.filter(prompt_test_run::Column::Status.eq(s));
    }
    Ok(Page::from_rows(
        crate::store::pagination::rows(db, &q).await?,
        keyset,
        |r| r.id,
        RunOut::from,
    ))
}

/// An UPDATE setting run `run_id`'s `status` (and `updated_at`) that leaves a final run alone:
/// it only matches while the run is `pending` or `running`.
fn set_status_unless_final(
    run_id: i64,
    status: TestRunStatus,
) -> sea_orm::UpdateMany<PromptTestRun> {
    PromptTestRun::update_many()
        .col_expr(prompt_test_run::Column::Status, Expr::value(status))
        .col_expr(
            prompt_test_run::Column::UpdatedAt,
            Expr::value(Utc::now().naive_utc()),
        )
        .filter(prompt_test_run::Column::Id.eq(run_id))
        .filter(
            prompt_test_run::Column::Status.is_in([TestRunStatus::Pending, TestRunStatus::Running]),
        )
}

/// Ends a run as `error` with `message` unless it is already final (and then tells its
/// batch's waiters).
pub async fn mark_error(state: &TestRunner, run_id: i64, message: &str) -> Result<()> {
    let ended = set_status_unless_final(run_id, TestRunStatus::Error)
        .col_expr(prompt_test_run::Column::ErrorMessage, Expr::value(message))
        .exec_with_returning(&state.db)
        .await?;
    for run in ended {
        announce(state, run.batch_id).await;
    }
    Ok(())
}

/// Executes run `run_id` (the `test_run` job). Re-delivery after a worker died is safe: a
/// final run is left alone, and a provider answer already stored is reused, not paid twice.
/// Returns Err only for infrastructure failures (the job is then retried); Ok(true) when it
/// marked `job` done itself, in the transaction that wrote the verdict.
///
/// Statements: the run is marked `running` and read back in one `UPDATE ... RETURNING`; the
/// test and its version are read in one join, and the test's enabled configs, all three at
/// once when the job names the test (`test_hint`, from the job's payload). When every
/// config runs locally (no `llm_judge`), the provider's answer, the evaluations, the verdict
/// and the end of the job are written in one transaction, so a run is either untouched or
/// complete; on PostgreSQL the batch's `NOTIFY` is sent in it too. With a
/// judge, the answer (and its link to the run) is committed first: a judge call can be slow
/// or fail, and a retry must not pay for the provider call again. Once the run is final, its
/// batch's waiters are told ([`BatchEvents`]).
pub async fn execute(
    state: &TestRunner,
    run_id: i64,
    test_hint: Option<i64>,
    job: Option<jobs::Held<'_>>,
) -> Result<bool> {
    let db = &state.db;
    let started = Instant::now();
    // When the job names the test, marking the run and reading its test run at once (on
    // separate pool connections): one round trip before the provider call instead of three.
    let (run, loaded) = match test_hint {
        Some(test_id) => {
            let (run, loaded) = tokio::try_join!(mark_running(db, run_id), load_test(db, test_id))?;
            (run, Some(loaded))
        }
        None => (mark_running(db, run_id).await?, None),
    };
    let Some(run) = run else {
        // Final already (or deleted): nothing to do.
        return Ok(false);
    };
    let (test, version, configs) = match loaded {
        Some(loaded) if loaded.0.id == run.prompt_test_id => loaded,
        _ => load_test(db, run.prompt_test_id).await?,
    };
    let variables = run
        .metadata
        .get("variables")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    let rendered = match templates::resolve(&version.variables_schema, &variables)
        .and_then(|v| templates::render(version.system_prompt.as_deref(), &version.user_prompt, &v))
    {
        Ok(r) => r,
        Err(e) => {
            let msg = e
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            finish_error(
                db,
                run_id,
                &format!("rendering failed: {msg}"),
                started,
                None,
                None,
            )
            .await?;
            announce(state, run.batch_id).await;
            return Ok(false);
        }
    };
    let remote = configs.iter().any(|c| {
        crate::evaluation::evaluators::get(&c.evaluator_key).is_some_and(|e| e.is_remote())
    });

    match run.llm_response_id {
        // An interrupted earlier attempt stored the provider's answer (and maybe some
        // evaluations, which are replaced).
        Some(id) => {
            let response = LlmResponse::find_by_id(id)
                .one(db)
                .await?
                .ok_or_else(|| Error::Internal(format!("response {id} vanished")))?;
            Evaluation::delete_many()
                .filter(evaluation::Column::PromptTestRunId.eq(run_id))
                .exec(db)
                .await?;
            evaluate_and_finish(state, db, &run, &test, &configs, &response, started).await?;
            announce(state, run.batch_id).await;
            Ok(false)
        }
        None => {
            let parts = PromptParts {
                system: rendered.system.as_deref(),
                user: &rendered.user,
            };
            let outcome = state
                .judge
                .providers
                .call(&test.model_config, &parts, None)
                .await;
            let txn = crate::store::begin_write(db).await?;
            let response =
                store_response(&txn, state, &run, &test, &rendered, &variables, outcome).await?;
            if remote {
                link_response(&txn, run_id, response.id).await?;
                txn.commit().await?;
                evaluate_and_finish(state, db, &run, &test, &configs, &response, started).await?;
                announce(state, run.batch_id).await;
                Ok(false)
            } else {
                evaluate_and_finish(state, &txn, &run, &test, &configs, &response, started).await?;
                if let Some(batch) = run.batch_id {
                    BatchEvents::notify(&txn, batch).await?;
                }
                if let Some(job) = job {
                    jobs::complete(&txn, job.id, job.worker).await?;
                }
                txn.commit().await?;
                if let Some(batch) = run.batch_id {
                    state.batches.wake(batch);
                }
                Ok(job.is_some())
            }
        }
    }
}

/// Marks run `run_id` running unless it is final, and returns it (None: final or absent).
async fn mark_running(
    db: &DatabaseConnection,
    run_id: i64,
) -> Result<Option<prompt_test_run::Model>> {
    Ok(set_status_unless_final(run_id, TestRunStatus::Running)
        .exec_with_returning(db)
        .await?
        .into_iter()
        .next())
}

/// A test, its version and its enabled evaluator configs (priority order), read at once.
async fn load_test(
    db: &DatabaseConnection,
    test_id: i64,
) -> Result<(
    prompt_test::Model,
    entity::prompt_version::Model,
    Vec<entity::evaluator_config::Model>,
)> {
    let (found, configs) = tokio::try_join!(
        async {
            PromptTest::find_by_id(test_id)
                .find_also_related(PromptVersion)
                .one(db)
                .await
                .map_err(Error::from)
        },
        configs::enabled_of(db, Owner::Test(test_id)),
    )?;
    let (test, version) = found.ok_or_else(|| Error::not_found("prompt test", test_id))?;
    let version =
        version.ok_or_else(|| Error::not_found("prompt version", test.prompt_version_id))?;
    Ok((test, version, configs))
}

async fn link_response(db: &impl ConnectionTrait, run_id: i64, response_id: i64) -> Result<()> {
    PromptTestRun::update_many()
        .col_expr(
            prompt_test_run::Column::LlmResponseId,
            Expr::value(response_id),
        )
        .filter(prompt_test_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Runs the configs on the stored `response` and writes the run's verdict (or its error) on
/// `conn`, linking the response to the run. `llm_judge` configs (never present when `conn` is
/// a transaction: see [`execute`]) call the judge through `state`.
async fn evaluate_and_finish(
    state: &TestRunner,
    conn: &impl ConnectionTrait,
    run: &prompt_test_run::Model,
    test: &prompt_test::Model,
    configs: &[entity::evaluator_config::Model],
    response: &llm_response::Model,
    started: Instant,
) -> Result<()> {
    let run_id = run.id;
    let cost = response.cost_usd;
    if response.status != ResponseStatus::Success {
        let msg = format!(
            "provider call failed ({}): {}",
            response.error_type.as_deref().unwrap_or("error"),
            response.error_message.as_deref().unwrap_or("no message")
        );
        return finish_error(conn, run_id, &msg, started, cost, Some(response.id)).await;
    }
    let mut scored = Vec::new();
    let mut results = Vec::new();
    for config in configs {
        let outcome = if config.evaluator_key == judge::KEY {
            judge::evaluate(
                &state.db,
                &state.judge,
                config,
                response,
                test.expected_output.as_deref(),
                EvaluationContext::TestRun,
                Some(run_id),
            )
            .await
        } else {
            evaluations::run_config(
                conn,
                config,
                response,
                test.expected_output.as_deref(),
                EvaluationContext::TestRun,
                Some(run_id),
            )
            .await
        };
        let e = match outcome {
            Ok(e) => e,
            // The database failed, not the evaluator: the job repeats the run.
            Err(err) if err.is_retryable() => return Err(err),
            Err(err) => {
                let msg = format!(
                    "evaluator `{}` (config {}) failed: {}",
                    config.evaluator_key,
                    config.id,
                    describe(&err)
                );
                return finish_error(conn, run_id, &msg, started, cost, Some(response.id)).await;
            }
        };
        // A config that cannot run is stored as an evaluation in error; the run ends in error.
        if let Some(reason) = evaluations::error_of(&e) {
            let msg = format!(
                "evaluator `{}` (config {}) cannot run: {reason}",
                config.evaluator_key, config.id
            );
            return finish_error(conn, run_id, &msg, started, cost, Some(response.id)).await;
        }
        let weight = config.weight.to_f64().unwrap_or(1.0);
        let score = e.score.to_f64().unwrap_or(0.0);
        let passed = e.passed.unwrap_or(false);
        scored.push(Scored {
            score,
            passed,
            weight,
        });
        results.push(json!({
            "evaluator_key": config.evaluator_key, "evaluator_config_id": config.id, "evaluation_id": e.id,
            "score": score, "passed": passed, "weight": weight, "threshold": config.threshold, "feedback": e.feedback,
        }));
    }
    let v = verdict(&scored, test.pass_threshold);
    let (status, passed) = match v {
        Verdict::Passed => (TestRunStatus::Passed, Some(true)),
        Verdict::Failed => (TestRunStatus::Failed, Some(false)),
        Verdict::Skipped => (TestRunStatus::Skipped, None),
    };
    let passed_n = scored.iter().filter(|s| s.passed).count() as i32;
    // One UPDATE, without reading the row back first.
    let total = scored.len() as i32;
    PromptTestRun::update_many()
        .col_expr(prompt_test_run::Column::Status, Expr::value(status))
        .col_expr(prompt_test_run::Column::Passed, Expr::value(passed))
        .col_expr(
            prompt_test_run::Column::LlmResponseId,
            Expr::value(response.id),
        )
        .col_expr(
            prompt_test_run::Column::PassedEvaluators,
            Expr::value(passed_n),
        )
        .col_expr(
            prompt_test_run::Column::FailedEvaluators,
            Expr::value(total - passed_n),
        )
        .col_expr(prompt_test_run::Column::TotalEvaluators, Expr::value(total))
        .col_expr(
            prompt_test_run::Column::EvaluatorResults,
            Expr::value(Value::Array(results)),
        )
        .col_expr(
            prompt_test_run::Column::ExecutionTimeMs,
            Expr::value(elapsed_ms(started)),
        )
        .col_expr(prompt_test_run::Column::CostUsd, Expr::value(cost))
        .col_expr(
            prompt_test_run::Column::UpdatedAt,
            Expr::value(Utc::now().naive_utc()),
        )
        .filter(prompt_test_run::Column::Id.eq(run_id))
        .exec(conn)
        .await?;
    Ok(())
}

fn describe(err: &Error) -> String {
    match err {
        Error::Validation(fields) => evaluations::describe(fields),
        other => other.to_string(),
    }
}

fn elapsed_ms(started: Instant) -> i32 {
    i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX)
}

/// Ends run `run_id` as `error` with `message`, linking its LLM response when there is one.
async fn finish_error(
    db: &impl ConnectionTrait,
    run_id: i64,
    message: &str,
    started: Instant,
    cost: Option<Decimal>,
    response_id: Option<i64>,
) -> Result<()> {
    let mut update = PromptTestRun::update_many();
    if let Some(id) = response_id {
        update = update.col_expr(prompt_test_run::Column::LlmResponseId, Expr::value(id));
    }
    update
        .col_expr(
            prompt_test_run::Column::Status,
            Expr::value(TestRunStatus::Error),
        )
        .col_expr(
            prompt_test_run::Column::Passed,
            Expr::value(Option::<bool>::None),
        )
        .col_expr(prompt_test_run::Column::ErrorMessage, Expr::value(message))
        .col_expr(
            prompt_test_run::Column::ExecutionTimeMs,
            Expr::value(elapsed_ms(started)),
        )
        .col_expr(prompt_test_run::Column::CostUsd, Expr::value(cost))
        .col_expr(
            prompt_test_run::Column::UpdatedAt,
            Expr::value(Utc::now().naive_utc()),
        )
        .filter(prompt_test_run::Column::Id.eq(run_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records the provider's answer (or failure) of run `run` as a test call, through the one
/// writer of LLM-call rows ([`calls`]): always stored, even when a value does not fit its
/// column (see [`calls::Source::TestRun`]).
async fn store_response(
    db: &impl ConnectionTrait,
    state: &TestRunner,
    run: &prompt_test_run::Model,
    test: &prompt_test::Model,
    rendered: &templates::Rendered,
    variables: &Map<String, Value>,
    outcome: std::result::Result<crate::providers::Completion, crate::providers::CallError>,
) -> Result<llm_response::Model> {
    let config = &test.model_config;
    let mut call = calls::LlmCall {
        source: calls::Source::TestRun,
        prompt_version_id: run.prompt_version_id,
        rendered_prompt: rendered.user.clone(),
        rendered_system_prompt: rendered.system.clone(),
        variables: variables.clone(),
        response_text: None,
        status: ResponseStatus::Success,
        error_type: None,
        error_message: None,
        response_time_ms: None,
        tokens_prompt: None,
        tokens_completion: None,
        tokens_total: None,
        cost_usd: None,
        provider: config
            .provider
            .clone()
            .unwrap_or_else(|| "openai".to_owned()),
        api: config.api.clone(),
        model: config.model.clone().unwrap_or_default(),
        user_id: None,
        session_id: None,
        environment: Some("test".to_owned()),
        context: object(json!({"prompt_test_id": test.id})),
        response_metadata: Map::new(),
    };
    match outcome {
        Ok(c) => {
            if let Some(model) = c.model.clone() {
                call.model = model;
            }
            call.response_text = Some(c.text.clone());
            call.response_time_ms = Some(c.latency_ms);
            call.tokens_prompt = c.tokens_prompt;
            call.tokens_completion = c.tokens_completion;
            call.response_metadata = object(json!({
                "test_run": true, "prompt_test_run_id": run.id, "response_id": c.response_id,
                "finish_reason": c.finish_reason, "tool_calls": c.tool_calls, "attempts": c.attempts, "raw": c.raw,
            }));
        }
        Err(e) => {
            call.status = match e.status {
                crate::providers::FailureStatus::Timeout => ResponseStatus::Timeout,
                crate::providers::FailureStatus::Error => ResponseStatus::Error,
            };
            call.error_type = Some(e.error_type.clone());
            call.error_message = Some(e.error_message.clone());
            call.response_time_ms = Some(e.latency_ms);
            call.response_metadata = object(json!({
                "test_run": true, "prompt_test_run_id": run.id, "http_status": e.http_status, "attempts": e.attempts, "raw": e.raw,
            }));
        }
    }
    // A test call is never refused: a value that does not fit is recorded as null, noted.
    let row = calls::normalise(call, &state.judge.prices).map_err(Error::Validation)?;
    calls::insert(db, row).await
}

/// The object `json!({...})` built.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(score: f64, passed: bool, weight: f64) -> Scored {
        Scored {
            score,
            passed,
            weight,
        }
    }

    #[test]
    fn all_must_pass_without_weights_or_threshold() {
        assert_eq!(
            verdict(&[s(100.0, true, 1.0), s(90.0, true, 1.0)], None),
            Verdict::Passed
        );
        assert_eq!(
            verdict(&[s(100.0, true, 1.0), s(10.0, false, 1.0)], None),
            Verdict::Failed
        );
    }

    #[test]
    fn no_evaluators_is_skipped_not_passed() {
        assert_eq!(verdict(&[], None), Verdict::Skipped);
        assert_eq!(verdict(&[], Some(50)), Verdict::Skipped);
        assert_eq!(verdict(&[s(0.0, false, 0.0)], None), Verdict::Skipped);
    }

    #[test]
    fn weighted_threshold_uses_the_weighted_mean() {
        // (3*90 + 1*30) / 4 = 75
        let r = [s(90.0, true, 3.0), s(30.0, false, 1.0)];
        assert_eq!(verdict(&r, Some(75)), Verdict::Passed);
        assert_eq!(verdict(&r, Some(76)), Verdict::Failed);
    }

    #[test]
    fn weight_zero_is_informational() {
        let r = [s(100.0, true, 1.0), s(0.0, false, 0.0)];
        assert_eq!(verdict(&r, None), Verdict::Passed);
        assert_eq!(verdict(&r, Some(100)), Verdict::Passed);
    }
}
