//! Service configuration (README, "Configuration"). The binary fills it from environment
//! variables and matching CLI flags.

use std::net::SocketAddr;

/// Default `DATABASE_URL`: an SQLite file in the working directory, created when absent.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://prompt_tracker.db?mode=rwc";
/// Default `PROMPT_TRACKER_BIND`.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Settings of one service instance.
#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    pub database_url: String,
    /// `PROMPT_TRACKER_BIND`: the listen address.
    pub bind: SocketAddr,
    /// `PROMPT_TRACKER_API_TOKEN`: when set, every `/api/v1` route requires
    /// `Authorization: Bearer <token>`. Never logged.
    pub api_token: Option<String>,
    /// `PROMPT_TRACKER_PRICES_FILE`: a JSON file shaped like `api/data/prices.json` whose
    /// entries replace or add per-million-token prices.
    pub prices_file: Option<std::path::PathBuf>,
    /// Provider endpoints and credentials (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, ...).
    pub providers: crate::providers::ProviderSettings,
    /// Background workers (`PROMPT_TRACKER_WORKERS`, ...).
    pub jobs: crate::jobs::JobSettings,
    /// `PROMPT_TRACKER_LIST_CACHE_MB` in bytes: the most JSON of listed rows kept per list
    /// (LLM responses, evaluations) on PostgreSQL ([`crate::store::row_cache`]); 0 keeps none.
    pub list_cache_bytes: u64,
}
