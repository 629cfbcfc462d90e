//! The Prompt Tracker HTTP service as a library.
//!
//! - [`app`] builds the axum [`Router`] over an [`AppState`];
//! - [`connect`] opens the database (SQLite file or PostgreSQL) with the service's settings;
//! - [`run`] connects, applies pending migrations, starts the job workers ([`jobs`]) and serves
//!   until Ctrl-C / SIGTERM.
//!
//! Handlers live in [`http`] (thin, one module per resource); errors are RFC 9457
//! `application/problem+json` ([`http::problem::Problem`]); domain modules return [`error::Error`].

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use tokio::net::TcpListener;

// Modules other crates use (the binary, the integration tests) are `pub`; the others are
// `pub(crate)`, so an item nothing calls is reported as dead code.
pub(crate) mod catalog;
pub mod config;
pub mod error;
pub mod evaluation;
pub mod http;
pub mod jobs;
pub(crate) mod prompts;
pub mod providers;
pub mod store;
pub mod telemetry;
pub mod testing;
pub(crate) mod tracking;
pub(crate) mod validation;

pub use config::Config;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// `PROMPT_TRACKER_API_TOKEN`: when set, `/api/v1` requires `Authorization: Bearer <it>`.
    pub api_token: Option<std::sync::Arc<str>>,
    /// Per-million-token prices used to cost calls.
    pub prices: std::sync::Arc<catalog::pricing::PriceTable>,
    /// The LLM provider clients (shared HTTP client and per-provider concurrency limits).
    pub providers: providers::Providers,
    /// Wakes this instance's idle job workers.
    pub waker: jobs::Waker,
    /// Wakes the requests waiting for a batch of test runs (`?wait=true`) when it finishes, in
    /// this instance or (PostgreSQL `LISTEN`/`NOTIFY`) another one.
    pub batch_events: testing::batch_events::BatchEvents,
    /// Worker pool settings.
    pub job_settings: jobs::JobSettings,
    /// What tracked calls read about their version, cached and revision-checked.
    pub versions: tracking::version_cache::VersionCache,
    /// The JSON of listed LLM responses, cached and checked against each row's version.
    pub listed_responses: store::row_cache::RowCache,
    /// The JSON of listed evaluations, likewise.
    pub listed_evaluations: store::row_cache::RowCache,
    /// Renders the process's metrics recorder ([`telemetry::install`]) for `GET /metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    /// State over `db` with the settings of `config` (the price table with the overrides of
    /// `PROMPT_TRACKER_PRICES_FILE`, when set).
    ///
    /// # Errors
    /// An unreadable or invalid prices file.
    pub fn new(db: DatabaseConnection, config: &Config) -> anyhow::Result<Self> {
        let prices = match &config.prices_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("PROMPT_TRACKER_PRICES_FILE {}: {e}", path.display())
                })?;
                catalog::pricing::PriceTable::with_overrides(&text).map_err(|e| {
                    anyhow::anyhow!("PROMPT_TRACKER_PRICES_FILE {}: {e}", path.display())
                })?
            }
            None => catalog::pricing::PriceTable::builtin(),
        };
        Ok(AppState {
            batch_events: testing::batch_events::BatchEvents::new(db.clone()),
            db,
            api_token: config.api_token.as_deref().map(std::sync::Arc::from),
            prices: std::sync::Arc::new(prices),
            providers: providers::Providers::new(config.providers.clone()),
            waker: jobs::Waker::default(),
            job_settings: config.jobs.clone(),
            versions: tracking::version_cache::VersionCache::default(),
            listed_responses: store::row_cache::RowCache::new(config.list_cache_bytes)
                .named("llm_responses"),
            listed_evaluations: store::row_cache::RowCache::new(config.list_cache_bytes)
                .named("evaluations"),
            metrics: telemetry::install(),
        })
    }
}

impl AppState {
    /// The LLM judge's view of this state: the provider clients and the price table.
    pub fn judge(&self) -> evaluation::judge::Judge {
        evaluation::judge::Judge {
            providers: self.providers.clone(),
            prices: self.prices.clone(),
        }
    }

