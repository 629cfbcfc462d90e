//! OpenAI Chat Completions: `POST {OPENAI_BASE_URL}/chat/completions`
//! (OpenAI API reference, "Create chat completion").
//!
//! Body:
//! ```json
//! { "model": "gpt-4o",
//!   "messages": [ {"role": "system", "content": "<system>"}, {"role": "user", "content": "<user>"} ],
//!   "temperature": 0.7, "top_p": 1, "max_tokens": 256,
//!   "tools": [ {"type": "function", "function": {"name", "description", "parameters"}} ],
//!   "response_format": {"type": "json_schema",
//!                       "json_schema": {"name": "response", "schema": {...}, "strict": true}} }
//! ```
//! - The system message is left out when there is no system prompt; sampling fields when unset.
//! - `max_tokens` is sent as `max_completion_tokens` for o-series reasoning models (`o1`,
//!   `o3-mini`, ...), which refuse `max_tokens`; that field also counts their reasoning tokens.
//! - Chat Completions has no built-in tools: only function tools are sent.
//! - `strict: true` makes OpenAI enforce the schema exactly; it requires every object in the
//!   schema to list all its properties in `required` and set `additionalProperties: false`
//!   (OpenAI Structured Outputs guide). The schema is sent as given.

use serde_json::{Map, Value, json};

use super::{Call, RESPONSE_NAME, Tool, put};
use crate::model_config::is_openai_reasoning_model;

/// Path relative to the OpenAI base URL (which ends in `/v1`).
pub const PATH: &str = "/chat/completions";

/// The request body for a validated call.
pub(crate) fn body(call: &Call<'_>) -> Value {
    let config = call.config;
    let mut body = Map::new();
    body.insert("model".into(), call.model.into());
    let mut messages = Vec::new();
    if let Some(system) = call.prompt.system() {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": call.prompt.user}));
    body.insert("messages".into(), messages.into());
    put(&mut body, "temperature", config.temperature);
    put(&mut body, "top_p", config.top_p);
    let max_key = if is_openai_reasoning_model(call.model) {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    put(&mut body, max_key, config.max_tokens);
    let tools: Vec<Value> = call
        .tools
        .iter()
        .filter_map(|t| match *t {
            Tool::Function {
                name,
                description,
                parameters,
            } => {
                let mut function = Map::new();
                function.insert("name".into(), name.into());
                put(&mut function, "description", description);
                function.insert("parameters".into(), parameters.clone());
                Some(json!({"type": "function", "function": function}))
            }
            Tool::BuiltIn(_) => None,
        })
        .collect();
    if !tools.is_empty() {
        body.insert("tools".into(), tools.into());
    }
    if let Some(schema) = call.schema {
        body.insert(
            "response_format".into(),
            json!({"type": "json_schema",
                   "json_schema": {"name": RESPONSE_NAME, "schema": schema, "strict": true}}),
        );
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::super::tests::read;
    use super::super::{PromptParts, build_request};
    use entity::model_config::ApiType;
    use serde_json::json;

    #[test]
    fn full_body() {
        let config = read(json!({
            "provider": "openai", "api": "chat_completion", "model": "gpt-4o",
            "temperature": 0.7, "top_p": 0.9, "max_tokens": 256, "seed": 42,
            "tools": [{"type": "function", "name": "get_weather", "description": "Weather for a city",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                      "required": ["city"]}}]
        }));
        let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}},
                            "required": ["answer"], "additionalProperties": false});
        let prompt = PromptParts {
            system: Some("You are terse."),
            user: "Weather in Paris?",
        };
        let r = build_request(&config, &prompt, Some(&schema)).unwrap();
        assert_eq!(r.api_type, ApiType::OpenaiChatCompletion);
        assert_eq!(r.path, "/chat/completions");
        assert_eq!(
            r.body,
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "Weather in Paris?"}
                ],
                "temperature": 0.7,
                "top_p": 0.9,
                "max_tokens": 256,
                "tools": [{"type": "function", "function": {
                    "name": "get_weather", "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                   "required": ["city"]}}}],
                "response_format": {"type": "json_schema", "json_schema": {
                    "name": "response",
                    "schema": {"type": "object", "properties": {"answer": {"type": "string"}},
                               "required": ["answer"], "additionalProperties": false},
                    "strict": true}}
            })
        );
    }

    #[test]
    fn minimal_body_and_default_config() {
        let prompt = PromptParts {
            system: None,
            user: "Hi",
        };
        let r = build_request(
            &read(json!({"provider": "openai", "model": "gpt-4o-mini"})),
            &prompt,
            None,
        )
        .unwrap();
        assert_eq!(
            r.body,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
        );
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        let prompt = PromptParts {
            system: None,
            user: "Hi",
        };
        let r = build_request(
            &read(json!({"provider": "openai", "model": "o3-mini", "max_tokens": 5000})),
            &prompt,
            None,
        )
        .unwrap();
        assert_eq!(
            r.body,
            json!({"model": "o3-mini", "messages": [{"role": "user", "content": "Hi"}],
                   "max_completion_tokens": 5000})
        );
    }
}
