//! Anthropic Messages: `POST {ANTHROPIC_BASE_URL}/v1/messages` (Anthropic API reference,
//! "Messages"; tool use and web search tool guides).
//!
//! Body:
//! ```json
//! { "model": "claude-sonnet-4-20250514", "max_tokens": 1024, "system": "<system>",
//!   "messages": [ {"role": "user", "content": "<user>"} ],
//!   "temperature": 0.7, "top_p": 0.9,
//!   "tools": [ {"name", "description", "input_schema"},
//!              {"type": "web_search_20250305", "name": "web_search"},
//!              {"name": "response", "input_schema": {...}} ],
//!   "tool_choice": {"type": "tool", "name": "response"} }
//! ```
//! - `max_tokens` is required by Anthropic: the config's `max_tokens`, else
//!   [`DEFAULT_MAX_TOKENS`] (1024).
//! - `system` is left out without a system prompt; sampling fields when unset.
//! - Function tools become Anthropic client tools (`parameters` -> `input_schema`); the
//!   `web_search` id becomes the server tool `web_search_20250305`.
//! - Structured output: Anthropic's Messages API has no response-schema field for these
//!   models, so the schema is sent as a tool named `response` whose `input_schema` is the
//!   schema, and `tool_choice` forces the model to call it; the answer is that call's `input`
//!   (Anthropic tool-use guide, "JSON output"). Forcing the tool means the model answers
//!   through it directly, without calling the other tools first.

use serde_json::{Map, Value, json};

use super::{Call, RESPONSE_NAME, Tool, put};

/// Path relative to the Anthropic base URL (`https://api.anthropic.com`).
pub const PATH: &str = "/v1/messages";

/// Output limit sent when the model config has no `max_tokens` (Anthropic requires one), tokens.
pub const DEFAULT_MAX_TOKENS: i64 = 1024;

/// Version of the web search server tool (Anthropic web search tool docs).
pub const WEB_SEARCH_TOOL_TYPE: &str = "web_search_20250305";

/// The request body for a validated call.
pub(crate) fn body(call: &Call<'_>) -> Value {
    let config = call.config;
    let mut body = Map::new();
    body.insert("model".into(), call.model.into());
    body.insert(
        "max_tokens".into(),
        config.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).into(),
    );
    put(&mut body, "system", call.prompt.system());
    body.insert(
        "messages".into(),
        json!([{"role": "user", "content": call.prompt.user}]),
    );
    put(&mut body, "temperature", config.temperature);
    put(&mut body, "top_p", config.top_p);
    let mut tools: Vec<Value> = call
        .tools
        .iter()
        .filter_map(|t| match *t {
            Tool::BuiltIn("web_search") => {
                Some(json!({"type": WEB_SEARCH_TOOL_TYPE, "name": "web_search"}))
            }
            Tool::BuiltIn(_) => None,
            Tool::Function {
                name,
                description,
                parameters,
            } => {
                let mut tool = Map::new();
                tool.insert("name".into(), name.into());
                put(&mut tool, "description", description);
                tool.insert("input_schema".into(), parameters.clone());
                Some(Value::Object(tool))
            }
        })
        .collect();
    if let Some(schema) = call.schema {
        tools.push(json!({"name": RESPONSE_NAME, "input_schema": schema}));
        body.insert(
            "tool_choice".into(),
            json!({"type": "tool", "name": RESPONSE_NAME}),
        );
    }
    if !tools.is_empty() {
        body.insert("tools".into(), tools.into());
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
            "provider": "anthropic", "api": "messages", "model": "claude-sonnet-4-20250514",
            "temperature": 0.3, "top_p": 0.8, "max_tokens": 2048,
            "tools": [{"type": "function", "name": "get_stock", "description": "Stock price",
                       "parameters": {"type": "object", "properties": {"ticker": {"type": "string"}}}},
                      "web_search"]
        }));
        let schema = json!({"type": "object", "properties": {"price": {"type": "number"}}});
        let prompt = PromptParts {
            system: Some("Answer in JSON."),
            user: "Price of ACME?",
        };
        let r = build_request(&config, &prompt, Some(&schema)).unwrap();
        assert_eq!(r.api_type, ApiType::AnthropicMessages);
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(
            r.body,
            json!({
                "model": "claude-sonnet-4-20250514",
                "max_tokens": 2048,
                "system": "Answer in JSON.",
                "messages": [{"role": "user", "content": "Price of ACME?"}],
                "temperature": 0.3,
                "top_p": 0.8,
                "tools": [
                    {"name": "get_stock", "description": "Stock price",
                     "input_schema": {"type": "object", "properties": {"ticker": {"type": "string"}}}},
                    {"type": "web_search_20250305", "name": "web_search"},
                    {"name": "response",
                     "input_schema": {"type": "object", "properties": {"price": {"type": "number"}}}}
                ],
                "tool_choice": {"type": "tool", "name": "response"}
            })
        );
    }

    #[test]
    fn max_tokens_defaults_to_1024() {
        let prompt = PromptParts {
            system: None,
            user: "Hi",
        };
        let r = build_request(
            &read(json!({"provider": "anthropic", "model": "claude-3-5-sonnet-latest"})),
            &prompt,
            None,
        )
        .unwrap();
        assert_eq!(
            r.body,
            json!({"model": "claude-3-5-sonnet-latest", "max_tokens": 1024,
                   "messages": [{"role": "user", "content": "Hi"}]})
        );
    }
}
