//! Provider calls, one module per wire format: the exact request each format receives
//! ([`build_request`]), the HTTP client that sends it ([`Providers::call`]) and the parser of
//! each format's answer ([`parse_response`]).
//!
//! | api type | module | path (relative to the base URL) |
//! | --- | --- | --- |
//! | `openai_chat_completion` | [`openai_chat`] | `/chat/completions` (base `OPENAI_BASE_URL`, e.g. `https://api.openai.com/v1`) |
//! | `openai_response_api` | [`openai_responses`] | `/responses` (same base) |
//! | `anthropic_messages` | [`anthropic`] | `/v1/messages` (base `ANTHROPIC_BASE_URL`, e.g. `https://api.anthropic.com`) |
//! | `google_gemini` | [`gemini`] | `/v1beta/models/{model}:generateContent` (base `GEMINI_BASE_URL`, e.g. `https://generativelanguage.googleapis.com`) |
//! | `openai_assistants_api` | refused | OpenAI retired the Assistants API |
//!
//! Bodies carry only what the model config models: `model`, sampling parameters that are set
//! (`temperature`, `top_p`, `max_tokens` under each provider's name), `tools`, and the
//! response schema. Other keys of the model config ([`ModelConfig::extra`], e.g. `seed`) are
//! NOT forwarded: they are stored and shown, but what reaches a provider is only what this
//! module knows the meaning of.
//!
//! Calling ([`Providers`], in `client.rs`): credentials and base URLs come from
//! [`ProviderSettings`]; keys travel only in headers (OpenAI `Authorization: Bearer`,
//! Anthropic `x-api-key` + `anthropic-version`, Gemini `x-goog-api-key`), never in URLs, logs,
//! `Debug` output or [`CallError`]s. Each call is one [`Completion`] or one [`CallError`];
//! retries (429, 500, 502, 503, 504, 529, connection errors and timeouts) use full-jitter
//! exponential backoff, or the provider's `Retry-After` / `retry-after-ms` / Gemini
//! `RetryInfo.retryDelay` when it gives one.
//!
//! Recorded answers are read without calling: [`parse_response`] (a JSON success body),
//! [`parse_stream`] (a streamed answer, in `stream.rs`) and [`parse_error`] (an error status
//! and body). `recorded.rs` runs them on provider bodies recorded by the official SDKs
//! (`tests/fixtures/providers/`, see its `NOTICE.md`).

pub mod anthropic;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;

mod client;
#[cfg(test)]
mod recorded;
mod stream;
#[cfg(test)]
mod test_support;

pub use client::{
    ANTHROPIC_VERSION, DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_GEMINI_BASE_URL,
    DEFAULT_OPENAI_BASE_URL, Endpoint, ProviderSettings, Providers, parse_error,
};
pub use stream::parse_stream;

use entity::ModelConfig;
use entity::model_config::ApiType;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::catalog::model_config::{self as catalog, supports_structured_output};
use crate::validation::{Errors, FieldError};

/// The rendered prompt of one call: optional system prompt and the user message.
/// An empty system prompt counts as none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromptParts<'a> {
    /// System prompt (instructions), if any.
    pub system: Option<&'a str>,
    /// The user message.
    pub user: &'a str,
}

impl<'a> PromptParts<'a> {
    /// The system prompt, unless absent or empty.
    pub fn system(&self) -> Option<&'a str> {
        self.system.filter(|s| !s.is_empty())
    }
}

/// Method-less description of a provider call (always a `POST` of JSON): path relative to the
/// provider's base URL, and JSON body.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ProviderRequest {
    /// Wire format, as its snake_case name (`openai_response_api`, ...).
    pub api_type: ApiType,
    /// Path relative to the provider's base URL, e.g. `/chat/completions`.
    pub path: String,
    /// The JSON body, in the provider's own field names.
    #[schema(value_type = Object)]
    pub body: Value,
}