    /// What test runs use (a view of this state; cheap: every field is shared).
    pub fn test_runner(&self) -> testing::runs::TestRunner {
        testing::runs::TestRunner {
            db: self.db.clone(),
            judge: self.judge(),
            waker: self.waker.clone(),
            batches: self.batch_events.clone(),
        }
    }

    /// The handler of every job kind: test runs and async evaluations.
    pub fn job_handlers(&self) -> jobs::Registry {
        jobs::Registry::default()
            .with(entity::job::JobKind::TestRun, self.test_runner())
            .with(
                entity::job::JobKind::EvaluateResponse,
                tracking::responses::AsyncEvaluations {
                    db: self.db.clone(),
                    judge: self.judge(),
                },
            )
    }

    /// Starts this instance's job workers ([`jobs::start`]) with [`AppState::job_handlers`].
    pub fn start_workers(&self) -> jobs::Workers {
        jobs::start(
            self.db.clone(),
            self.job_settings.clone(),
            self.waker.clone(),
            self.job_handlers(),
        )
    }
}

/// The service's router: `/api/v1/...`, `/docs`, `/healthz`, `/readyz`, `/metrics` (see
/// [`http::router`]), each route with a request id, a tracing span and request metrics
/// ([`http::observe`]).
pub fn app(state: AppState) -> Router {
    http::observe::layers(http::router(&state).with_state(state))
}

/// The OpenAPI document as YAML: exactly what the committed `openapi.yaml` must hold.
///
/// # Errors
/// Serialization failures (none expected).
pub fn openapi_yaml() -> anyhow::Result<String> {
    Ok(http::openapi().to_yaml()?)
}

/// Opens a connection pool for `database_url` (`sqlite://FILE?mode=rwc` or `postgres://...`).
///
/// The pool holds `PROMPT_TRACKER_DB_POOL_SIZE` connections (default 48 on PostgreSQL, 16 on
/// SQLite); a connection idle for 30 s or more is pinged before use, others are not (sqlx's
/// default pings on every checkout: a round trip per statement). SQLite files use WAL
/// journaling, `foreign_keys = ON` and a 5 s busy timeout, so concurrent requests wait for the
/// single writer instead of failing with `database is locked`.
///
/// # Errors
/// Returns the driver's error when the URL is malformed or the server is unreachable.
pub async fn connect(database_url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(database_url.to_owned());
    // Enough connections for concurrent requests plus the job workers (sqlx's default is 10).
    let pool = std::env::var("PROMPT_TRACKER_DB_POOL_SIZE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(if database_url.starts_with("sqlite") {
            16
        } else {
            48
        });
    options
        .max_connections(pool)
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection it hands out by default: one extra round trip per
        // statement outside a transaction. Only connections idle for 30 s (those a server,
        // proxy or firewall may have dropped) are checked.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options).await
}

/// Applies every pending migration to `database_url` through a pool of its own, closed before
/// returning. Serve from a pool opened afterwards ([`connect`]): SQLite connections that took
/// part in a migration can keep reading an altered table with its old definition (seen with
/// sqlx 0.9 and `ALTER TABLE ... ADD COLUMN ... DEFAULT`: the new column read as NULL on some
/// pooled connections, never on fresh ones).
///
/// # Errors
/// Connection or migration failures.
pub async fn migrate(database_url: &str) -> Result<(), DbErr> {
    let db = connect(database_url).await?;
    let migrated = Migrator::up(&db, None).await;
    db.close().await?;
    migrated
}

/// Connects to `config.database_url`, applies every pending migration, binds
/// `config.bind` and serves [`app`] until Ctrl-C or SIGTERM.
///
/// # Errors
/// Database connection or migration failures, or a bind failure (address in use).
pub async fn run(config: Config) -> anyhow::Result<()> {
    migrate(&config.database_url).await?;
    let db = connect(&config.database_url).await?;
    let listener = TcpListener::bind(config.bind).await?;
    tracing::info!(address = %listener.local_addr()?, "prompt-tracker listening");
    let state = AppState::new(db, &config)?;
    let workers = state.start_workers();
    let served = serve(listener, state).await;
    workers.stop().await;
    served
}

/// Serves [`app`] on an already bound listener until Ctrl-C or SIGTERM (tests bind port 0).
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
