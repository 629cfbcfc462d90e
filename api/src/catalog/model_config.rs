//! The provider/api catalog and `model_config` validation (seed 002: provider and api are
//! separate fields; display names such as "OpenAI - Response API").
//!
//! - [`catalog`] is the static list of providers, each with its apis (wire formats, tools) and
//!   the models we know (capabilities, limits in tokens). The HTTP layer serves it as JSON from
//!   `GET /api/v1/providers`.
//! - [`validate`] checks a submitted [`ModelConfig`]; field paths are relative to the
//!   `model_config` object (`provider`, `tools[1].name`, ...), so callers prefix them with
//!   [`Errors::extend_prefixed`](crate::validation::Errors::extend_prefixed).
//! - [`display_label`], [`api_display_name`] and [`supports_structured_output`] are the
//!   read-side helpers of seed 002 Steps 3 and 8.
//!
//! Legacy compound configs (`{"provider": "openai_responses"}`) are normalised by
//! [`ModelConfig::from_json`] before they reach this module, so everything here sees the
//! provider/api form.

use entity::ModelConfig;
use entity::model_config::ApiType;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::validation::{Errors, FieldError};

/// A tool an api can enable in `model_config.tools`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ToolInfo {
    /// Tool id as written in `model_config.tools`, e.g. `web_search`. The id `functions`
    /// stands for caller-defined function tools, which are given as objects
    /// `{"type": "function", "name": ..., "description"?: ..., "parameters": {...}}`.
    pub id: &'static str,
    /// Display name, e.g. "Web Search".
    pub name: &'static str,
    /// One sentence on what the tool does.
    pub description: &'static str,
    /// Top-level `model_config` keys the tool needs, e.g. `["vector_store_ids"]` for
    /// `file_search`.
    pub requires: &'static [&'static str],
}

/// One api (wire format) of a provider.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct ApiInfo {
    /// Key stored in `model_config.api`, e.g. `response_api`.
    pub key: &'static str,
    /// Display name, e.g. "OpenAI - Response API" (seed 002, Step 8).
    pub name: &'static str,
    /// The api type (`openai_response_api`, ...), as `ApiTypes.from_config` maps it.
    pub api_type: ApiType,
    /// The provider retired this api: stored configs still validate and display, but no
    /// request is built for it (see `providers::build_request`).
    pub deprecated: bool,
    /// Tools this api supports.
    pub tools: &'static [ToolInfo],
}

/// A model we know the capabilities of. Other model ids are accepted too (new models appear
/// constantly); they just get rule-based answers (see [`supports_structured_output`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ModelInfo {
    /// Model id as sent to the provider, e.g. `gpt-4o`.
    pub id: &'static str,
    /// Display name, e.g. "GPT-4o".
    pub name: &'static str,
    /// Accepts a JSON Schema for its answer (OpenAI `json_schema`, Gemini `responseSchema`,
    /// Anthropic through a forced tool call).
    pub structured_output: bool,
    /// Supports tool / function calling.
    pub tools: bool,
    /// Accepts image input.
    pub vision: bool,
    /// Accepts `temperature` and `top_p` (OpenAI reasoning models do not).
    pub sampling: bool,
    /// Context window, tokens (input and output together).
    pub context_window: u32,
    /// Largest output the model produces in one call, tokens; `max_tokens` may not exceed it.
    pub max_output_tokens: u32,
    /// The provider has deprecated or retired the model.
    pub deprecated: bool,
}

/// A provider with its apis and known models.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProviderInfo {
    /// Key stored in `model_config.provider`, e.g. `openai`.
    pub key: &'static str,
    /// Display name, e.g. "OpenAI".
    pub name: &'static str,
    /// The provider's apis; the first is the one a bare provider implies
    /// (`entity::model_config::IMPLIED_APIS`).
    pub apis: &'static [ApiInfo],
    /// Models we know; any other non-empty model id is accepted as well.
    pub models: &'static [ModelInfo],
}

const FUNCTIONS: ToolInfo = ToolInfo {
    id: "functions",
    name: "Functions",
    description: "Caller-defined functions the model may call, given as objects \
                  {\"type\": \"function\", \"name\", \"description\", \"parameters\"}.",
    requires: &[],
};
const WEB_SEARCH: ToolInfo = ToolInfo {
    id: "web_search",
    name: "Web Search",
    description: "Lets the model search the web and cite what it found.",
    requires: &[],
};
const FILE_SEARCH: ToolInfo = ToolInfo {
    id: "file_search",
    name: "File Search",
    description: "Searches the OpenAI vector stores listed in model_config.vector_store_ids.",
    requires: &["vector_store_ids"],
};
const CODE_INTERPRETER: ToolInfo = ToolInfo {
    id: "code_interpreter",
    name: "Code Interpreter",
    description: "Runs Python in a sandboxed container.",
    requires: &[],
};
const GOOGLE_SEARCH: ToolInfo = ToolInfo {
    id: "google_search",
    name: "Google Search",
    description: "Grounds the answer in Google Search results.",
    requires: &[],
};

/// `max_output_tokens` and `context_window` come from each provider's model pages
/// (OpenAI models docs, Anthropic models overview, Gemini models docs).
const fn model(
    id: &'static str,
    name: &'static str,
    vision: bool,
    context_window: u32,
    max_output_tokens: u32,
) -> ModelInfo {
    ModelInfo {
        id,
        name,
        structured_output: true,
        tools: true,
        vision,
        sampling: true,
        context_window,
        max_output_tokens,
        deprecated: false,
    }
}