/// Builds the request for the config's api type (see the module table).
///
/// `response_schema` is a JSON Schema for structured output; it is sent, in each provider's
/// own form, only when [`supports_structured_output`] holds for the config, and is otherwise
/// ignored (the answer is then free text).
///
/// # Errors
/// Field errors with paths under `model_config.`: every [`validate`](catalog::validate) error,
/// `model_config.api` "OpenAI retired the Assistants API; use response_api" for
/// `assistants_api`, `model_config.model` when no model is given, and `model_config.tools`
/// when a Gemini 1.x / 2.x model would get tools together with a response schema
/// ([`is_gemini_single_tool_model`](catalog::is_gemini_single_tool_model)).
pub fn build_request(
    config: &ModelConfig,
    prompt: &PromptParts<'_>,
    response_schema: Option<&Value>,
) -> Result<ProviderRequest, Vec<FieldError>> {
    let mut errors = Errors::default();
    let api_type = config.api_type();
    if api_type == ApiType::OpenaiAssistantsApi {
        errors.add(
            "model_config.api",
            "OpenAI retired the Assistants API; use response_api",
        );
    }
    if let Err(e) = catalog::validate(config) {
        errors.extend_prefixed("model_config", e);
    }
    let model = config.model.as_deref();
    // A model of the wrong type was already reported by validate.
    if model.is_none() && !config.extra.contains_key("model") {
        errors.add("model_config.model", "model is required to call a provider");
    }
    errors.finish()?;
    let Some(model) = model else {
        return Err(vec![FieldError::new(
            "model_config.model",
            "model is required to call a provider",
        )]);
    };

    let schema = response_schema.filter(|_| supports_structured_output(config));
    if api_type == ApiType::GoogleGemini
        && schema.is_some()
        && config.tools.as_ref().is_some_and(|t| !t.is_empty())
        && catalog::is_gemini_single_tool_model(model)
    {
        return Err(vec![FieldError::new(
            "model_config.tools",
            format!(
                "{model} cannot use tools together with a response schema (Gemini 1.x and 2.x \
                 models refuse tool use with responseMimeType application/json); remove the \
                 tools or the response schema"
            ),
        )]);
    }
    let call = Call {
        config,
        model,
        prompt,
        tools: tools(config),
        schema,
    };
    let (path, body) = match api_type {
        ApiType::OpenaiChatCompletion => (openai_chat::PATH.to_owned(), openai_chat::body(&call)),
        ApiType::OpenaiResponseApi => (
            openai_responses::PATH.to_owned(),
            openai_responses::body(&call),
        ),
        ApiType::AnthropicMessages => (anthropic::PATH.to_owned(), anthropic::body(&call)),
        ApiType::GoogleGemini => (gemini::path(model), gemini::body(&call)),
        ApiType::OpenaiAssistantsApi => unreachable!("refused above"),
    };
    Ok(ProviderRequest {
        api_type,
        path,
        body,
    })
}

/// Everything a wire-format module needs, from a validated config.
pub(crate) struct Call<'a> {
    pub config: &'a ModelConfig,
    pub model: &'a str,
    pub prompt: &'a PromptParts<'a>,
    pub tools: Vec<Tool<'a>>,
    /// The response schema, present only when the model supports structured output.
    pub schema: Option<&'a Value>,
}

/// One entry of a validated `model_config.tools`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Tool<'a> {
    /// A built-in tool id such as `web_search`.
    BuiltIn(&'a str),
    /// A caller-defined function.
    Function {
        name: &'a str,
        description: Option<&'a str>,
        parameters: &'a Value,
    },
}

fn tools(config: &ModelConfig) -> Vec<Tool<'_>> {
    static EMPTY: Value = Value::Null;
    config
        .tools
        .iter()
        .flatten()
        .filter_map(|t| match t {
            Value::String(id) => Some(Tool::BuiltIn(id)),
            Value::Object(map) => Some(Tool::Function {
                name: map.get("name").and_then(Value::as_str).unwrap_or_default(),
                description: map.get("description").and_then(Value::as_str),
                parameters: map.get("parameters").unwrap_or(&EMPTY),
            }),
            _ => None,
        })
        .collect()
}

