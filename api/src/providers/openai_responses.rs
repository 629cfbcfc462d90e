//! OpenAI Responses API: `POST {OPENAI_BASE_URL}/responses` (OpenAI API reference,
//! "Create a model response"; built-in tools guide).
//!
//! Body:
//! ```json
//! { "model": "gpt-4o", "instructions": "<system>", "input": "<user>",
//!   "temperature": 0.7, "top_p": 1, "max_output_tokens": 256,
//!   "tools": [ {"type": "web_search_preview"},
//!              {"type": "file_search", "vector_store_ids": ["vs_..."]},
//!              {"type": "code_interpreter", "container": {"type": "auto"}},
//!              {"type": "function", "name", "description", "parameters"} ],
//!   "text": {"format": {"type": "json_schema", "name": "response", "schema": {...},
//!                       "strict": true}} }
//! ```
//! - `instructions` is left out without a system prompt; sampling fields when unset.
//! - `max_tokens` of the model config is sent as `max_output_tokens` (it counts reasoning
//!   tokens too).
//! - Tool ids map to OpenAI's built-in tool types: `web_search` -> `web_search_preview`,
//!   `file_search` -> `file_search` with the config's top-level `vector_store_ids`,
//!   `code_interpreter` -> `code_interpreter` in an automatically created container. Function
//!   tools are flat here (`name` next to `type`), unlike Chat Completions.

use serde_json::{Map, Value, json};

use super::{Call, RESPONSE_NAME, Tool, put};
use crate::model_config::vector_store_ids;

/// Path relative to the OpenAI base URL (which ends in `/v1`).
pub const PATH: &str = "/responses";

/// The request body for a validated call.
pub(crate) fn body(call: &Call<'_>) -> Value {
    let config = call.config;
    let mut body = Map::new();
    body.insert("model".into(), call.model.into());
    put(&mut body, "instructions", call.prompt.system());
    body.insert("input".into(), call.prompt.user.into());
    put(&mut body, "temperature", config.temperature);
    put(&mut body, "top_p", config.top_p);
    put(&mut body, "max_output_tokens", config.max_tokens);
    let tools: Vec<Value> = call
        .tools
        .iter()
        .filter_map(|t| match *t {
            Tool::BuiltIn("web_search") => Some(json!({"type": "web_search_preview"})),
            Tool::BuiltIn("file_search") => Some(json!({
                "type": "file_search",
                "vector_store_ids": vector_store_ids(config),
            })),
            Tool::BuiltIn("code_interpreter") => {
                Some(json!({"type": "code_interpreter", "container": {"type": "auto"}}))
            }
            Tool::BuiltIn(_) => None,
            Tool::Function {
                name,
                description,
                parameters,
            } => {
                let mut tool = Map::new();
                tool.insert("type".into(), "function".into());
                tool.insert("name".into(), name.into());
                put(&mut tool, "description", description);
                tool.insert("parameters".into(), parameters.clone());
                Some(Value::Object(tool))
            }
        })
        .collect();
    if !tools.is_empty() {
        body.insert("tools".into(), tools.into());
    }
    if let Some(schema) = call.schema {
        body.insert(
            "text".into(),
            json!({"format": {"type": "json_schema", "name": RESPONSE_NAME, "schema": schema,
                              "strict": true}}),
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
            "provider": "openai", "api": "response_api", "model": "gpt-4.1",
            "temperature": 0.5, "top_p": 1, "max_tokens": 800,
            "vector_store_ids": ["vs_abc", "vs_def"],
            "tools": ["web_search", "file_search", "code_interpreter",
                      {"type": "function", "name": "lookup_order",
                       "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}}}]
        }));
        let schema = json!({"type": "object", "properties": {"summary": {"type": "string"}}});
        let prompt = PromptParts {
            system: Some("Cite sources."),
            user: "What changed?",
        };
        let r = build_request(&config, &prompt, Some(&schema)).unwrap();
        assert_eq!(r.api_type, ApiType::OpenaiResponseApi);
        assert_eq!(r.path, "/responses");
        assert_eq!(
            r.body,
            json!({
                "model": "gpt-4.1",
                "instructions": "Cite sources.",
                "input": "What changed?",
                "temperature": 0.5,
                "top_p": 1.0,
                "max_output_tokens": 800,
                "tools": [
                    {"type": "web_search_preview"},
                    {"type": "file_search", "vector_store_ids": ["vs_abc", "vs_def"]},
                    {"type": "code_interpreter", "container": {"type": "auto"}},
                    {"type": "function", "name": "lookup_order",
                     "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}}}
                ],
                "text": {"format": {"type": "json_schema", "name": "response",
                                    "schema": {"type": "object",
                                               "properties": {"summary": {"type": "string"}}},
                                    "strict": true}}
            })
        );
    }

    #[test]
    fn minimal_body() {
        let prompt = PromptParts {
            system: None,
            user: "Hi",
        };
        let r = build_request(
            &read(json!({"provider": "openai", "api": "response_api", "model": "gpt-4o"})),
            &prompt,
            None,
        )
        .unwrap();
        assert_eq!(r.body, json!({"model": "gpt-4o", "input": "Hi"}));
    }
}
