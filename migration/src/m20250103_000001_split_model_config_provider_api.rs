//! Seed 002, Phase 3: `model_config` splits the compound provider into `provider` + `api`.
//!
//! On prompt versions and prompt tests, `{"provider": "openai_responses", ...}` becomes
//! `{"provider": "openai", "api": "response_api", ...}` and `openai_assistants` becomes
//! `openai` + `assistants_api` (seed 002, Step 7's `PROVIDER_MAPPING`). Rows with a plain
//! provider are left as they are. Rows that already have an `api` keep it; the seed skipped
//! them, which would leave a compound provider behind (against its Success Criterion 5), so
//! their provider becomes `openai` too. Every other key is kept. One set-based `UPDATE` per
//! table (`jsonb ||` on PostgreSQL, `json_set` on SQLite) instead of the seed's Ruby loop.
//!
//! LLM responses get a nullable `api` column, split the same way (`openai_responses` ->
//! `openai` + `response_api`); a plain provider gets its implied api as seed 002's
//! `extract_api` infers it (`openai` -> `chat_completion`, `anthropic` -> `messages`,
//! `google` -> `gemini`); other providers get NULL. Indexed with `provider`.
//!
//! `down` is the seed's rollback, made exact: each rewritten `model_config` gets its original
//! value back from the [`archive`](crate::archive) while it still holds what `up` wrote (a
//! config changed since is in the new form, which the previous code also reads). Responses
//! get their compound provider back and lose `api`; `down` refuses, naming them, rows whose
//! api the old schema cannot express (an api other than the provider's implied one).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::archive;
use crate::support::*;

pub struct Migration;

const NAME: &str = "m20250103_000001_split_model_config_provider_api";
const INDEX: &str = "index_prompt_tracker_llm_responses_on_provider_and_api";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        NAME
    }
}

/// (compound provider, provider, api) of seed 002's `PROVIDER_MAPPING`.
pub const COMPOUND_PROVIDERS: &[(&str, &str, &str)] = &[
    ("openai_responses", "openai", "response_api"),
    ("openai_assistants", "openai", "assistants_api"),
];

/// (provider, api) a plain provider implies (seed 002, `extract_api`).
pub const IMPLIED_APIS: &[(&str, &str)] = &[
    ("openai", "chat_completion"),
    ("anthropic", "messages"),
    ("google", "gemini"),
];

fn compound_list() -> String {
    let names: Vec<&str> = COMPOUND_PROVIDERS.iter().map(|c| c.0).collect();
    in_list("", &names).trim_start().to_owned()
}

/// `CASE <expr> WHEN 'openai_responses' THEN 'response_api' ... END`
fn api_of_compound(expr: &str) -> String {
    let arms: String = COMPOUND_PROVIDERS
        .iter()
        .map(|(c, _, a)| format!(" WHEN '{c}' THEN '{a}'"))
        .collect();
    format!("CASE {expr}{arms} END")
}

/// `WHERE` of the `model_config` rows (alias-free) that `up` rewrites.
fn compound_config(backend: DbBackend) -> String {
    match backend {
        DbBackend::Postgres => format!(
            "jsonb_typeof(model_config) = 'object' AND model_config->>'provider' {}",
            compound_list()
        ),
        _ => format!(
            "json_valid(model_config) AND json_type(model_config) = 'object' AND json_extract(model_config, '$.provider') {}",
            compound_list()
        ),
    }
}