/// Inserts `key: value` when the value is set.
pub(crate) fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v.into());
    }
}

/// Name of the structured-output schema / forced tool in every wire format.
pub(crate) const RESPONSE_NAME: &str = "response";

/// A function call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolCall {
    /// The provider's id of the call (OpenAI `call_id`, Anthropic `toolu_...`; Gemini only on
    /// newer models).
    pub id: Option<String>,
    /// Function name.
    pub name: String,
    /// Arguments as JSON (OpenAI sends them as a JSON string, parsed here; a string that is
    /// not JSON is kept as a JSON string).
    pub arguments: Value,
}

/// One successful provider answer, normalised across wire formats.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Completion {
    /// The answer's text: every text part concatenated (reasoning/thought parts excluded; a
    /// refusal's text when the model refused). For Anthropic structured output, the forced
    /// `response` tool call's input serialised as JSON. Empty when the model only called tools.
    pub text: String,
    /// Input tokens (OpenAI `prompt_tokens` / `input_tokens`, Anthropic `input_tokens`, Gemini
    /// `promptTokenCount`).
    pub tokens_prompt: Option<i64>,
    /// Output tokens including reasoning (OpenAI `completion_tokens` / `output_tokens`,
    /// Anthropic `output_tokens`, Gemini `candidatesTokenCount + thoughtsTokenCount`).
    pub tokens_completion: Option<i64>,
    /// The provider's id of this response (`chatcmpl-...`, `resp_...`, `msg_...`, Gemini
    /// `responseId`).
    pub response_id: Option<String>,
    /// The model that answered, as the provider reports it (Gemini `modelVersion`); the
    /// requested model when the provider reports none.
    pub model: Option<String>,
    /// The provider's own finish reason, verbatim (`stop`, `tool_calls`, `end_turn`, `STOP`,
    /// ...). Responses API: `incomplete_details.reason`, else `status`. A Gemini prompt
    /// blocked before any candidate: `blocked: <blockReason>`.
    pub finish_reason: Option<String>,
    /// Function calls the model asked for, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Wall time of the whole call, retries and backoff included, ms (0 from
    /// [`parse_response`]).
    pub latency_ms: i64,
    /// HTTP attempts made (0 from [`parse_response`]).
    pub attempts: u32,
    /// The provider's response body; for [`parse_stream`], the JSON array of the stream's
    /// events' `data`.
    pub raw: Value,
}

/// How a call failed, as `llm_responses.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStatus {
    /// Any failure but a timeout.
    Error,
    /// The provider did not answer within the per-attempt timeout (on the last attempt).
    Timeout,
}

impl FailureStatus {
    /// `error` or `timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureStatus::Error => "error",
            FailureStatus::Timeout => "timeout",
        }
    }
}

/// A failed call: what the runner records as an `error` / `timeout` LLM response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallError {
    /// `error` or `timeout`.
    pub status: FailureStatus,
    /// One of the `CallError::*` kinds: `rate_limited`, `authentication`, `bad_request`,
    /// `not_found`, `server_error`, `timeout`, `connection`, `malformed_response`, `refused`.
    pub error_type: String,
    /// What went wrong, with the provider's own message when it sent one. Never an API key.
    pub error_message: String,
    /// HTTP status of the last attempt, when one was answered.
    pub http_status: Option<u16>,
    /// The last response body, truncated to [`RAW_LIMIT`] bytes.
    pub raw: Option<String>,
    /// Wall time of the whole call, retries included, ms.
    pub latency_ms: i64,
    /// HTTP attempts made (0 when refused before calling).
    pub attempts: u32,
}

/// Size limit of [`CallError::raw`], bytes.
pub const RAW_LIMIT: usize = 64 * 1024;

