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
//! - The queue knows no consumer: each feature implements [`Handler`] for the kinds it
//!   enqueues, and the app registers them in a [`Registry`] where it is assembled.
//! - Each attempt runs in a `job` tracing span (`id`, `kind`, `attempt`), so every log line of
//!   the work names its job, and is counted in `prompt_tracker_job_attempts_total` with its
//!   outcome and duration ([`crate::telemetry`]); [`backlog`] counts the unfinished jobs for
//!   `/metrics`.

use crate::store::sql::{assignments, placeholder};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::job::{self, JobKind, JobStatus};
use entity::prelude::*;
use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Set,
    Statement,
};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

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

/// The name of a job kind, as stored (`test_run`, `evaluate_response`): the `kind` of spans
/// and metrics.
pub fn kind_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::TestRun => "test_run",
        JobKind::EvaluateResponse => "evaluate_response",
    }
}

/// The name of a job status, as stored (`queued`, `running`, `done`, `failed`).
pub fn status_name(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Done => "done",
        JobStatus::Failed => "failed",
    }
}

/// Unfinished jobs of one kind and status (`queued` or `running`), every instance's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backlog {
    pub kind: JobKind,
    pub status: JobStatus,
    pub count: i64,
}

/// The unfinished jobs by kind and status: one grouped statement, which reads the partial index
/// on unfinished jobs (migration `m20261121_000008`) rather than the finished jobs' rows. Only
/// the (kind, status) pairs that have jobs are returned.
///
/// # Errors
/// The driver's.
pub async fn backlog(db: &impl ConnectionTrait) -> Result<Vec<Backlog>> {
    use sea_orm::FromQueryResult;
    #[derive(Debug, FromQueryResult)]
    struct Row {
        kind: JobKind,
        status: JobStatus,
        count: i64,
    }
    let stmt = Statement::from_string(
        db.get_database_backend(),
        "SELECT kind, status, COUNT(*) AS count FROM prompt_tracker_jobs \
         WHERE status IN ('queued', 'running') GROUP BY kind, status",
    );
    let rows = Row::find_by_statement(stmt).all(db).await?;
    Ok(rows
        .into_iter()
        .map(|r| Backlog {
            kind: r.kind,
            status: r.status,
            count: r.count,
        })
        .collect())
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

/// What a worker does with a claimed job of one kind. Implemented by the feature that enqueues
/// the kind (test runs, async evaluations), registered in a [`Registry`] by the app.
pub trait Handler: Send + Sync + 'static {
    /// Runs `job`. `Ok(true)` when the work marked the job done itself, inside its own
    /// transaction (see [`Held`]); `Ok(false)` to let the worker mark it done. `Err` is a
    /// failure worth retrying (an infrastructure error, see [`Error::is_retryable`]): the queue
    /// retries the job with backoff, up to its `max_attempts`.
    fn run<'a>(&'a self, job: &'a job::Model, held: Held<'a>) -> BoxFuture<'a, Result<bool>>;

    /// `job` failed its last attempt with `error` and will not be retried: leave nothing
    /// pending on its account (e.g. a test run still `running`). Default: nothing to do.
    fn given_up<'a>(&'a self, job: &'a job::Model, error: &'a str) -> BoxFuture<'a, Result<()>> {
        let _ = (job, error);
        Box::pin(async { Ok(()) })
    }
}

/// The handler of each job kind.
#[derive(Clone, Default)]
pub struct Registry(Vec<(JobKind, Arc<dyn Handler>)>);

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(kind, _)| kind))
            .finish()
    }
}

impl Registry {
    /// Registers `handler` for `kind` (replacing an earlier one).
    #[must_use]
    pub fn with(mut self, kind: JobKind, handler: impl Handler) -> Self {
        self.0.retain(|(k, _)| *k != kind);
        self.0.push((kind, Arc::new(handler)));
        self
    }