static CATALOG: &[ProviderInfo] = &[
    ProviderInfo {
        key: "openai",
        name: "OpenAI",
        apis: &[
            ApiInfo {
                key: "chat_completion",
                name: "OpenAI - Chat Completions",
                api_type: ApiType::OpenaiChatCompletion,
                deprecated: false,
                tools: &[FUNCTIONS],
            },
            ApiInfo {
                key: "response_api",
                name: "OpenAI - Response API",
                api_type: ApiType::OpenaiResponseApi,
                deprecated: false,
                tools: &[WEB_SEARCH, FILE_SEARCH, CODE_INTERPRETER, FUNCTIONS],
            },
            ApiInfo {
                key: "assistants_api",
                name: "OpenAI - Assistants API",
                api_type: ApiType::OpenaiAssistantsApi,
                deprecated: true,
                tools: &[FILE_SEARCH, CODE_INTERPRETER, FUNCTIONS],
            },
        ],
        models: &[
            model("gpt-4o", "GPT-4o", true, 128_000, 16_384),
            model("gpt-4o-mini", "GPT-4o mini", true, 128_000, 16_384),
            model("gpt-4.1", "GPT-4.1", true, 1_047_576, 32_768),
            model("gpt-4.1-mini", "GPT-4.1 mini", true, 1_047_576, 32_768),
            // Reasoning model: text only, no temperature / top_p (OpenAI reasoning guide).
            ModelInfo {
                sampling: false,
                ..model("o3-mini", "o3-mini", false, 200_000, 100_000)
            },
        ],
    },
    ProviderInfo {
        key: "anthropic",
        name: "Anthropic",
        apis: &[ApiInfo {
            key: "messages",
            name: "Anthropic - Messages",
            api_type: ApiType::AnthropicMessages,
            deprecated: false,
            tools: &[
                ToolInfo {
                    description: "Anthropic tool use: caller-defined functions given as \
                                  objects {\"type\": \"function\", \"name\", \"description\", \
                                  \"parameters\"}.",
                    ..FUNCTIONS
                },
                WEB_SEARCH,
            ],
        }],
        models: &[
            // Anthropic's pricing page lists Claude Sonnet 3.5 as deprecated.
            ModelInfo {
                deprecated: true,
                ..model(
                    "claude-3-5-sonnet-latest",
                    "Claude 3.5 Sonnet",
                    true,
                    200_000,
                    8_192,
                )
            },
            model(
                "claude-3-5-haiku-latest",
                "Claude 3.5 Haiku",
                true,
                200_000,
                8_192,
            ),
            model(
                "claude-sonnet-4-20250514",
                "Claude Sonnet 4",
                true,
                200_000,
                64_000,
            ),
        ],
    },
    ProviderInfo {
        key: "google",
        name: "Google",
        apis: &[ApiInfo {
            key: "gemini",
            name: "Google - Gemini",
            api_type: ApiType::GoogleGemini,
            deprecated: false,
            tools: &[FUNCTIONS, GOOGLE_SEARCH],
        }],
        models: &[
            // Google closed Gemini 1.5 to new projects on 2025-04-29 (model lifecycle page).
            ModelInfo {
                deprecated: true,
                ..model("gemini-1.5-pro", "Gemini 1.5 Pro", true, 2_097_152, 8_192)
            },
            // Deprecated by Google (shutdown announced for 2026-06-01), replaced by
            // gemini-2.5-flash-lite.
            ModelInfo {
                deprecated: true,
                ..model(
                    "gemini-2.0-flash",
                    "Gemini 2.0 Flash",
                    true,
                    1_048_576,
                    8_192,
                )
            },
            model("gemini-2.5-pro", "Gemini 2.5 Pro", true, 1_048_576, 65_536),
        ],
    },
];

/// Every provider with its apis and known models, in display order. Static data; serialise it
/// as is for `GET /api/v1/providers`.
pub fn catalog() -> &'static [ProviderInfo] {
    CATALOG
}

/// The provider with key `provider` (`openai`, `anthropic`, `google`).
pub fn provider_info(provider: &str) -> Option<&'static ProviderInfo> {
    CATALOG.iter().find(|p| p.key == provider)
}

/// The api `api` of `provider`.
pub fn api_info(provider: &str, api: &str) -> Option<&'static ApiInfo> {
    provider_info(provider)?.apis.iter().find(|a| a.key == api)
}

/// The catalog entry of model `model` of `provider` (exact id).
pub fn model_info(provider: &str, model: &str) -> Option<&'static ModelInfo> {
    provider_info(provider)?
        .models
        .iter()
        .find(|m| m.id == model)
}

/// Display name of (provider, api), e.g. `("openai", "response_api")` ->
/// "OpenAI - Response API" (seed 002, Step 8 `format_model_config_value('api', ...)`).
pub fn api_display_name(provider: &str, api: &str) -> Option<&'static str> {
    api_info(provider, api).map(|a| a.name)
}

/// What the empty config `{}` calls: OpenAI Chat Completions (seed 002, Step 2).
const DEFAULT_PROVIDER: &str = "openai";

/// One line for lists and show pages: `"{api display name} · {model}"`, e.g.
/// "OpenAI - Response API · gpt-4o"; "OpenAI - Chat Completions (default)" for `{}`.
/// A config without provider is shown as the default it falls back to; unknown providers and
/// apis are shown by key ("mistral", "OpenAI - batch_api").
pub fn display_label(config: &ModelConfig) -> String {
    let head = match (config.provider.as_deref(), config.api.as_deref()) {
        (None, _) => {
            let name = api_display_name(DEFAULT_PROVIDER, "chat_completion").unwrap_or_default();
            format!("{name} (default)")
        }
        (Some(p), Some(a)) => match (api_display_name(p, a), provider_info(p)) {
            (Some(name), _) => name.to_owned(),
            (None, Some(info)) => format!("{} - {a}", info.name),
            (None, None) => format!("{p} - {a}"),
        },
        (Some(p), None) => provider_info(p).map_or(p, |i| i.name).to_owned(),
    };
    match config.model.as_deref() {
        Some(model) => format!("{head} · {model}"),
        None => head,
    }
}