/// The new-form value of a compound `model_config`.
fn split_config(backend: DbBackend) -> String {
    match backend {
        DbBackend::Postgres => format!(
            "model_config || jsonb_build_object('provider', 'openai', 'api', COALESCE(NULLIF(model_config->>'api', ''), {}))",
            api_of_compound("model_config->>'provider'")
        ),
        _ => format!(
            "json_set(model_config, '$.provider', 'openai', '$.api', COALESCE(NULLIF(json_extract(model_config, '$.api'), ''), {}))",
            api_of_compound("json_extract(model_config, '$.provider')")
        ),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = backend(manager);
        archive::ensure(manager).await?;
        for table in [PROMPT_VERSIONS, PROMPT_TESTS] {
            exec(
                manager,
                &format!(
                    "INSERT INTO {} (migration, table_name, row_id, column_name, original, derived) \
                     SELECT '{NAME}', '{table}', id, 'model_config', model_config, {} FROM {table} WHERE {}",
                    archive::TABLE,
                    split_config(db),
                    compound_config(db)
                ),
            )
            .await?;
            exec(
                manager,
                &format!(
                    "UPDATE {table} SET model_config = a.derived FROM {} a WHERE {} AND a.row_id = {table}.id",
                    archive::TABLE,
                    archive::key(NAME, table, "model_config")
                ),
            )
            .await?;
        }
        archive::drop_if_empty(manager).await?;

        manager
            .alter_table(
                Table::alter()
                    .table(LLM_RESPONSES)
                    .add_column(ColumnDef::new("api").string())
                    .to_owned(),
            )
            .await?;
        let implied: String = IMPLIED_APIS
            .iter()
            .map(|(p, a)| format!(" WHEN '{p}' THEN '{a}'"))
            .collect();
        let compound_arms: String = COMPOUND_PROVIDERS
            .iter()
            .map(|(c, _, a)| format!(" WHEN '{c}' THEN '{a}'"))
            .collect();
        let provider_arms: String = COMPOUND_PROVIDERS
            .iter()
            .map(|(c, p, _)| format!(" WHEN '{c}' THEN '{p}'"))
            .collect();
        let mut known: Vec<&str> = COMPOUND_PROVIDERS.iter().map(|c| c.0).collect();
        known.extend(IMPLIED_APIS.iter().map(|i| i.0));
        exec(
            manager,
            &format!(
                "UPDATE {LLM_RESPONSES} SET api = CASE provider{compound_arms}{implied} END, \
                 provider = CASE provider{provider_arms} ELSE provider END WHERE {}",
                in_list("provider", &known)
            ),
        )
        .await?;
        index(manager, INDEX, LLM_RESPONSES, &["provider", "api"], false).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let expressible: Vec<String> = IMPLIED_APIS
            .iter()
            .map(|(p, a)| (*p, *a))
            .chain(COMPOUND_PROVIDERS.iter().map(|(_, p, a)| (*p, *a)))
            .map(|(p, a)| format!("(provider = '{p}' AND api = '{a}')"))
            .collect();
        refuse_rows(
            manager,
            &format!(
                "SELECT id FROM {LLM_RESPONSES} WHERE api IS NOT NULL AND NOT ({}) ORDER BY id",
                expressible.join(" OR ")
            ),
            "These LLM responses have an api that the schema before the provider/api split cannot express \
             (only a compound provider such as openai_responses, or a provider's implied api)",
        )
        .await?;
        let split_apis: Vec<&str> = COMPOUND_PROVIDERS.iter().map(|c| c.2).collect();
        let back: String = COMPOUND_PROVIDERS
            .iter()
            .map(|(c, p, a)| format!(" WHEN provider = '{p}' AND api = '{a}' THEN '{c}'"))
            .collect();
        exec(
            manager,
            &format!(
                "UPDATE {LLM_RESPONSES} SET provider = CASE{back} ELSE provider END WHERE {}",
                in_list("api", &split_apis)
            ),
        )
        .await?;
        drop_index(manager, INDEX, LLM_RESPONSES).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LLM_RESPONSES)
                    .drop_column("api")
                    .to_owned(),
            )
            .await?;

        if archive::exists(manager).await? {
            for table in [PROMPT_VERSIONS, PROMPT_TESTS] {
                exec(
                    manager,
                    &format!(
                        "UPDATE {table} SET model_config = a.original FROM {} a \
                         WHERE {} AND a.row_id = {table}.id AND a.derived = {table}.model_config",
                        archive::TABLE,
                        archive::key(NAME, table, "model_config")
                    ),
                )
                .await?;
                archive::clear(manager, NAME, table, "model_config").await?;
            }
        }
        Ok(())
    }
}