impl CallError {
    /// 429 after every retry.
    pub const RATE_LIMITED: &'static str = "rate_limited";
    /// 401 / 403, or a key the provider reports as invalid.
    pub const AUTHENTICATION: &'static str = "authentication";
    /// Other 4xx: the provider refused the request as sent.
    pub const BAD_REQUEST: &'static str = "bad_request";
    /// 404 (unknown model or path; check the base URL).
    pub const NOT_FOUND: &'static str = "not_found";
    /// 5xx / 529 after every retry, or a 200 reporting a failed generation.
    pub const SERVER_ERROR: &'static str = "server_error";
    /// No answer within the per-attempt timeout, on every attempt.
    pub const TIMEOUT: &'static str = "timeout";
    /// Could not connect, or the connection broke, on every attempt; or an unusable URL.
    pub const CONNECTION: &'static str = "connection";
    /// A success status whose body is not the provider's format (not JSON, missing fields).
    pub const MALFORMED_RESPONSE: &'static str = "malformed_response";
    /// Refused before any call: a config the providers cannot take, or missing credentials.
    pub const REFUSED: &'static str = "refused";

    /// A failure with no HTTP answer and no timing (yet).
    pub(crate) fn new(status: FailureStatus, error_type: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type: error_type.to_owned(),
            error_message: message.into(),
            http_status: None,
            raw: None,
            latency_ms: 0,
            attempts: 0,
        }
    }

    /// Refused before calling.
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Self::new(FailureStatus::Error, Self::REFUSED, message)
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.error_message)
    }
}

impl std::error::Error for CallError {}

/// Parses a provider's success body (HTTP 2xx) in the given wire format.
///
/// Pure: also for recorded bodies. `latency_ms` and `attempts` are 0 and `model` is only what
/// the body says. For Anthropic, a `tool_use` block named `response` is read as the structured
/// answer (that is how [`build_request`] asks Anthropic for structured output).
///
/// # Errors
/// `malformed_response` when the body is not the format's (missing or mistyped fields); for a
/// Responses API body with `status: "failed"`, `server_error` with the provider's message;
/// `refused` for `openai_assistants_api`.
pub fn parse_response(api_type: ApiType, body: &Value) -> Result<Completion, CallError> {
    parse_with(api_type, body, true)
}

/// [`parse_response`], telling whether the request asked for structured output (so that an
/// Anthropic tool named `response` is a tool call unless it did).
pub(crate) fn parse_with(
    api_type: ApiType,
    body: &Value,
    structured: bool,
) -> Result<Completion, CallError> {
    match api_type {
        ApiType::OpenaiChatCompletion => openai_chat::parse(body),
        ApiType::OpenaiResponseApi => openai_responses::parse(body),
        ApiType::AnthropicMessages => anthropic::parse(body, structured),
        ApiType::GoogleGemini => gemini::parse(body),
        ApiType::OpenaiAssistantsApi => Err(CallError::refused(
            "OpenAI retired the Assistants API; use response_api",
        )),
    }
}

/// A completion with only the parsed fields set.
pub(crate) fn completion(raw: &Value) -> Completion {
    Completion {
        text: String::new(),
        tokens_prompt: None,
        tokens_completion: None,
        response_id: None,
        model: None,
        finish_reason: None,
        tool_calls: Vec::new(),
        latency_ms: 0,
        attempts: 0,
        raw: raw.clone(),
    }
}

/// Reads `body` as `T`; the error names the offending path (`choices[0].message: ...`).
pub(crate) fn read_body<T: DeserializeOwned>(
    api_type: ApiType,
    body: &Value,
) -> Result<T, CallError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let reason = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        malformed(api_type, reason, body)
    })
}

/// `malformed_response`: a success status whose body is not the format's.
pub(crate) fn malformed(
    api_type: ApiType,
    reason: impl std::fmt::Display,
    body: &Value,
) -> CallError {
    let mut e = CallError::new(
        FailureStatus::Error,
        CallError::MALFORMED_RESPONSE,
        format!(
            "the provider answered with a body that is not a {} response: {reason}",
            api_type.as_str()
        ),
    );
    e.raw = Some(truncate(&body.to_string(), RAW_LIMIT));
    e
}

