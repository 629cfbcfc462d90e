//! Durable background work: jobs stored in `prompt_tracker_jobs`, claimed by a pool of
//! workers in every service instance.
//!
//! - Claiming is one statement: `FOR UPDATE SKIP LOCKED` on PostgreSQL (instances never claim
//!   the same job), a single `UPDATE ... RETURNING` on SQLite (one writer).
//! - A claimed job carries a lease (`locked_until`) that its worker renews while it works; a job
//!   whose worker died is claimable again once the lease expires, and a restarted service
//!   resumes every queued job.
//! - A job that fails (an infrastructure error: the work itself records its own failures) is
//!   retried with exponential backoff up to `max_attempts`, then marked `failed`.

use crate::store::sql::{assignments, placeholder};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::job::{self, JobKind, JobStatus};
use entity::prelude::*;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Set,
    Statement,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use crate::error::{Error, Result};

/// Worker pool settings.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// Workers per instance (`PROMPT_TRACKER_WORKERS`, default 4).
    pub workers: usize,
    /// Lease of a claimed job; renewed every third of it while the job runs (default 60 s).
    pub lease: Duration,
    /// How often idle workers look for jobs enqueued by other instances (default 500 ms).
    pub poll_interval: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            workers: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Wakes this instance's idle workers when work is enqueued.
#[derive(Clone, Debug, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// Wake idle workers (call after the enqueuing transaction committed).
    pub fn wake(&self) {
        self.0.notify_waiters();
    }
}

