//! `model_config`: which provider, api and model a prompt version (or test) calls, and how.
//!
//! Two shapes exist in stored data (seed 002):
//! - legacy compound: `{"provider": "openai_responses", "model": "gpt-4o"}`;
//! - new: `{"provider": "openai", "api": "response_api", "model": "gpt-4o"}`.
//!
//! [`ModelConfig`] reads both, as seed 002's Phase 1 readers (`extract_provider`,
//! `extract_api`) do, and always writes the new form. Keys it does not model, and modelled
//! keys whose value has an unexpected type, are kept verbatim in [`ModelConfig::extra`], so a
//! read-then-write never loses data.

use sea_orm::FromJsonQueryResult;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Compound provider values and the (provider, api) they stand for (seed 002, Step 7).
pub const COMPOUND_PROVIDERS: &[(&str, &str, &str)] = &[
    ("openai_responses", "openai", "response_api"),
    ("openai_assistants", "openai", "assistants_api"),
];

/// The api a plain provider implies when none is given (seed 002, Step 1 `extract_api`).
pub const IMPLIED_APIS: &[(&str, &str)] = &[
    ("openai", "chat_completion"),
    ("anthropic", "messages"),
    ("google", "gemini"),
];

/// The wire format a model config calls, derived from (provider, api) (seed 002, Step 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiType {
    /// `POST /v1/chat/completions`
    OpenaiChatCompletion,
    /// `POST /v1/responses`
    OpenaiResponseApi,
    /// OpenAI Assistants (legacy; retired by OpenAI).
    OpenaiAssistantsApi,
    /// `POST /v1/messages`
    AnthropicMessages,
    /// `POST /v1beta/models/{model}:generateContent`
    GoogleGemini,
}

impl ApiType {
    /// Every api type, in catalog order.
    pub const ALL: [ApiType; 5] = [
        ApiType::OpenaiChatCompletion,
        ApiType::OpenaiResponseApi,
        ApiType::OpenaiAssistantsApi,
        ApiType::AnthropicMessages,
        ApiType::GoogleGemini,
    ];

    /// The (provider, api) pair of this api type.
    pub fn provider_api(self) -> (&'static str, &'static str) {
        match self {
            ApiType::OpenaiChatCompletion => ("openai", "chat_completion"),
            ApiType::OpenaiResponseApi => ("openai", "response_api"),
            ApiType::OpenaiAssistantsApi => ("openai", "assistants_api"),
            ApiType::AnthropicMessages => ("anthropic", "messages"),
            ApiType::GoogleGemini => ("google", "gemini"),
        }
    }

    /// The api type of a (provider, api) pair, if it is a known one (`ApiTypes.from_config`).
    pub fn from_config(provider: &str, api: &str) -> Option<ApiType> {
        ApiType::ALL
            .into_iter()
            .find(|t| t.provider_api() == (provider, api))
    }

    /// The snake_case name, such as `openai_response_api`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::OpenaiChatCompletion => "openai_chat_completion",
            ApiType::OpenaiResponseApi => "openai_response_api",
            ApiType::OpenaiAssistantsApi => "openai_assistants_api",
            ApiType::AnthropicMessages => "anthropic_messages",
            ApiType::GoogleGemini => "google_gemini",
        }
    }
}

/// A model config, normalised to the provider/api form. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, FromJsonQueryResult)]
pub struct ModelConfig {
    /// Provider key such as `openai`, `anthropic`, `google` (never compound once read).
    pub provider: Option<String>,
    /// The provider's api such as `chat_completion`, `response_api`, `messages`, `gemini`.
    pub api: Option<String>,
    /// Model id such as `gpt-4o`.
    pub model: Option<String>,
    /// Sampling temperature (0-2).
    pub temperature: Option<f64>,
    /// Nucleus sampling mass (0-1).
    pub top_p: Option<f64>,
    /// Output token limit (> 0), tokens.
    pub max_tokens: Option<i64>,
    /// Tools enabled for the api: ids such as `web_search`, or tool objects.
    pub tools: Option<Vec<Value>>,
    /// Every other key, kept verbatim.
    pub extra: Map<String, Value>,
}

impl ModelConfig {
    /// Reads a stored or submitted `model_config` object in either form (seed 002, Phase 1).
    /// `null` reads as the empty config. Errors when the value is not an object.
    pub fn from_json(value: Value) -> Result<Self, String> {
        let mut map = match value {
            Value::Null => return Ok(Self::default()),
            Value::Object(map) => map,
            other => return Err(format!("model_config must be a JSON object, not {other}")),
        };
        fn take<T>(
            map: &mut Map<String, Value>,
            key: &str,
            read: impl Fn(&Value) -> Option<T>,
        ) -> Option<T> {
            match map.get(key) {
                Some(Value::Null) => {
                    map.remove(key);
                    None
                }
                Some(v) => {
                    let typed = read(v);
                    if typed.is_some() {
                        map.remove(key);
                    }
                    typed
                }
                None => None,
            }
        }
        let string = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let provider = take(&mut map, "provider", string);
        let api = take(&mut map, "api", string);
        let model = take(&mut map, "model", string);
        let temperature = take(&mut map, "temperature", Value::as_f64);
        let top_p = take(&mut map, "top_p", Value::as_f64);
        let max_tokens = take(&mut map, "max_tokens", Value::as_i64);
        let tools = take(&mut map, "tools", |v| v.as_array().cloned());
        let (provider, api) = normalise(provider, api);
        Ok(Self {
            provider,
            api,
            model,
            temperature,
            top_p,
            max_tokens,
            tools,
            extra: map,
        })
    }