/// Function arguments sent as a JSON string: the parsed JSON, else the string itself.
pub(crate) fn arguments_from_str(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

/// `s` cut to at most `limit` bytes, on a character boundary.
pub(crate) fn truncate(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_owned();
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn read(v: Value) -> ModelConfig {
        ModelConfig::from_json(v).unwrap()
    }

    const PROMPT: PromptParts<'static> = PromptParts {
        system: Some("Be brief."),
        user: "Hi",
    };

    fn fields(result: Result<ProviderRequest, Vec<FieldError>>) -> Vec<(String, String)> {
        result
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    #[test]
    fn assistants_api_is_refused() {
        let c = read(json!({"provider": "openai_assistants", "model": "gpt-4o"}));
        assert_eq!(
            fields(build_request(&c, &PROMPT, None)),
            [(
                "model_config.api".into(),
                "OpenAI retired the Assistants API; use response_api".into()
            )]
        );
    }

    #[test]
    fn a_model_is_required() {
        assert_eq!(
            fields(build_request(&read(json!({})), &PROMPT, None)),
            [(
                "model_config.model".into(),
                "model is required to call a provider".into()
            )]
        );
        assert_eq!(
            fields(build_request(
                &read(json!({"provider": "openai", "model": ""})),
                &PROMPT,
                None
            )),
            [(
                "model_config.model".into(),
                "model must be a non-empty string (any model id of the provider)".into()
            )]
        );
    }

    #[test]
    fn validation_errors_are_prefixed_with_model_config() {
        let c = read(
            json!({"provider": "openai", "model": "gpt-4o", "tools": ["web_search"],
                            "temperature": 9}),
        );
        let f: Vec<String> = fields(build_request(&c, &PROMPT, None))
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(f, ["model_config.temperature", "model_config.tools[0]"]);
    }

    #[test]
    fn legacy_compound_provider_builds_a_responses_request() {
        let c = read(
            json!({"provider": "openai_responses", "model": "gpt-4o", "temperature": 0.2,
                            "tools": ["web_search"]}),
        );
        let r = build_request(&c, &PROMPT, None).unwrap();
        assert_eq!(r.api_type, ApiType::OpenaiResponseApi);
        assert_eq!(r.path, "/responses");
        assert_eq!(
            r.body,
            json!({"model": "gpt-4o", "instructions": "Be brief.", "input": "Hi",
                   "temperature": 0.2, "tools": [{"type": "web_search_preview"}]})
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap()["api_type"],
            json!("openai_response_api")
        );
    }

    #[test]
    fn schema_is_dropped_when_the_model_lacks_structured_output() {
        let schema = json!({"type": "object"});
        let c = read(json!({"provider": "openai", "model": "gpt-3.5-turbo"}));
        let r = build_request(&c, &PROMPT, Some(&schema)).unwrap();
        assert_eq!(r.body.get("response_format"), None);
        let c = read(json!({"provider": "openai", "model": "gpt-4o"}));
        let r = build_request(&c, &PROMPT, Some(&schema)).unwrap();
        assert!(r.body.get("response_format").is_some());
    }

    #[test]
    fn extra_keys_and_empty_system_prompts_are_not_sent() {
        let c = read(
            json!({"provider": "anthropic", "model": "claude-3-5-haiku-latest",
                            "seed": 7, "stop": ["x"]}),
        );
        let prompt = PromptParts {
            system: Some(""),
            user: "Hi",
        };
        let r = build_request(&c, &prompt, None).unwrap();
        assert_eq!(
            r.body,
            json!({"model": "claude-3-5-haiku-latest", "max_tokens": 1024,
                   "messages": [{"role": "user", "content": "Hi"}]})
        );
    }
}