    fn get(&self, kind: &JobKind) -> Option<&dyn Handler> {
        self.0
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, h)| h.as_ref())
    }
}

/// What the workers of one instance share.
#[derive(Clone, Debug)]
struct Pool {
    db: DatabaseConnection,
    settings: JobSettings,
    waker: Waker,
    handlers: Registry,
}

/// Starts `settings.workers` workers claiming jobs from `db`, woken early by `waker`.
pub fn start(
    db: DatabaseConnection,
    settings: JobSettings,
    waker: Waker,
    handlers: Registry,
) -> Workers {
    let pool = Pool {
        db,
        settings,
        waker,
        handlers,
    };
    let (stop, stopped) = watch::channel(false);
    let instance = format!("{}-{}", std::process::id(), &uuid_like());
    let tasks = (0..pool.settings.workers)
        .map(|i| {
            let pool = pool.clone();
            let mut stopped = stopped.clone();
            let worker = format!("{instance}-w{i}");
            tokio::spawn(async move {
                loop {
                    if *stopped.borrow() {
                        break;
                    }
                    match claim(&pool.db, &worker, pool.settings.lease).await {
                        Ok(Some(job)) => run_one(&pool, job, &worker).await,
                        Ok(None) => {
                            let wake = pool.waker.0.notified();
                            tokio::select! {
                                () = wake => {},
                                () = tokio::time::sleep(pool.settings.poll_interval) => {},
                                _ = stopped.changed() => {},
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%worker, error = %e, "claiming a job failed");
                            tokio::time::sleep(pool.settings.poll_interval).await;
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

async fn run_one(pool: &Pool, job: job::Model, worker: &str) {
    let kind = kind_name(job.kind);
    let span = tracing::info_span!("job", id = job.id, kind, attempt = job.attempts);
    let started = std::time::Instant::now();
    let outcome = attempt(pool, &job, worker).instrument(span).await;
    crate::telemetry::job_attempt(kind, outcome, started.elapsed());
}

/// Runs one attempt of `job` and records its outcome: `done`, `retry` or `failed`.
async fn attempt(pool: &Pool, job: &job::Model, worker: &str) -> &'static str {
    let lease = pool.settings.lease;
    let handler = pool.handlers.get(&job.kind);
    // The lease is renewed from this same task: if the worker dies, renewals stop with it and
    // the lease runs out, so another worker can take the job over.
    let work = async {
        match handler {
            Some(h) => h.run(job, Held { id: job.id, worker }).await,
            None => Err(Error::Internal(format!(
                "no handler is registered for {:?} jobs",
                job.kind
            ))),
        }
    };
    tokio::pin!(work);
    let outcome = loop {
        tokio::select! {
            result = &mut work => break result,
            () = tokio::time::sleep(lease / 3) => {
                if let Err(e) = renew(&pool.db, job.id, worker, lease).await {
                    tracing::warn!(error = %e, "renewing a job lease failed");
                }
            }
        }
    };
    let (result, label) = match outcome {
        Ok(true) => (Ok(()), "done"),
        Ok(false) => (complete(&pool.db, job.id, worker).await, "done"),
        Err(e) => {
            tracing::warn!(error = %e, "job attempt failed");
            match fail(&pool.db, job, worker, &e.to_string()).await {
                Ok(true) => (
                    match handler {
                        Some(h) => h.given_up(job, &e.to_string()).await,
                        None => Ok(()),
                    },
                    "failed",
                ),
                Ok(false) => (Ok(()), "retry"),
                Err(e) => (Err(e), "retry"),
            }
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "recording a job's outcome failed");
    }
    label
}

/// The id `key` of a job's payload (`{"run_id": 7}`), or an error naming the job.
///
/// # Errors
/// `Error::Internal` when the payload has no integer `key`.
pub fn payload_id(job: &job::Model, key: &str) -> Result<i64> {
    job.payload
        .get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Internal(format!("job {} has no {key}", job.id)))
}