fn queued(kind: JobKind, payload: Value, now: chrono::NaiveDateTime) -> job::ActiveModel {
    job::ActiveModel {
        kind: Set(kind),
        payload: Set(payload),
        status: Set(JobStatus::Queued),
        attempts: Set(0),
        max_attempts: Set(3),
        run_after: Set(now),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Stores a job (inside the caller's transaction, so work and job commit together).
pub async fn enqueue(db: &impl ConnectionTrait, kind: JobKind, payload: Value) -> Result<i64> {
    let row = queued(kind, payload, Utc::now().naive_utc());
    Ok(row.insert(db).await?.id)
}

/// Stores one job per payload with a single multi-row INSERT (inside the caller's
/// transaction). Keep the batch within the driver's bind-parameter limit (11 per job).
pub async fn enqueue_many(
    db: &impl ConnectionTrait,
    kind: JobKind,
    payloads: impl IntoIterator<Item = Value>,
) -> Result<()> {
    let now = Utc::now().naive_utc();
    let rows: Vec<_> = payloads.into_iter().map(|p| queued(kind, p, now)).collect();
    if !rows.is_empty() {
        Job::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// Claims the oldest claimable job for `worker` (queued and due, or running with an expired
/// lease), or None: one statement, which returns the claimed row. The partial index on
/// unfinished jobs (migration `m20261121_000008`) keeps it from walking past finished ones;
/// the query repeats the index's predicate so that SQLite, which matches it term by term,
/// uses it too.
pub async fn claim(
    db: &DatabaseConnection,
    worker: &str,
    lease: Duration,
) -> Result<Option<job::Model>> {
    let backend = db.get_database_backend();
    let [p1, p2, p3] = [1, 2, 3].map(|i| placeholder(backend, i));
    let lock = if backend == DatabaseBackend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let now = Utc::now().naive_utc();
    let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
    let sql = format!(
        "UPDATE prompt_tracker_jobs SET status = 'running', locked_by = {p1}, locked_until = {p2}, attempts = attempts + 1, updated_at = {p3} \
         WHERE id = (SELECT id FROM prompt_tracker_jobs \
                     WHERE status IN ('queued', 'running') \
                       AND ((status = 'queued' AND run_after <= {p3}) OR (status = 'running' AND locked_until < {p3})) \
                     ORDER BY id LIMIT 1{lock}) \
         RETURNING *"
    );
    let stmt =
        Statement::from_sql_and_values(backend, sql, [worker.into(), until.into(), now.into()]);
    Ok(Job::find().from_raw_sql(stmt).one(db).await?)
}

async fn update_owned(
    db: &impl ConnectionTrait,
    job_id: i64,
    worker: &str,
    set: &str,
    values: Vec<sea_orm::Value>,
) -> Result<()> {
    let backend = db.get_database_backend();
    let n = values.len();
    let p = |i| placeholder(backend, i);
    let sql = format!(
        "UPDATE prompt_tracker_jobs SET {set} WHERE id = {} AND locked_by = {}",
        p(n + 1),
        p(n + 2)
    );
    let mut values = values;
    values.push(job_id.into());
    values.push(worker.into());
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Renews the lease of a job this worker holds.
pub async fn renew(
    db: &DatabaseConnection,
    job_id: i64,
    worker: &str,
    lease: Duration,
) -> Result<()> {
    let until = Utc::now().naive_utc() + chrono::Duration::from_std(lease).unwrap_or_default();
    let set = assignments(db.get_database_backend(), &["locked_until"]);
    update_owned(db, job_id, worker, &set, vec![until.into()]).await
}

/// A job a worker holds while it runs it. Work that ends with a transaction marks the job done
/// inside it ([`complete`] on the transaction), so the outcome and the job's end commit
/// together and the worker skips its own `complete`.
#[derive(Clone, Copy, Debug)]
pub struct Held<'a> {
    pub id: i64,
    pub worker: &'a str,
}

/// Marks a job this worker holds as done (on a connection or inside the work's transaction).
pub async fn complete(db: &impl ConnectionTrait, job_id: i64, worker: &str) -> Result<()> {
    let now = Utc::now().naive_utc();
    let set = format!(
        "status = 'done', locked_until = NULL, {}",
        assignments(db.get_database_backend(), &["updated_at"])
    );
    update_owned(db, job_id, worker, &set, vec![now.into()]).await
}

/// Records a failed attempt: queued again after 2^attempts seconds, or `failed` after the last.
/// Returns whether the job failed for good.
pub async fn fail(
    db: &DatabaseConnection,
    job: &job::Model,
    worker: &str,
    error: &str,
) -> Result<bool> {
    let now = Utc::now().naive_utc();
    let backend = db.get_database_backend();
    let last = job.attempts >= job.max_attempts;
    if last {
        let set = format!(
            "status = 'failed', locked_until = NULL, {}",
            assignments(backend, &["last_error", "updated_at"])
        );
        update_owned(db, job.id, worker, &set, vec![error.into(), now.into()]).await?;
    } else {
        let after = now + chrono::Duration::seconds(1 << job.attempts.clamp(0, 10));
        let set = format!(
            "status = 'queued', locked_until = NULL, {}",
            assignments(backend, &["last_error", "run_after", "updated_at"])
        );
        update_owned(
            db,
            job.id,
            worker,
            &set,
            vec![error.into(), after.into(), now.into()],
        )
        .await?;
    }
    Ok(last)
}

/// A running pool of workers; dropping the handle does not stop them, [`Workers::stop`] does.
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Workers {
    /// Stops the workers after their current job (or at once, when idle).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// Stops the workers at once, abandoning jobs in flight (their leases expire and another
    /// worker takes them over). Used to simulate a crash.
    pub fn abort(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Starts `state.jobs.workers` workers.
pub fn start(state: crate::AppState) -> Workers {
    let (stop, stopped) = watch::channel(false);
    let instance = format!("{}-{}", std::process::id(), &uuid_like());
    let tasks = (0..state.job_settings.workers)
        .map(|i| {
            let state = state.clone();
            let mut stopped = stopped.clone();
            let worker = format!("{instance}-w{i}");
            tokio::spawn(async move {
                loop {
                    if *stopped.borrow() {
                        break;
                    }
                    match claim(&state.db, &worker, state.job_settings.lease).await {
                        Ok(Some(job)) => run_one(&state, job, &worker).await,
                        Ok(None) => {
                            let wake = state.waker.0.notified();
                            tokio::select! {
                                () = wake => {},
                                () = tokio::time::sleep(state.job_settings.poll_interval) => {},
                                _ = stopped.changed() => {},
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%worker, error = %e, "claiming a job failed");
                            tokio::time::sleep(state.job_settings.poll_interval).await;
                        }
                    }
                }
            })
        })
        .collect();
    Workers { stop, tasks }
}

fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

async fn run_one(state: &crate::AppState, job: job::Model, worker: &str) {
    let lease = state.job_settings.lease;
    // The lease is renewed from this same task: if the worker dies, renewals stop with it and
    // the lease runs out, so another worker can take the job over.
    let work = handle(state, &job, worker);
    tokio::pin!(work);
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result,
            () = tokio::time::sleep(lease / 3) => {
                if let Err(e) = renew(&state.db, job.id, worker, lease).await {
                    tracing::warn!(job = job.id, error = %e, "renewing a job lease failed");
                }
            }
        }
    };
    let result = match outcome {
        Ok(true) => Ok(()),
        Ok(false) => complete(&state.db, job.id, worker).await,
        Err(e) => {
            tracing::warn!(job = job.id, kind = ?job.kind, error = %e, "job attempt failed");
            match fail(&state.db, &job, worker, &e.to_string()).await {
                Ok(true) => given_up(state, &job, &e.to_string()).await,
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        tracing::error!(job = job.id, error = %e, "recording a job's outcome failed");
    }
}

/// Runs a job; returns whether the work already marked it done (see [`Held`]).
async fn handle(state: &crate::AppState, job: &job::Model, worker: &str) -> Result<bool> {
    let id = |key: &str| {
        job.payload
            .get(key)
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::Internal(format!("job {} has no {key}", job.id)))
    };
    match job.kind {
        JobKind::TestRun => {
            let held = Held { id: job.id, worker };
            let test = job.payload.get("test_id").and_then(Value::as_i64);
            crate::testing::runs::execute(state, id("run_id")?, test, Some(held)).await
        }
        JobKind::EvaluateResponse => {
            let configs: Vec<i64> = job
                .payload
                .get("config_ids")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            crate::tracking::responses::run_async_evaluations(state, id("response_id")?, &configs)
                .await
                .map(|()| false)
        }
    }
}

/// A job that will not be retried: its test run must not stay pending/running.
async fn given_up(state: &crate::AppState, job: &job::Model, error: &str) -> Result<()> {
    if job.kind == JobKind::TestRun
        && let Some(run_id) = job.payload.get("run_id").and_then(Value::as_i64)
    {
        crate::testing::runs::mark_error(
            &state.db,
            run_id,
            &format!(
                "the run's job failed after {} attempts: {error}",
                job.attempts
            ),
        )
        .await?;
    }
    Ok(())
}

/// Payload of an `evaluate_response` job.
pub fn evaluate_payload(response_id: i64, config_ids: &[i64]) -> Value {
    json!({"response_id": response_id, "config_ids": config_ids})
}
