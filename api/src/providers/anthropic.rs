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
//!
//! Headers: `x-api-key` and `anthropic-version: 2023-06-01`.
//!
//! Answer (`parse`):
//! ```json
//! { "id": "msg_...", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
//!   "content": [ {"type": "text", "text": "..."},
//!                {"type": "tool_use", "id": "toolu_...", "name": "get_stock", "input": {...}},
//!                {"type": "thinking", ...}, {"type": "server_tool_use", ...}, ... ],
//!   "stop_reason": "end_turn" | "tool_use" | "max_tokens" | ..., "stop_sequence": null,
//!   "usage": {"input_tokens": 12, "output_tokens": 6} }
//! ```
//! - The text is every `text` block concatenated (web search answers come as several blocks
//!   with citations); tool calls are the `tool_use` blocks. With structured output, the
//!   forced `response` tool call is the answer: its `input`, as JSON text, is the text, and it
//!   is not listed as a tool call.
//! - Errors: `{"type": "error", "error": {"type": "invalid_request_error" | "overloaded_error" |
//!   ..., "message"}, "request_id"}` with the HTTP status (529 when overloaded).

use entity::model_config::ApiType;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Call, CallError, Completion, FailureStatus, RAW_LIMIT, RESPONSE_NAME, Tool, ToolCall,
    completion, put, read_body, truncate,
};

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

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    model: Option<String>,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Block {
    #[serde(rename = "text")]
    Text { text: String },
    #[serde(rename = "tool_use")]
    ToolUse {
        id: Option<String>,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
}

/// Parses a Messages answer (see the module docs); `structured`: the request forced the
/// `response` tool.
pub(crate) fn parse(body: &Value, structured: bool) -> Result<Completion, CallError> {
    if body.get("type").and_then(Value::as_str) == Some("error") {
        let message = body
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no error message");
        let mut e = CallError::new(
            FailureStatus::Error,
            CallError::SERVER_ERROR,
            format!("anthropic answered with an error: {message}"),
        );
        e.raw = Some(truncate(&body.to_string(), RAW_LIMIT));
        return Err(e);
    }
    let message: Message = read_body(ApiType::AnthropicMessages, body)?;
    let mut text = String::new();
    let mut answer = None;
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block {
            Block::Text { text: t } => text.push_str(&t),
            Block::ToolUse { name, input, .. } if structured && name == RESPONSE_NAME => {
                answer.get_or_insert(input);
            }
            Block::ToolUse { id, name, input } => tool_calls.push(ToolCall {
                id,
                name,
                arguments: input,
            }),
            Block::Other => {}
        }
    }
    if let Some(input) = answer {
        text = input.to_string();
    }
    let usage = message.usage;
    Ok(Completion {
        text,
        tokens_prompt: usage.as_ref().and_then(|u| u.input_tokens),
        tokens_completion: usage.as_ref().and_then(|u| u.output_tokens),
        response_id: message.id,
        model: message.model,
        finish_reason: message.stop_reason,
        tool_calls,
        ..completion(body)
    })
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

    mod http {
        use super::super::super::test_support::{
            self as t, ANTHROPIC_KEY, Format, ok_json, received, wire_format_scenarios,
        };
        use super::super::super::{CallError, Completion, ToolCall, parse_response};
        use entity::model_config::ApiType;
        use serde_json::{Value, json};
        use wiremock::matchers::body_partial_json;
        use wiremock::{MockServer, ResponseTemplate};

        fn success() -> Value {
            json!({
                "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-20250514",
                "content": [{"type": "text", "text": "Hello! How can I help?"}],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {"input_tokens": 12, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": 9,
                          "service_tier": "standard"}
            })
        }

        fn error(status: u16, message: &str) -> Value {
            let kind = match status {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                500..=599 => "api_error",
                _ => "invalid_request_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message},
                   "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
        }

        pub(crate) fn format() -> Format {
            Format {
                config: json!({"provider": "anthropic", "api": "messages",
                               "model": "claude-sonnet-4-20250514"}),
                path: "/v1/messages",
                headers: &[
                    ("x-api-key", "sk-ant-test-0123456789abcdef"),
                    ("anthropic-version", "2023-06-01"),
                ],
                success,
                error,
                key: ANTHROPIC_KEY,
            }
        }

        wire_format_scenarios!(format());

        #[tokio::test]
        async fn success_is_normalised() {
            let f = format();
            let server = f.server(ok_json(success())).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(
                c,
                Completion {
                    text: "Hello! How can I help?".into(),
                    tokens_prompt: Some(12),
                    tokens_completion: Some(9),
                    response_id: Some("msg_01XFDUDYJgAACzvnptvVoYEL".into()),
                    model: Some("claude-sonnet-4-20250514".into()),
                    finish_reason: Some("end_turn".into()),
                    tool_calls: vec![],
                    latency_ms: c.latency_ms,
                    attempts: 1,
                    raw: success(),
                }
            );
            let requests = server.received_requests().await.unwrap();
            assert_eq!(
                requests[0].body_json::<Value>().unwrap(),
                json!({"model": "claude-sonnet-4-20250514", "max_tokens": 1024,
                       "system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]})
            );
            assert!(requests[0].headers.get("authorization").is_none());
        }

        #[tokio::test]
        async fn tool_use_blocks_are_tool_calls() {
            let body = json!({
                "id": "msg_tool", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-20250514",
                "content": [
                    {"type": "text", "text": "I'll look up the price."},
                    {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9",
                     "name": "get_stock", "input": {"ticker": "ACME"}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 472, "output_tokens": 54}
            });
            let f = format();
            let server = f.server(ok_json(body)).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(c.text, "I'll look up the price.");
            assert_eq!(c.finish_reason.as_deref(), Some("tool_use"));
            assert_eq!(
                c.tool_calls,
                [ToolCall {
                    id: Some("toolu_01A09q90qw90lq917835lq9".into()),
                    name: "get_stock".into(),
                    arguments: json!({"ticker": "ACME"})
                }]
            );
        }

        #[tokio::test]
        async fn structured_output_is_a_forced_tool_whose_input_is_the_answer() {
            let schema = json!({"type": "object", "properties": {"price": {"type": "number"}}});
            let body = json!({
                "id": "msg_json", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-20250514",
                "content": [{"type": "tool_use", "id": "toolu_json", "name": "response",
                             "input": {"price": 12.5}}],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 400, "output_tokens": 20}
            });
            let f = format();
            let server = MockServer::start().await;
            f.given()
                .and(body_partial_json(json!({
                    "tools": [{"name": "response", "input_schema": schema}],
                    "tool_choice": {"type": "tool", "name": "response"}})))
                .respond_with(ok_json(body.clone()))
                .mount(&server)
                .await;
            let c = f
                .call_with(t::settings(&server), Some(&schema))
                .await
                .unwrap();
            assert_eq!(c.text, "{\"price\":12.5}");
            assert_eq!(c.tool_calls, []);
            assert_eq!(received(&server).await, 1);
            // without a schema in the request, a tool named `response` is just a tool call
            let c = super::super::parse(&body, false).unwrap();
            assert_eq!((c.text.as_str(), c.tool_calls.len()), ("", 1));
        }

        #[tokio::test]
        async fn overloaded_529_is_retried() {
            let f = format();
            let server = MockServer::start().await;
            f.mock(f.error_response(529, "Overloaded"))
                .up_to_n_times(1)
                .mount(&server)
                .await;
            f.mock(ok_json(success())).mount(&server).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(c.attempts, 2);
            assert_eq!(received(&server).await, 2);

            let server = f
                .server(
                    ResponseTemplate::new(529)
                        .set_body_json(error(529, "Overloaded"))
                        .insert_header("retry-after", "0"),
                )
                .await;
            let e = f.call(&server).await.unwrap_err();
            assert_eq!(e.error_type, CallError::SERVER_ERROR);
            assert_eq!(e.http_status, Some(529));
            assert_eq!(
                e.error_message,
                "anthropic answered HTTP 529 Overloaded: Overloaded (overloaded_error) \
                 (gave up after 3 attempts)"
            );
        }

        #[tokio::test]
        async fn missing_key_is_refused_before_calling() {
            t::missing_key_is_refused_before_calling(
                &format(),
                |s| s.anthropic.api_key = Some(String::new()),
                "ANTHROPIC_API_KEY",
                "anthropic",
            )
            .await;
        }

        #[test]
        fn text_blocks_are_concatenated_and_other_shapes_are_malformed() {
            let body = json!({"id": "m", "type": "message", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "x"},
                {"type": "text", "text": "The answer "},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "is 42.", "citations": []}]});
            let c = parse_response(ApiType::AnthropicMessages, &body).unwrap();
            assert_eq!(c.text, "The answer is 42.");
            assert_eq!(c.tool_calls, []);
            for body in [
                json!({"id": "m"}),
                json!({"content": [{"text": "no type"}]}),
            ] {
                let e = parse_response(ApiType::AnthropicMessages, &body).unwrap_err();
                assert_eq!(e.error_type, CallError::MALFORMED_RESPONSE, "{body}");
            }
            let e =
                parse_response(ApiType::AnthropicMessages, &error(529, "Overloaded")).unwrap_err();
            assert_eq!(e.error_type, CallError::SERVER_ERROR);
        }
    }
}