/// True when the config's model accepts a JSON Schema for its answer, so that
/// `providers::build_request` sends one.
///
/// - Known models ([`model_info`]): the catalog's `structured_output`.
/// - Other model ids, by seed 002 Step 3's prefix rule, extended:
///   - `openai`: `gpt-4o*` (seed) except the `gpt-4o-2024-05-13` snapshot, `gpt-4.1*`,
///     `gpt-5*`, and o-series reasoning models (`o1`, `o3*`, `o4*`; not `o1-mini` /
///     `o1-preview`). The seed's `gpt-4-turbo` is left out: it only has JSON mode, and OpenAI
///     refuses `response_format: json_schema` for it (OpenAI Structured Outputs guide).
///   - `anthropic`: any `claude-*` model from Claude 3 on (the seed's `claude-3` rule, plus the
///     Claude 4 family named `claude-<tier>-<n>`); structured output goes through a forced tool
///     call, which every such model supports.
///   - `google`: `gemini-1.5*` and later (`gemini-2*`, `gemini-3*`, ...), which accept
///     `responseSchema` (Gemini structured output docs). The seed had no Google rule.
///   - any other provider: false.
/// - No model: false. A config without provider is read as the default OpenAI (seed 002,
///   Steps 2 and 4).
pub fn supports_structured_output(config: &ModelConfig) -> bool {
    let Some(model) = config.model.as_deref() else {
        return false;
    };
    let provider = config.provider.as_deref().unwrap_or(DEFAULT_PROVIDER);
    if let Some(info) = model_info(provider, model) {
        return info.structured_output;
    }
    match provider {
        "openai" => {
            (model.starts_with("gpt-4o") && !model.starts_with("gpt-4o-2024-05-13"))
                || model.starts_with("gpt-4.1")
                || model.starts_with("gpt-5")
                || (is_openai_reasoning_model(model)
                    && !model.starts_with("o1-mini")
                    && !model.starts_with("o1-preview"))
        }
        "anthropic" => {
            model.contains("claude-3")
                || ["claude-opus-", "claude-sonnet-", "claude-haiku-"]
                    .iter()
                    .any(|prefix| model.starts_with(prefix))
        }
        "google" => {
            model.starts_with("gemini-")
                && !model.starts_with("gemini-1.0")
                && !model.starts_with("gemini-pro")
        }
        _ => false,
    }
}

