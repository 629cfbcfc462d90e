//! Wake-ups for requests that wait for a batch of test runs to finish (`?wait=true`).
//!
//! A waiter never reads the database while it waits. One watcher task per instance, started by
//! the first waiter and ended when none is left, checks the batches that have waiters, all of
//! them in one statement (is any of their runs still `pending` or `running`?), and answers the
//! waiters of every batch found finished. It checks:
//! - when a waiter arrives (its batch may be finished already);
//! - when a run of a watched batch finishes in this instance: the runner calls
//!   [`BatchEvents::wake`] once the run's final state is committed;
//! - when one finishes in another instance (PostgreSQL): the runner sends a `NOTIFY` on
//!   [`CHANNEL`] with the batch id ([`BatchEvents::notify`], inside the transaction that ends
//!   the run, so it is delivered at commit), which the watcher's listener task receives;
//! - every [`FALLBACK_POLL`] (1 s) whatever happened: a notification can be lost (a listener
//!   reconnecting, an instance that died between its commit and its `NOTIFY`, a run ended by
//!   hand in SQL), and then an answer comes up to 1 s late instead of never.
//!
//! Checks that wake-ups trigger start at least [`MIN_GAP`] (50 ms) apart and cover every batch
//! woken meanwhile, so a batch whose runs finish quickly costs at most 20 checks a second, and
//! waiters arriving together share their first check. An idle instance (runs in progress,
//! none finishing) reads the database once per second whatever the number of waiters and
//! batches (the test `waiting_requests_share_one_check_a_second` counts the statements; the
//! measured figures are in the README). When a batch is finished, each of its waiters
//! reads the batch and its runs for its answer ([`crate::testing::runs::started`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use entity::prelude::PromptTestRun;
use entity::prompt_test_run::{self, TestRunStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::store::notify;

/// The PostgreSQL notification channel of finished runs; the payload is the batch id.
pub const CHANNEL: &str = "prompt_tracker_batches";

/// How often the watcher checks every batch that has waiters even when nothing woke it.
pub const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// The least time between the starts of two checks triggered by wake-ups.
pub const MIN_GAP: Duration = Duration::from_millis(50);

/// Batch ids per checking statement (bind parameters: well under SQLite's 32,766).
const CHUNK: usize = 1_000;

/// This instance's waiters of batches, and the one task that checks their batches. Cheap to
/// clone: clones share the waiters.
#[derive(Clone)]
pub struct BatchEvents {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    fallback_poll: Duration,
    state: Mutex<State>,
    /// Wakes the watcher; a wake-up while it is busy is kept for when it next waits.
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// The batches that have waiters: each a channel that turns `true` once it is finished.
    watched: HashMap<i64, watch::Sender<bool>>,
    /// Watched batches to check at the next check.
    due: HashSet<i64>,
    /// Every watched batch is due (the listener (re)connected: notifications may be lost).
    all_due: bool,
    /// The watcher task runs.
    watching: bool,
}

impl std::fmt::Debug for BatchEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchEvents")
            .field("watched", &lock(&self.inner.state).watched.len())
            .field("fallback_poll", &self.inner.fallback_poll)
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BatchEvents {
    /// Waiters of batches stored in `db`, checked at least every [`FALLBACK_POLL`].
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_fallback_poll(db, FALLBACK_POLL)
    }

    /// Like [`BatchEvents::new`], with another fallback poll (tests lengthen it to show that
    /// wake-ups alone answer the waiters).
    pub fn with_fallback_poll(db: DatabaseConnection, every: Duration) -> Self {
        BatchEvents {
            inner: Arc::new(Inner {
                db,
                fallback_poll: every,
                state: Mutex::new(State::default()),
                wake: Notify::new(),
            }),
        }
    }

    /// Tells every instance listening on PostgreSQL that a run of `batch_id` is final: one
    /// `pg_notify` on `conn`, delivered when its transaction commits. Nothing on SQLite.
    ///
    /// # Errors
    /// The driver's error.
    pub async fn notify(conn: &impl ConnectionTrait, batch_id: i64) -> Result<(), DbErr> {
        notify::notify(conn, CHANNEL, &batch_id.to_string()).await
    }

    /// Wakes this instance's waiters of `batch_id` (call once a run's final state is
    /// committed): their batch is checked within [`MIN_GAP`]. Nothing when none waits.
    pub fn wake(&self, batch_id: i64) {
        self.inner.due(Some(batch_id));
    }

    /// Waits until no run of batch `batch_id` is `pending` or `running` (true), or until
    /// `timeout` passes (false). A batch that does not exist counts as finished.
    pub async fn finished(&self, batch_id: i64, timeout: Duration) -> bool {
        let mut done = self.watch(batch_id);
        matches!(
            tokio::time::timeout(timeout, done.wait_for(|finished| *finished)).await,
            Ok(Ok(_))
        )
    }

    /// Registers a waiter of `batch_id` (its batch due for a check), starting the watcher if
    /// it is not running. Dropping the receiver unregisters it.
    fn watch(&self, batch_id: i64) -> watch::Receiver<bool> {
        let mut state = lock(&self.inner.state);
        let done = state
            .watched
            .entry(batch_id)
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        state.due.insert(batch_id);
        if !state.watching {
            state.watching = true;
            tokio::spawn(watcher(self.inner.clone()));
        }
        drop(state);
        self.inner.wake.notify_one();
        done
    }
}

