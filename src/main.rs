//! `prompt-tracker`: serve the API (the default) or manage the schema.
//!
//! ```text
//! prompt-tracker [serve] [--database-url URL] [--bind ADDR] [--log-format text|json]
//! prompt-tracker migrate <up [-n N] | down [-n N] | status | fresh | refresh | reset> [--database-url URL]
//! prompt-tracker openapi            # the OpenAPI document, YAML (what openapi.yaml holds)
//! prompt-tracker import-evals FILE.jsonl --prompt NAME --model-config JSON --match starts_with|includes|exact
//! ```

use clap::{Args, Parser, Subcommand};
use migration::{Migrator, MigratorTrait};

/// mimalloc instead of the system allocator: a list page or a tracked call allocates per
/// column and per JSON value, and glibc's malloc/free were ~10% of the service's CPU under
/// `scripts/load-tracking.sh` (perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Log line format: `text` (human-readable) or `json` (one JSON object per line, with the
    /// fields of the enclosing spans, e.g. a request's `request_id`).
    #[arg(
        long,
        env = "PROMPT_TRACKER_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value_t = LogFormat::Text,
        global = true
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Print the OpenAPI document the service serves (YAML): `prompt-tracker openapi > openapi.yaml`.
    Openapi,
    /// Import openai/evals samples (`{"input": [...], "ideal": ...}` per line): creates a prompt,
    /// an active version, a dataset of the samples and a test checking `ideal` the eval's way.
    ImportEvals {
        /// The samples file (JSONL).
        file: std::path::PathBuf,
        /// Name of the prompt to create.
        #[arg(long)]
        prompt: String,
        /// The version's model config, JSON, e.g. '{"provider":"openai","api":"chat_completion","model":"gpt-4o"}'.
        #[arg(long = "model-config")]
        model_config: String,
        /// How `ideal` is checked: starts_with (openai/evals Match), includes (Includes) or exact.
        #[arg(long = "match", value_enum, default_value_t = MatchArg::StartsWith)]
        mode: MatchArg,
        #[command(flatten)]
        db: DbArgs,
    },
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
    /// MiB of listed rows' JSON kept in memory per list on PostgreSQL (LLM responses,
    /// evaluations), each entry checked against its row's version on every read; 0: none.
    #[arg(
        long,
        env = "PROMPT_TRACKER_LIST_CACHE_MB",
        default_value_t = api::store::row_cache::DEFAULT_CAPACITY_MB,
        global = true
    )]
    list_cache_mb: u64,
}

/// How an answer must match the `ideal` (the evals `Match` class; spelled `starts_with` as in
/// the interface's specification, `starts-with` accepted too).
#[derive(Clone, Copy, clap::ValueEnum)]
enum MatchArg {
    #[value(name = "starts_with", alias = "starts-with")]
    StartsWith,
    Includes,
    Exact,
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
    let cli = Cli::parse();
    init_logging(cli.log_format);
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
        Some(Command::ImportEvals {
            file,
            prompt,
            model_config,
            mode,
            db,
        }) => import_evals(file, prompt, model_config, mode, db).await,
        Some(Command::Serve(args)) => serve(args).await,
        None => serve(cli.serve).await,
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info,sqlx=warn`), as text (colored on a
/// terminal) or as JSON lines (`PROMPT_TRACKER_LOG_FORMAT=json`): each line an object with
/// `timestamp`, `level`, `target`, the event's fields (`message`, ...) at the top level, and
/// `spans`, the enclosing spans with their fields (a request's `method`, `route`, `path`,
/// `request_id`; a job's `id`, `kind`; a provider call's `provider`, `api`, `model`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
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
        list_cache_bytes: args.list_cache_mb.saturating_mul(1 << 20),
    })
    .await
}

async fn import_evals(
    file: std::path::PathBuf,
    prompt: String,
    model_config: String,
    mode: MatchArg,
    db: DbArgs,
) -> anyhow::Result<()> {
    use api::testing::evals_import::{ImportOptions, MatchMode, import};
    let text =
        std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let model_config: serde_json::Value = serde_json::from_str(&model_config)
        .map_err(|e| anyhow::anyhow!("--model-config is not JSON: {e}"))?;
    api::migrate(&db.database_url).await?;
    let conn = api::connect(&db.database_url).await?;
    let dataset_name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("samples")
        .to_owned();
    let mode = match mode {
        MatchArg::StartsWith => MatchMode::StartsWith,
        MatchArg::Includes => MatchMode::Includes,
        MatchArg::Exact => MatchMode::Exact,
    };
    let report = import(
        &conn,
        &text,
        ImportOptions {
            prompt,
            model_config,
            mode,
            dataset_name,
        },
    )
    .await
    .map_err(|e| match e {
        api::error::Error::Validation(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        other => anyhow::anyhow!("{other}"),
    })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "imported {} of {} samples into prompt {} (version {}, dataset {}, test {}); {} skipped",
        report.imported,
        report.samples,
        report.prompt_id,
        report.version_id,
        report.dataset_id,
        report.test_id,
        report.skipped.len()
    );
    for s in &report.skipped {
        eprintln!("  line {}: skipped: {}", s.line, s.reason);
    }
    for (key, lines) in &report.unmapped_keys {
        eprintln!("  key {key:?} is not mapped (lines {lines:?})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, MatchArg};

    fn match_arg(spelling: &str) -> Option<MatchArg> {
        let args = [
            "prompt-tracker",
            "import-evals",
            "samples.jsonl",
            "--prompt",
            "p",
            "--model-config",
            "{}",
            "--match",
            spelling,
        ];
        match Cli::try_parse_from(args).ok()?.command? {
            Command::ImportEvals { mode, .. } => Some(mode),
            _ => None,
        }
    }

    #[test]
    fn import_evals_match_takes_both_spellings() {
        assert!(matches!(
            match_arg("starts_with"),
            Some(MatchArg::StartsWith)
        ));
        assert!(matches!(
            match_arg("starts-with"),
            Some(MatchArg::StartsWith)
        ));
        assert!(matches!(match_arg("includes"), Some(MatchArg::Includes)));
        assert!(match_arg("startswith").is_none());
    }

    #[test]
    fn help_shows_the_specified_spelling() {
        let help = <Cli as clap::CommandFactory>::command()
            .find_subcommand_mut("import-evals")
            .unwrap()
            .render_help()
            .to_string();
        assert!(help.contains("starts_with"), "{help}");
    }
}