    /// The new-form JSON object (`provider` and `api` separate), extra keys included.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                map.insert(key.to_owned(), v);
            }
        };
        put("provider", self.provider.clone().map(Value::from));
        put("api", self.api.clone().map(Value::from));
        put("model", self.model.clone().map(Value::from));
        put("temperature", self.temperature.map(Value::from));
        put("top_p", self.top_p.map(Value::from));
        put("max_tokens", self.max_tokens.map(Value::from));
        put("tools", self.tools.clone().map(Value::from));
        for (k, v) in &self.extra {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(map)
    }

    /// The api type this config calls: the known (provider, api) pair, else
    /// `openai_chat_completion` (seed 002, Step 2's fallback).
    pub fn api_type(&self) -> ApiType {
        match (&self.provider, &self.api) {
            (Some(p), Some(a)) => {
                ApiType::from_config(p, a).unwrap_or(ApiType::OpenaiChatCompletion)
            }
            _ => ApiType::OpenaiChatCompletion,
        }
    }
}

/// (provider, api) from either form: a compound provider splits, a plain known provider gets
/// its implied api, an explicit api is kept (seed 002, `extract_provider`/`extract_api`).
pub fn normalise(
    provider: Option<String>,
    api: Option<String>,
) -> (Option<String>, Option<String>) {
    let compound = provider
        .as_deref()
        .and_then(|p| COMPOUND_PROVIDERS.iter().find(|c| c.0 == p));
    match (compound, api) {
        (Some((_, p, a)), api) => (
            Some((*p).to_owned()),
            Some(api.unwrap_or_else(|| (*a).to_owned())),
        ),
        (None, Some(api)) => (provider, Some(api)),
        (None, None) => {
            let implied = provider
                .as_deref()
                .and_then(|p| IMPLIED_APIS.iter().find(|i| i.0 == p))
                .map(|i| i.1.to_owned());
            (provider, implied)
        }
    }
}

impl Serialize for ModelConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ModelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ModelConfig::from_json(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> ModelConfig {
        ModelConfig::from_json(v).unwrap()
    }

    #[test]
    fn compound_providers_split_and_write_the_new_form() {
        let c = read(
            json!({"provider": "openai_responses", "model": "gpt-4o", "temperature": 0.7, "seed": 7}),
        );
        assert_eq!(c.provider.as_deref(), Some("openai"));
        assert_eq!(c.api.as_deref(), Some("response_api"));
        assert_eq!(c.api_type(), ApiType::OpenaiResponseApi);
        assert_eq!(
            c.to_json(),
            json!({"provider": "openai", "api": "response_api", "model": "gpt-4o", "temperature": 0.7, "seed": 7})
        );
        let a = read(json!({"provider": "openai_assistants"}));
        assert_eq!(a.api_type(), ApiType::OpenaiAssistantsApi);
    }

    #[test]
    fn plain_providers_get_their_implied_api() {
        assert_eq!(
            read(json!({"provider": "anthropic"})).api_type(),
            ApiType::AnthropicMessages
        );
        assert_eq!(
            read(json!({"provider": "google"})).api_type(),
            ApiType::GoogleGemini
        );
        assert_eq!(
            read(json!({"provider": "openai"})).api.as_deref(),
            Some("chat_completion")
        );
        let unknown = read(json!({"provider": "mistral"}));
        assert_eq!(
            (unknown.provider.as_deref(), unknown.api.as_deref()),
            (Some("mistral"), None)
        );
        assert_eq!(unknown.api_type(), ApiType::OpenaiChatCompletion);
    }

    #[test]
    fn explicit_api_is_kept_and_blank_config_defaults_to_chat_completion() {
        let c = read(json!({"provider": "openai", "api": "response_api"}));
        assert_eq!(c.api_type(), ApiType::OpenaiResponseApi);
        assert_eq!(read(json!({})).api_type(), ApiType::OpenaiChatCompletion);
        assert_eq!(read(Value::Null), ModelConfig::default());
        assert_eq!(read(json!({})).to_json(), json!({}));
    }

    #[test]
    fn values_of_unexpected_types_are_kept_verbatim() {
        let c = read(json!({"provider": "openai", "temperature": "0.7", "max_tokens": 1.5}));
        assert_eq!(c.temperature, None);
        assert_eq!(c.to_json()["temperature"], json!("0.7"));
        assert_eq!(c.to_json()["max_tokens"], json!(1.5));
    }

    #[test]
    fn non_objects_are_refused() {
        assert!(ModelConfig::from_json(json!([1])).is_err());
        assert!(serde_json::from_value::<ModelConfig>(json!("openai")).is_err());
    }
}
