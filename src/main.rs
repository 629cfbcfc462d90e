//! `prompt-tracker`: serve the API (the default) or manage the schema.
//!
//! ```text
//! prompt-tracker [serve] [--database-url URL] [--bind ADDR]
//! prompt-tracker migrate <up [-n N] | down [-n N] | status | fresh | refresh | reset> [--database-url URL]
//! prompt-tracker openapi            # the OpenAPI document, YAML (what openapi.yaml holds)
//! ```

use clap::{Args, Parser, Subcommand};
use migration::{Migrator, MigratorTrait};

#[derive(Parser)]
#[command(
    name = "prompt-tracker",
    version,
    about = "Versions LLM prompts, tracks every call made with them, and scores them."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Print the OpenAPI document the service serves (YAML): `prompt-tracker openapi > openapi.yaml`.
    Openapi,
    /// Manage the schema with the same migrator the service runs at start-up.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER@HOST:PORT/DB.
    #[arg(long, short = 'u', env = "DATABASE_URL", default_value = api::config::DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
}

#[derive(Args, Clone)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "PROMPT_TRACKER_BIND", default_value = api::config::DEFAULT_BIND, global = true)]
    bind: std::net::SocketAddr,
    /// When set, every /api/v1 route requires `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "PROMPT_TRACKER_API_TOKEN",
        hide_env_values = true,
        global = true
    )]
    api_token: Option<String>,
    /// JSON file of per-million-token prices that replace or extend the built-in table.
    #[arg(long, env = "PROMPT_TRACKER_PRICES_FILE", global = true)]
    prices_file: Option<std::path::PathBuf>,
    /// Background workers of this instance (test runs, async evaluations).
    #[arg(
        long,
        env = "PROMPT_TRACKER_WORKERS",
        default_value_t = 4,
        global = true
    )]
    workers: usize,
    /// Lease of a claimed job, seconds (renewed while it runs; an expired lease is taken over).
    #[arg(
        long,
        env = "PROMPT_TRACKER_JOB_LEASE_SECS",
        default_value_t = 60,
        global = true
    )]
    job_lease_secs: u64,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Apply pending migrations (all, or the next N).
    Up {
        #[arg(short, long)]
        num: Option<u32>,
    },
    /// Roll back applied migrations (the last one, or the last N).
    Down {
        #[arg(short, long, default_value_t = 1)]
        num: u32,
    },
    /// Show which migrations are applied.
    Status,
    /// Drop every table, then apply all migrations.
    Fresh,
    /// Roll back all applied migrations, then apply them all again.
    Refresh,
    /// Roll back all applied migrations.
    Reset,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Migrate { action, db }) => {
            let conn = api::connect(&db.database_url).await?;
            match action {
                MigrateAction::Up { num } => Migrator::up(&conn, num).await?,
                MigrateAction::Down { num } => Migrator::down(&conn, Some(num)).await?,
                MigrateAction::Status => Migrator::status(&conn).await?,
                MigrateAction::Fresh => Migrator::fresh(&conn).await?,
                MigrateAction::Refresh => Migrator::refresh(&conn).await?,
                MigrateAction::Reset => Migrator::reset(&conn).await?,
            }
            Ok(())
        }
        Some(Command::Openapi) => {
            print!("{}", api::openapi_yaml()?);
            Ok(())
        }
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    api::run(api::Config {
        database_url: args.db.database_url,
        bind: args.bind,
        api_token: args.api_token,
        prices_file: args.prices_file,
        // OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_*, GEMINI_*, PROMPT_TRACKER_PROVIDER_*.
        providers: api::providers::ProviderSettings::from_env(),
        jobs: api::jobs::JobSettings {
            workers: args.workers,
            lease: std::time::Duration::from_secs(args.job_lease_secs.max(3)),
            ..Default::default()
        },
    })
    .await
}