/// OpenAI o-series reasoning model (`o1`, `o3-mini`, `o4-mini`, ...): an `o` followed by a digit.
/// These take `max_completion_tokens` instead of `max_tokens` on Chat Completions and refuse
/// `temperature` / `top_p` (OpenAI reasoning models guide).
pub fn is_openai_reasoning_model(model: &str) -> bool {
    let mut chars = model.chars();
    chars.next() == Some('o') && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// Gemini 1.x / 2.x model (`gemini-2.5-pro`, `models/gemini-2.0-flash`, ...). These take one
/// kind of tool per `generateContent` request: function tools, `google_search`, or a JSON
/// response schema, never two together (the API answers 400 "Tool use with function calling
/// is unsupported" / "Function calling with a response mime type: 'application/json' is
/// unsupported").
pub fn is_gemini_single_tool_model(model: &str) -> bool {
    let id = model.strip_prefix("models/").unwrap_or(model);
    id.starts_with("gemini-1.") || id.starts_with("gemini-2.")
}

/// Whether the model accepts `temperature` / `top_p`: the catalog's `sampling` for known
/// models, else false only for OpenAI o-series models.
fn accepts_sampling(provider: &str, model: &str) -> bool {
    match model_info(provider, model) {
        Some(info) => info.sampling,
        None => !(provider == "openai" && is_openai_reasoning_model(model)),
    }
}

/// Allowed `temperature` range per provider: OpenAI and Gemini 0-2, Anthropic 0-1 (each
/// provider's API reference).
fn temperature_max(provider: &str) -> f64 {
    if provider == "anthropic" { 1.0 } else { 2.0 }
}

fn providers_list() -> String {
    CATALOG
        .iter()
        .map(|p| format!("{} ({})", p.key, p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn apis_list(provider: &ProviderInfo) -> String {
    provider
        .apis
        .iter()
        .map(|a| {
            let note = if a.deprecated { ", deprecated" } else { "" };
            format!("{} ({}{note})", a.key, a.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

const FUNCTION_SHAPE: &str =
    r#"function objects {"type": "function", "name": ..., "parameters": {...}}"#;

/// "web_search, file_search, or function objects {...}" for an api.
fn tools_list(api: &ApiInfo) -> String {
    let mut parts: Vec<String> = api
        .tools
        .iter()
        .filter(|t| t.id != FUNCTIONS.id)
        .map(|t| t.id.to_owned())
        .collect();
    if supports_functions(api) {
        parts.push(FUNCTION_SHAPE.to_owned());
    }
    match parts.len() {
        0 => "none".to_owned(),
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{}, or {last}", parts.join(", "))
        }
    }
}

fn supports_functions(api: &ApiInfo) -> bool {
    api.tools.iter().any(|t| t.id == FUNCTIONS.id)
}

/// Function names OpenAI, Anthropic and Gemini all accept: 1-64 of `a-zA-Z0-9_-`.
fn valid_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a `model_config`. Errors carry paths relative to the `model_config` object and,
/// where there is a closed set, list the valid choices.
///
/// Rules:
/// - `{}` is valid: it calls the default OpenAI Chat Completions (seed 002, Step 2). Any other
///   config needs `provider`.
/// - `provider` must be a catalog provider, `api` one of its apis (a bare provider implies its
///   first api; legacy compound providers were split by [`ModelConfig::from_json`]).
///   Deprecated apis (`assistants_api`) still validate, so stored versions stay readable.
/// - `model`: any non-empty string (unknown ids are allowed), but a catalog model of another
///   provider is refused.
/// - `temperature` 0-2 (Anthropic 0-1), `top_p` 0-1, `max_tokens` an integer > 0 and, for a
///   catalog model, at most its `max_output_tokens`. OpenAI o-series models take no
///   `temperature` / `top_p`.
/// - `tools`: each entry is a tool id the api supports (see [`ApiInfo::tools`]) or, when the
///   api supports `functions`, a function object
///   `{"type": "function", "name": "a-zA-Z0-9_- (1-64)", "description"?: string,
///   "parameters": {"type": "object", ...}}`. No id or function name twice.
/// - Gemini 1.x / 2.x models: `google_search` and function tools not together
///   ([`is_gemini_single_tool_model`]).
/// - `vector_store_ids` (top-level key of `model_config`): required by `file_search`, a
///   non-empty array of non-empty strings whenever present.
/// - Values of modelled keys with the wrong type, which `ModelConfig` keeps in `extra`
///   (e.g. `"temperature": "0.7"`), are reported ("temperature must be a number").
pub fn validate(config: &ModelConfig) -> Result<(), Vec<FieldError>> {
    let mut errors = Errors::default();
    let mistyped = |key: &str| config.extra.contains_key(key);

    // provider / api
    let mut api: Option<&'static ApiInfo> = None;
    let mut provider: Option<&'static ProviderInfo> = None;
    if mistyped("provider") {
        errors.add("provider", "provider must be a non-empty string");
    } else if let Some(p) = config.provider.as_deref() {
        match provider_info(p) {
            None => errors.add(
                "provider",
                format!(
                    "unknown provider \"{p}\"; valid providers: {}",
                    providers_list()
                ),
            ),
            Some(info) => provider = Some(info),
        }
    } else if *config != ModelConfig::default() {
        errors.add(
            "provider",
            format!(
                "provider is required when model_config is not empty; valid providers: {}",
                providers_list()
            ),
        );
    }
    if mistyped("api") {
        errors.add("api", "api must be a non-empty string");
    } else if let (Some(info), Some(a)) = (provider, config.api.as_deref()) {
        match info.apis.iter().find(|x| x.key == a) {
            Some(found) => api = Some(found),
            None => errors.add(
                "api",
                format!(
                    "unknown api \"{a}\" for provider {}; valid apis: {}",
                    info.key,
                    apis_list(info)
                ),
            ),
        }
    }

    // model
    let mut known_model: Option<&'static ModelInfo> = None;
    if mistyped("model") {
        errors.add(
            "model",
            "model must be a non-empty string (any model id of the provider)",
        );
    } else if let (Some(info), Some(m)) = (provider, config.model.as_deref()) {
        known_model = info.models.iter().find(|x| x.id == m);
        if known_model.is_none()
            && let Some(owner) = CATALOG
                .iter()
                .find(|p| p.key != info.key && p.models.iter().any(|x| x.id == m))
        {
            errors.add(
                "model",
                format!(
                    "model \"{m}\" belongs to provider {} ({}), not {}",
                    owner.key, owner.name, info.key
                ),
            );
        }
    }
    let provider_key = provider.map(|p| p.key);
    let sampling_ok = match (provider_key, config.model.as_deref()) {
        (Some(p), Some(m)) => accepts_sampling(p, m),
        _ => true,
    };

    // sampling parameters
    if mistyped("temperature") {
        errors.add("temperature", "temperature must be a number");
    } else if let Some(t) = config.temperature {
        let max = temperature_max(provider_key.unwrap_or(DEFAULT_PROVIDER));
        if !(0.0..=max).contains(&t) {
            let who = if max < 2.0 { " for Anthropic" } else { "" };
            errors.add(
                "temperature",
                format!("temperature must be between 0 and {max}{who}"),
            );
        } else if !sampling_ok {
            errors.add("temperature", no_sampling_message("temperature", config));
        }
    }
    if mistyped("top_p") {
        errors.add("top_p", "top_p must be a number");
    } else if let Some(p) = config.top_p {
        if !(0.0..=1.0).contains(&p) {
            errors.add("top_p", "top_p must be between 0 and 1");
        } else if !sampling_ok {
            errors.add("top_p", no_sampling_message("top_p", config));
        }
    }
    if mistyped("max_tokens") {
        errors.add("max_tokens", "max_tokens must be an integer (tokens)");
    } else if let Some(n) = config.max_tokens {
        if n <= 0 {
            errors.add("max_tokens", "max_tokens must be greater than 0");
        } else if let Some(m) = known_model
            && n > i64::from(m.max_output_tokens)
        {
            errors.add(
                "max_tokens",
                format!(
                    "max_tokens must be at most {} for {} (its output limit)",
                    m.max_output_tokens, m.id
                ),
            );
        }
    }

    // tools
    let mut file_search = false;
    if mistyped("tools") {
        errors.add(
            "tools",
            format!("tools must be an array of tool ids or {FUNCTION_SHAPE}"),
        );
    } else if let (Some(tools), Some(api)) = (config.tools.as_deref(), api) {
        if let Some(m) = known_model.filter(|m| !m.tools && !tools.is_empty()) {
            errors.add("tools", format!("{} does not support tools", m.id));
        }
        file_search = validate_tools(tools, api, &mut errors);
        if let (Some("google"), Some(m)) = (provider_key, config.model.as_deref())
            && is_gemini_single_tool_model(m)
            && tools.iter().any(|t| t == "google_search")
            && tools.iter().any(Value::is_object)
        {
            errors.add(
                "tools",
                format!(
                    "{m} cannot combine google_search with function tools (Gemini 1.x and 2.x \
                     models take one kind of tool per request)"
                ),
            );
        }
    }

    // vector_store_ids
    match config.extra.get("vector_store_ids") {
        Some(ids) => validate_vector_store_ids(ids, &mut errors),
        None if file_search => errors.add(
            "vector_store_ids",
            "file_search needs vector_store_ids: a non-empty array of vector store id strings \
             (top-level key of model_config)",
        ),
        None => {}
    }

    errors.finish()
}

fn no_sampling_message(key: &str, config: &ModelConfig) -> String {
    format!(
        "{key} is not supported by {} (OpenAI reasoning models take no sampling parameters)",
        config.model.as_deref().unwrap_or_default()
    )
}

/// Validates `tools` against `api`; returns whether `file_search` is enabled.
fn validate_tools(tools: &[Value], api: &ApiInfo, errors: &mut Errors) -> bool {
    let mut seen_ids: Vec<&str> = Vec::new();
    let mut seen_functions: Vec<&str> = Vec::new();
    let supported = || format!("supported tools for {}: {}", api.name, tools_list(api));
    for (i, tool) in tools.iter().enumerate() {
        let path = format!("tools[{i}]");
        match tool {
            Value::String(id) if id == FUNCTIONS.id && supports_functions(api) => errors.add(
                path,
                format!("\"functions\" is not a tool id: give each function as one of the {FUNCTION_SHAPE}"),
            ),
            Value::String(id) => {
                if !api.tools.iter().any(|t| t.id == id && t.id != FUNCTIONS.id) {
                    errors.add(path, format!("unknown tool \"{id}\"; {}", supported()));
                } else if seen_ids.contains(&id.as_str()) {
                    errors.add(path, format!("tool \"{id}\" is listed twice"));
                } else {
                    seen_ids.push(id);
                }
            }
            Value::Object(map) => {
                if !supports_functions(api) {
                    errors.add(
                        path,
                        format!("{} does not support function tools; {}", api.name, supported()),
                    );
                    continue;
                }
                if map.get("type").and_then(Value::as_str) != Some("function") {
                    errors.add(
                        format!("{path}.type"),
                        format!(
                            "tool objects must have \"type\": \"function\"; built-in tools are \
                             given by id ({})",
                            supported()
                        ),
                    );
                }
                match map.get("name").and_then(Value::as_str) {
                    Some(name) if valid_function_name(name) => {
                        if seen_functions.contains(&name) {
                            errors.add(
                                format!("{path}.name"),
                                format!("function name \"{name}\" is used twice"),
                            );
                        } else {
                            seen_functions.push(name);
                        }
                    }
                    _ => errors.add(
                        format!("{path}.name"),
                        "function name is required: 1-64 characters of a-z, A-Z, 0-9, _ and -",
                    ),
                }
                if map.get("description").is_some_and(|d| !d.is_string()) {
                    errors.add(format!("{path}.description"), "description must be a string");
                }
                let params_ok = map
                    .get("parameters")
                    .and_then(Value::as_object)
                    .is_some_and(|p| p.get("type").and_then(Value::as_str) == Some("object"));
                if !params_ok {
                    errors.add(
                        format!("{path}.parameters"),
                        "parameters must be a JSON Schema object with \"type\": \"object\"",
                    );
                }
                for key in map.keys() {
                    if !["type", "name", "description", "parameters"].contains(&key.as_str()) {
                        errors.add(
                            path.clone(),
                            format!(
                                "unknown key \"{key}\" in function tool; allowed keys: type, name, \
                                 description, parameters"
                            ),
                        );
                    }
                }
            }
            _ => errors.add(
                path,
                format!("each tool must be a tool id string or one of the {FUNCTION_SHAPE}"),
            ),
        }
    }
    seen_ids.contains(&FILE_SEARCH.id)
}

fn validate_vector_store_ids(ids: &Value, errors: &mut Errors) {
    const SHAPE: &str = "vector_store_ids must be a non-empty array of vector store id strings";
    match ids.as_array() {
        Some(list) if !list.is_empty() => {
            for (i, id) in list.iter().enumerate() {
                if id.as_str().is_none_or(str::is_empty) {
                    errors.add(
                        format!("vector_store_ids[{i}]"),
                        "each vector store id must be a non-empty string",
                    );
                }
            }
        }
        _ => errors.add("vector_store_ids", SHAPE),
    }
}

/// The vector store ids of a validated config (`model_config.vector_store_ids`), empty if none.
pub fn vector_store_ids(config: &ModelConfig) -> Vec<&str> {
    config
        .extra
        .get("vector_store_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> ModelConfig {
        ModelConfig::from_json(v).unwrap()
    }

    fn errors(v: Value) -> Vec<(String, String)> {
        validate(&read(v))
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    fn single(v: Value) -> (String, String) {
        let mut e = errors(v);
        assert_eq!(e.len(), 1, "{e:?}");
        e.remove(0)
    }

    const PROVIDERS: &str =
        "valid providers: openai (OpenAI), anthropic (Anthropic), google (Google)";

    #[test]
    fn catalog_lists_providers_apis_tools_and_models() {
        let keys: Vec<_> = catalog().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["openai", "anthropic", "google"]);
        let openai = provider_info("openai").unwrap();
        let apis: Vec<_> = openai
            .apis
            .iter()
            .map(|a| (a.key, a.name, a.deprecated))
            .collect();
        assert_eq!(
            apis,
            [
                ("chat_completion", "OpenAI - Chat Completions", false),
                ("response_api", "OpenAI - Response API", false),
                ("assistants_api", "OpenAI - Assistants API", true),
            ]
        );
        let tools = |p: &str, a: &str| -> Vec<&str> {
            api_info(p, a).unwrap().tools.iter().map(|t| t.id).collect()
        };
        assert_eq!(tools("openai", "chat_completion"), ["functions"]);
        assert_eq!(
            tools("openai", "response_api"),
            ["web_search", "file_search", "code_interpreter", "functions"]
        );
        assert_eq!(
            tools("openai", "assistants_api"),
            ["file_search", "code_interpreter", "functions"]
        );
        assert_eq!(tools("anthropic", "messages"), ["functions", "web_search"]);
        assert_eq!(tools("google", "gemini"), ["functions", "google_search"]);
        let file_search = api_info("openai", "response_api").unwrap().tools[1];
        assert_eq!(
            (file_search.name, file_search.requires),
            ("File Search", &["vector_store_ids"][..])
        );

        assert_eq!(
            api_info("anthropic", "messages").unwrap().api_type,
            ApiType::AnthropicMessages
        );
        assert_eq!(
            api_display_name("google", "gemini"),
            Some("Google - Gemini")
        );
        assert_eq!(api_display_name("openai", "messages"), None);
        assert_eq!(api_display_name("mistral", "chat"), None);

        let o3 = model_info("openai", "o3-mini").unwrap();
        assert!(!o3.sampling && !o3.vision && o3.structured_output);
        assert_eq!(
            (o3.context_window, o3.max_output_tokens),
            (200_000, 100_000)
        );
        assert_eq!(
            model_info("anthropic", "claude-sonnet-4-20250514")
                .unwrap()
                .max_output_tokens,
            64_000
        );
        assert!(model_info("openai", "claude-3-5-haiku-latest").is_none());
        let models: usize = catalog().iter().map(|p| p.models.len()).sum();
        assert_eq!(models, 11);
        // Every api type appears exactly once, and agrees with the entity's mapping.
        for t in ApiType::ALL {
            let (p, a) = t.provider_api();
            assert_eq!(api_info(p, a).unwrap().api_type, t);
        }
        // The first api of each provider is the one a bare provider implies.
        for (p, a) in entity::model_config::IMPLIED_APIS {
            assert_eq!(provider_info(p).unwrap().apis[0].key, *a);
        }
    }

    #[test]
    fn catalog_serialises_for_the_http_layer() {
        let v = serde_json::to_value(catalog()).unwrap();
        assert_eq!(v[0]["apis"][1]["api_type"], json!("openai_response_api"));
        assert_eq!(
            v[0]["apis"][1]["tools"][1]["requires"],
            json!(["vector_store_ids"])
        );
        assert_eq!(
            v[1]["models"][2],
            json!({
                "id": "claude-sonnet-4-20250514", "name": "Claude Sonnet 4",
                "structured_output": true, "tools": true, "vision": true, "sampling": true,
                "context_window": 200000, "max_output_tokens": 64000, "deprecated": false
            })
        );
    }

    #[test]
    fn empty_and_good_configs_are_valid() {
        assert_eq!(validate(&ModelConfig::default()), Ok(()));
        assert_eq!(validate(&read(json!({}))), Ok(()));
        assert_eq!(validate(&read(json!({"provider": null}))), Ok(()));
        for ok in [
            json!({"provider": "openai"}),
            json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o",
                   "temperature": 2, "top_p": 0, "max_tokens": 16384}),
            json!({"provider": "openai", "api": "response_api", "model": "gpt-4o",
                   "tools": ["web_search", "file_search", "code_interpreter",
                             {"type": "function", "name": "get_weather", "description": "Weather",
                              "parameters": {"type": "object", "properties": {}}}],
                   "vector_store_ids": ["vs_1"]}),
            json!({"provider": "openai", "api": "assistants_api", "model": "gpt-4o"}),
            json!({"provider": "anthropic", "model": "claude-opus-4-1", "temperature": 1,
                   "tools": ["web_search"]}),
            json!({"provider": "google", "model": "gemini-2.5-pro", "tools": ["google_search"]}),
            json!({"provider": "openai", "model": "gpt-5-brand-new", "seed": 7}),
            json!({"provider": "openai", "model": "o3-mini", "max_tokens": 100000}),
        ] {
            assert_eq!(validate(&read(ok.clone())), Ok(()), "{ok}");
        }
    }

    #[test]
    fn legacy_compound_provider_validates_as_response_api() {
        let c = read(json!({"provider": "openai_responses", "model": "gpt-4o",
                            "tools": ["web_search"]}));
        assert_eq!(c.api.as_deref(), Some("response_api"));
        assert_eq!(validate(&c), Ok(()));
        assert_eq!(display_label(&c), "OpenAI - Response API · gpt-4o");
        let a = read(json!({"provider": "openai_assistants", "model": "gpt-4o"}));
        assert_eq!(validate(&a), Ok(()));
        assert_eq!(display_label(&a), "OpenAI - Assistants API · gpt-4o");
    }

    #[test]
    fn provider_errors_list_the_valid_providers() {
        assert_eq!(
            single(json!({"provider": "mistral", "model": "x"})),
            (
                "provider".into(),
                format!("unknown provider \"mistral\"; {PROVIDERS}")
            )
        );
        assert_eq!(
            single(json!({"model": "gpt-4o"})),
            (
                "provider".into(),
                format!("provider is required when model_config is not empty; {PROVIDERS}")
            )
        );
        assert_eq!(
            single(json!({"provider": 3})),
            (
                "provider".into(),
                "provider must be a non-empty string".into()
            )
        );
        assert_eq!(
            single(json!({"provider": ""})),
            (
                "provider".into(),
                "provider must be a non-empty string".into()
            )
        );
    }

    #[test]
    fn api_errors_list_the_providers_apis_with_display_names() {
        assert_eq!(
            single(json!({"provider": "openai", "api": "batch"})),
            (
                "api".into(),
                "unknown api \"batch\" for provider openai; valid apis: chat_completion (OpenAI - \
                 Chat Completions), response_api (OpenAI - Response API), assistants_api (OpenAI \
                 - Assistants API, deprecated)"
                    .into()
            )
        );
        assert_eq!(
            single(json!({"provider": "anthropic", "api": "response_api"})),
            (
                "api".into(),
                "unknown api \"response_api\" for provider anthropic; valid apis: messages \
                 (Anthropic - Messages)"
                    .into()
            )
        );
        assert_eq!(
            single(json!({"provider": "google", "api": ["gemini"]})),
            ("api".into(), "api must be a non-empty string".into())
        );
    }

    #[test]
    fn model_errors() {
        assert_eq!(
            single(json!({"provider": "openai", "model": ""})),
            (
                "model".into(),
                "model must be a non-empty string (any model id of the provider)".into()
            )
        );
        assert_eq!(single(json!({"provider": "openai", "model": 4})).0, "model");
        assert_eq!(
            single(json!({"provider": "anthropic", "model": "gpt-4o"})),
            (
                "model".into(),
                "model \"gpt-4o\" belongs to provider openai (OpenAI), not anthropic".into()
            )
        );
    }

    #[test]
    fn sampling_parameter_errors() {
        let cases = [
            (
                json!({"provider": "openai", "temperature": 2.5}),
                "temperature",
                "temperature must be between 0 and 2",
            ),
            (
                json!({"provider": "openai", "temperature": -0.1}),
                "temperature",
                "temperature must be between 0 and 2",
            ),
            (
                json!({"provider": "anthropic", "temperature": 1.5}),
                "temperature",
                "temperature must be between 0 and 1 for Anthropic",
            ),
            (
                json!({"provider": "openai", "temperature": "0.7"}),
                "temperature",
                "temperature must be a number",
            ),
            (
                json!({"provider": "openai", "top_p": 1.1}),
                "top_p",
                "top_p must be between 0 and 1",
            ),
            (
                json!({"provider": "openai", "top_p": true}),
                "top_p",
                "top_p must be a number",
            ),
            (
                json!({"provider": "openai", "max_tokens": 0}),
                "max_tokens",
                "max_tokens must be greater than 0",
            ),
            (
                json!({"provider": "openai", "max_tokens": -5}),
                "max_tokens",
                "max_tokens must be greater than 0",
            ),
            (
                json!({"provider": "openai", "max_tokens": 1.5}),
                "max_tokens",
                "max_tokens must be an integer (tokens)",
            ),
            (
                json!({"provider": "openai", "max_tokens": "100"}),
                "max_tokens",
                "max_tokens must be an integer (tokens)",
            ),
            (
                json!({"provider": "openai", "model": "gpt-4o", "max_tokens": 16385}),
                "max_tokens",
                "max_tokens must be at most 16384 for gpt-4o (its output limit)",
            ),
            (
                json!({"provider": "openai", "model": "o3-mini", "temperature": 1}),
                "temperature",
                "temperature is not supported by o3-mini (OpenAI reasoning models take no sampling parameters)",
            ),
            (
                json!({"provider": "openai", "model": "o4-mini", "top_p": 0.5}),
                "top_p",
                "top_p is not supported by o4-mini (OpenAI reasoning models take no sampling parameters)",
            ),
        ];
        for (config, field, message) in cases {
            assert_eq!(
                single(config.clone()),
                (field.into(), message.into()),
                "{config}"
            );
        }
    }

    #[test]
    fn tool_errors_list_the_supported_tools() {
        let supported_responses = "supported tools for OpenAI - Response API: web_search, \
            file_search, code_interpreter, or function objects {\"type\": \"function\", \"name\": \
            ..., \"parameters\": {...}}";
        assert_eq!(
            errors(json!({"provider": "openai", "api": "response_api",
                          "tools": ["web_search", "google_search"]})),
            [(
                "tools[1]".into(),
                format!("unknown tool \"google_search\"; {supported_responses}")
            )]
        );
        assert_eq!(
            single(json!({"provider": "openai", "tools": ["web_search"]})),
            (
                "tools[0]".into(),
                "unknown tool \"web_search\"; supported tools for OpenAI - Chat Completions: \
                 function objects {\"type\": \"function\", \"name\": ..., \"parameters\": {...}}"
                    .into()
            )
        );
        assert_eq!(
            single(json!({"provider": "google", "tools": ["functions"]})),
            (
                "tools[0]".into(),
                "\"functions\" is not a tool id: give each function as one of the function \
                 objects {\"type\": \"function\", \"name\": ..., \"parameters\": {...}}"
                    .into()
            )
        );
        assert_eq!(
            single(json!({"provider": "anthropic", "tools": ["web_search", "web_search"]})),
            (
                "tools[1]".into(),
                "tool \"web_search\" is listed twice".into()
            )
        );
        assert_eq!(
            single(json!({"provider": "anthropic", "tools": [42]})),
            (
                "tools[0]".into(),
                "each tool must be a tool id string or one of the function objects {\"type\": \
                 \"function\", \"name\": ..., \"parameters\": {...}}"
                    .into()
            )
        );
        assert_eq!(
            single(json!({"provider": "anthropic", "tools": "web_search"})),
            (
                "tools".into(),
                "tools must be an array of tool ids or function objects {\"type\": \"function\", \
                 \"name\": ..., \"parameters\": {...}}"
                    .into()
            )
        );
    }

    #[test]
    fn function_tool_errors_point_at_the_offending_key() {
        let params = json!({"type": "object"});
        assert_eq!(
            errors(json!({"provider": "openai", "tools": [
                {"type": "function", "name": "ok", "parameters": params},
                {"type": "web_search", "name": "bad name!", "description": 1, "parameters": [],
                 "strict": true},
                {"type": "function", "name": "ok", "parameters": {"type": "string"}},
            ]})),
            [
                (
                    "tools[1].type".into(),
                    "tool objects must have \"type\": \"function\"; built-in \
                  tools are given by id (supported tools for OpenAI - Chat Completions: function \
                  objects {\"type\": \"function\", \"name\": ..., \"parameters\": {...}})"
                        .into()
                ),
                (
                    "tools[1].name".into(),
                    "function name is required: 1-64 characters of a-z, A-Z, \
                  0-9, _ and -"
                        .into()
                ),
                (
                    "tools[1].description".into(),
                    "description must be a string".into()
                ),
                (
                    "tools[1].parameters".into(),
                    "parameters must be a JSON Schema object with \
                  \"type\": \"object\""
                        .into()
                ),
                (
                    "tools[1]".into(),
                    "unknown key \"strict\" in function tool; allowed keys: type, \
                  name, description, parameters"
                        .into()
                ),
                (
                    "tools[2].name".into(),
                    "function name \"ok\" is used twice".into()
                ),
                (
                    "tools[2].parameters".into(),
                    "parameters must be a JSON Schema object with \
                  \"type\": \"object\""
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn gemini_2_takes_one_kind_of_tool() {
        let function = json!({"type": "function", "name": "f", "parameters": {"type": "object"}});
        assert_eq!(
            single(json!({"provider": "google", "model": "gemini-2.5-pro",
                          "tools": ["google_search", function]})),
            (
                "tools".into(),
                "gemini-2.5-pro cannot combine google_search with function tools (Gemini 1.x and \
                 2.x models take one kind of tool per request)"
                    .into()
            )
        );
        let later = json!({"provider": "google", "model": "gemini-3-pro",
                           "tools": ["google_search", function]});
        assert_eq!(validate(&read(later)), Ok(()));
        assert!(is_gemini_single_tool_model("models/gemini-2.0-flash-001"));
        assert!(!is_gemini_single_tool_model("gemini-3-flash"));
    }

    #[test]
    fn file_search_needs_vector_store_ids() {
        let need = "file_search needs vector_store_ids: a non-empty array of vector store id \
                    strings (top-level key of model_config)";
        assert_eq!(
            single(json!({"provider": "openai", "api": "response_api", "tools": ["file_search"]})),
            ("vector_store_ids".into(), need.into())
        );
        assert_eq!(
            single(
                json!({"provider": "openai", "api": "response_api", "tools": ["file_search"],
                          "vector_store_ids": []})
            ),
            (
                "vector_store_ids".into(),
                "vector_store_ids must be a non-empty array of vector store id strings".into()
            )
        );
        assert_eq!(
            single(
                json!({"provider": "openai", "api": "response_api", "tools": ["file_search"],
                          "vector_store_ids": ["vs_1", 2]})
            ),
            (
                "vector_store_ids[1]".into(),
                "each vector store id must be a non-empty string".into()
            )
        );
        assert_eq!(
            vector_store_ids(&read(
                json!({"provider": "openai", "vector_store_ids": ["a", "b"]})
            )),
            ["a", "b"]
        );
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let fields: Vec<String> = errors(json!({
            "provider": "openai", "api": "response_api", "model": "gpt-4o",
            "temperature": 3, "top_p": "x", "max_tokens": 0, "tools": ["nope"]
        }))
        .into_iter()
        .map(|e| e.0)
        .collect();
        assert_eq!(fields, ["temperature", "top_p", "max_tokens", "tools[0]"]);
    }

    #[test]
    fn display_labels() {
        assert_eq!(
            display_label(&read(json!({}))),
            "OpenAI - Chat Completions (default)"
        );
        assert_eq!(
            display_label(&read(json!({"model": "gpt-4o"}))),
            "OpenAI - Chat Completions (default) · gpt-4o"
        );
        assert_eq!(
            display_label(&read(
                json!({"provider": "openai", "api": "response_api", "model": "gpt-4o"})
            )),
            "OpenAI - Response API · gpt-4o"
        );
        assert_eq!(
            display_label(&read(json!({"provider": "anthropic"}))),
            "Anthropic - Messages"
        );
        assert_eq!(
            display_label(&read(json!({"provider": "openai", "api": "batch"}))),
            "OpenAI - batch"
        );
        assert_eq!(
            display_label(&read(json!({"provider": "mistral", "model": "large"}))),
            "mistral · large"
        );
        assert_eq!(
            display_label(&read(json!({"provider": "mistral", "api": "chat"}))),
            "mistral - chat"
        );
    }

    #[test]
    fn structured_output_support() {
        let s = |v: Value| supports_structured_output(&read(v));
        // catalog
        assert!(s(json!({"provider": "openai", "model": "o3-mini"})));
        assert!(s(
            json!({"provider": "google", "model": "gemini-2.0-flash"})
        ));
        // seed 002 Step 3 rule, extended
        assert!(s(
            json!({"provider": "openai", "model": "gpt-4o-2024-08-06"})
        ));
        assert!(!s(
            json!({"provider": "openai", "model": "gpt-4o-2024-05-13"})
        ));
        assert!(!s(json!({"provider": "openai", "model": "gpt-4-turbo"})));
        assert!(!s(json!({"provider": "openai", "model": "gpt-3.5-turbo"})));
        assert!(s(json!({"provider": "openai", "model": "gpt-4.1-nano"})));
        assert!(s(json!({"provider": "openai", "model": "o1"})));
        assert!(!s(json!({"provider": "openai", "model": "o1-mini"})));
        assert!(s(
            json!({"provider": "anthropic", "model": "claude-3-opus-20240229"})
        ));
        assert!(s(
            json!({"provider": "anthropic", "model": "claude-opus-4-1"})
        ));
        assert!(!s(json!({"provider": "anthropic", "model": "claude-2.1"})));
        assert!(s(
            json!({"provider": "google", "model": "gemini-2.5-flash"})
        ));
        assert!(!s(json!({"provider": "google", "model": "gemini-1.0-pro"})));
        assert!(!s(json!({"provider": "mistral", "model": "gpt-4o"})));
        assert!(!s(json!({})));
        assert!(!s(json!({"provider": "openai"})));
        // no provider: the default OpenAI
        assert!(s(json!({"model": "gpt-4o"})));
        // legacy compound
        assert!(s(
            json!({"provider": "openai_responses", "model": "gpt-4o"})
        ));
    }

    #[test]
    fn reasoning_model_names() {
        assert!(is_openai_reasoning_model("o1"));
        assert!(is_openai_reasoning_model("o3-mini-2025-01-31"));
        assert!(!is_openai_reasoning_model("omni-moderation-latest"));
        assert!(!is_openai_reasoning_model("gpt-4o"));
    }
}
