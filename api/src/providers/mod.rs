//! Provider calls, one module per wire format. For now: the exact request each format
//! receives ([`build_request`]); the HTTP clients come later, in the same files.
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
//! module knows the meaning of. Headers (API keys, `anthropic-version`) belong to the clients.

pub mod anthropic;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;

use entity::ModelConfig;
use entity::model_config::ApiType;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::model_config::{self as catalog, supports_structured_output};
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
    #[schema(schema_with = catalog::api_type_schema)]
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