impl Inner {
    /// Marks `batch` (None: every watched batch) due and wakes the watcher; nothing when the
    /// batch has no waiter.
    fn due(&self, batch: Option<i64>) {
        let mut state = lock(&self.state);
        match batch {
            Some(id) if state.watched.contains_key(&id) => {
                state.due.insert(id);
            }
            None if !state.watched.is_empty() => state.all_due = true,
            _ => return,
        }
        drop(state);
        self.wake.notify_one();
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The watcher: checks due batches (and every watched batch each fallback poll) until no
/// waiter is left. On PostgreSQL its listener task runs as long as it does.
async fn watcher(inner: Arc<Inner>) {
    let _listener = (inner.db.get_database_backend() == DatabaseBackend::Postgres)
        .then(|| AbortOnDrop(tokio::spawn(listen(inner.clone()))));
    let mut next_poll = Instant::now() + inner.fallback_poll;
    let mut last_check: Option<Instant> = None;
    loop {
        let idle = {
            let mut state = lock(&inner.state);
            // Waiters that were answered, or gave up (timed out, their request dropped).
            state.watched.retain(|_, done| done.receiver_count() > 0);
            if state.watched.is_empty() {
                *state = State::default();
                return;
            }
            !state.all_due && state.due.is_empty()
        };
        if idle {
            tokio::select! {
                () = inner.wake.notified() => {}
                () = tokio::time::sleep_until(next_poll) => {}
            }
        }
        if let Some(last) = last_check {
            // Wake-ups meanwhile join this check.
            tokio::time::sleep_until(last + MIN_GAP).await;
        }
        let now = Instant::now();
        let poll = now >= next_poll;
        if poll {
            next_poll = now + inner.fallback_poll;
        }
        let ids: Vec<i64> = {
            let mut state = lock(&inner.state);
            state.watched.retain(|_, done| done.receiver_count() > 0);
            let ids = if poll || state.all_due {
                state.watched.keys().copied().collect()
            } else {
                state
                    .due
                    .iter()
                    .copied()
                    .filter(|id| state.watched.contains_key(id))
                    .collect()
            };
            state.due.clear();
            state.all_due = false;
            ids
        };
        if ids.is_empty() {
            continue;
        }
        last_check = Some(Instant::now());
        match unfinished(&inner.db, &ids).await {
            Ok(pending) => {
                let mut state = lock(&inner.state);
                for id in ids.iter().filter(|id| !pending.contains(id)) {
                    if let Some(done) = state.watched.remove(id) {
                        done.send_replace(true);
                    }
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                batches = ids.len(),
                "checking the batches that requests wait for failed; trying again at the next poll"
            ),
        }
    }
}

/// Those of `batches` that have a run still `pending` or `running`: one statement per
/// [`CHUNK`] batches.
async fn unfinished(db: &DatabaseConnection, batches: &[i64]) -> Result<HashSet<i64>, DbErr> {
    let mut out = HashSet::new();
    for chunk in batches.chunks(CHUNK) {
        let rows: Vec<Option<i64>> = PromptTestRun::find()
            .select_only()
            .column(prompt_test_run::Column::BatchId)
            .distinct()
            .filter(prompt_test_run::Column::BatchId.is_in(chunk.iter().copied()))
            .filter(
                prompt_test_run::Column::Status
                    .is_in([TestRunStatus::Pending, TestRunStatus::Running]),
            )
            .into_tuple()
            .all(db)
            .await?;
        out.extend(rows.into_iter().flatten());
    }
    Ok(out)
}

/// The listener task (PostgreSQL): `LISTEN`s on [`CHANNEL`] and marks each notified batch due.
/// After connecting, and after any reconnection, every watched batch is due (notifications
/// of the gap are lost); a failed connection is retried after 1 s, doubling up to 30 s, while
/// the fallback poll goes on.
async fn listen(inner: Arc<Inner>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match notify::listen(&inner.db, CHANNEL).await {
            Ok(Some(mut listener)) => {
                backoff = Duration::from_secs(1);
                inner.due(None);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => match n.payload().parse::<i64>() {
                            Ok(batch) => inner.due(Some(batch)),
                            Err(_) => tracing::warn!(
                                payload = n.payload(),
                                "a notification on {CHANNEL} that is not a batch id"
                            ),
                        },
                        Ok(None) => inner.due(None),
                        Err(e) => {
                            tracing::warn!(error = %e, "listening for finished batches failed");
                            break;
                        }
                    }
                }
            }
            Ok(None) => return,
            Err(e) => tracing::warn!(
                error = %e,
                retry_in_s = backoff.as_secs(),
                "cannot listen for finished batches; the waiters' 1 s poll goes on"
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
