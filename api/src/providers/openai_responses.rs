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
//!
//! Answer (`parse`):
//! ```json
//! { "id": "resp_...", "object": "response", "status": "completed" | "incomplete" | "failed",
//!   "model": "gpt-4o-2024-08-06", "error": null, "incomplete_details": {"reason": "max_output_tokens"} | null,
//!   "output": [ {"type": "reasoning", ...}, {"type": "web_search_call", ...},
//!               {"type": "message", "role": "assistant",
//!                "content": [ {"type": "output_text", "text": "...", "annotations": []},
//!                             {"type": "refusal", "refusal": "..."} ]},
//!               {"type": "function_call", "id": "fc_...", "call_id": "call_...", "name",
//!                "arguments": "<JSON text>"} ],
//!   "usage": {"input_tokens": 36, "output_tokens": 87, "total_tokens": 123,
//!             "output_tokens_details": {"reasoning_tokens": 0}} }
//! ```
//! - The text is every `output_text` of every `message` item, concatenated (refusals too);
//!   tool calls are the `function_call` items (built-in tool items such as `web_search_call`
//!   ran at OpenAI and stay in `raw`).
//! - The finish reason is `incomplete_details.reason` when present, else `status`. A
//!   `failed` response is a `server_error` with its `error.message`.
//! - Errors: `{"error": {"message", "type", "param", "code"}}` with the HTTP status.

use entity::model_config::ApiType;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Call, CallError, Completion, FailureStatus, RAW_LIMIT, RESPONSE_NAME, Tool, ToolCall,
    arguments_from_str, completion, put, read_body, truncate,
};
use crate::catalog::model_config::vector_store_ids;

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

#[derive(Deserialize)]
struct Response {
    id: Option<String>,
    model: Option<String>,
    status: Option<String>,
    error: Option<ResponseError>,
    incomplete_details: Option<Incomplete>,
    output: Vec<Item>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ResponseError {
    message: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct Incomplete {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Item {
    #[serde(rename = "message")]
    Message {
        #[serde(default)]
        content: Vec<Part>,
    },
    #[serde(rename = "function_call")]
    FunctionCall {
        call_id: Option<String>,
        name: String,
        arguments: Option<String>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Part {
    #[serde(rename = "output_text")]
    OutputText { text: String },
    #[serde(rename = "refusal")]
    Refusal { refusal: String },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
}

/// Parses a Responses API answer (see the module docs).
pub(crate) fn parse(body: &Value) -> Result<Completion, CallError> {
    let response: Response = read_body(ApiType::OpenaiResponseApi, body)?;
    if response.status.as_deref() == Some("failed") {
        let error = response.error.as_ref();
        let message = error
            .and_then(|e| e.message.as_deref())
            .unwrap_or("no error message");
        let code = error
            .and_then(|e| e.code.as_deref())
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let mut e = CallError::new(
            FailureStatus::Error,
            CallError::SERVER_ERROR,
            format!("openai reported the response as failed: {message}{code}"),
        );
        e.raw = Some(truncate(&body.to_string(), RAW_LIMIT));
        return Err(e);
    }
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for item in response.output {
        match item {
            Item::Message { content } => {
                for part in content {
                    match part {
                        Part::OutputText { text: t } | Part::Refusal { refusal: t } => {
                            text.push_str(&t);
                        }
                        Part::Other => {}
                    }
                }
            }
            Item::FunctionCall {
                call_id,
                name,
                arguments,
            } => tool_calls.push(ToolCall {
                id: call_id,
                name,
                arguments: arguments_from_str(arguments.as_deref().unwrap_or("{}")),
            }),
            Item::Other => {}
        }
    }
    let usage = response.usage;
    Ok(Completion {
        text,
        tokens_prompt: usage.as_ref().and_then(|u| u.input_tokens),
        tokens_completion: usage.as_ref().and_then(|u| u.output_tokens),
        response_id: response.id,
        model: response.model,
        finish_reason: response
            .incomplete_details
            .and_then(|d| d.reason)
            .or(response.status),
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

    mod http {
        use super::super::super::test_support::{
            self as t, Format, OPENAI_KEY, ok_json, received, wire_format_scenarios,
        };
        use super::super::super::{CallError, Completion, FailureStatus, ToolCall, parse_response};
        use entity::model_config::ApiType;
        use serde_json::{Value, json};
        use wiremock::MockServer;
        use wiremock::matchers::body_partial_json;

        fn success() -> Value {
            json!({
                "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
                "object": "response",
                "created_at": 1741476542,
                "status": "completed",
                "error": null,
                "incomplete_details": null,
                "instructions": "Be brief.",
                "max_output_tokens": null,
                "model": "gpt-4.1-2025-04-14",
                "output": [{
                    "type": "message",
                    "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello! How can I help?",
                                 "annotations": []}]
                }],
                "parallel_tool_calls": true,
                "store": true,
                "temperature": 1.0,
                "tools": [],
                "usage": {"input_tokens": 36, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": 87, "output_tokens_details": {"reasoning_tokens": 0},
                          "total_tokens": 123}
            })
        }

        fn error(status: u16, message: &str) -> Value {
            let kind = match status {
                429 => "tokens",
                500..=599 => "server_error",
                _ => "invalid_request_error",
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }

        pub(crate) fn format() -> Format {
            Format {
                config: json!({"provider": "openai", "api": "response_api", "model": "gpt-4.1"}),
                path: "/v1/responses",
                headers: &[("authorization", "Bearer sk-test-openai-0123456789abcdef")],
                success,
                error,
                key: OPENAI_KEY,
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
                    tokens_prompt: Some(36),
                    tokens_completion: Some(87),
                    response_id: Some(
                        "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b".into()
                    ),
                    model: Some("gpt-4.1-2025-04-14".into()),
                    finish_reason: Some("completed".into()),
                    tool_calls: vec![],
                    latency_ms: c.latency_ms,
                    attempts: 1,
                    raw: success(),
                }
            );
            let requests = server.received_requests().await.unwrap();
            assert_eq!(
                requests[0].body_json::<Value>().unwrap(),
                json!({"model": "gpt-4.1", "instructions": "Be brief.", "input": "Hi"})
            );
        }

        #[tokio::test]
        async fn function_calls_are_tool_calls() {
            let body = json!({
                "id": "resp_tool", "object": "response", "status": "completed", "model": "gpt-4.1-2025-04-14",
                "output": [
                    {"type": "reasoning", "id": "rs_1", "summary": []},
                    {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                    {"type": "function_call", "id": "fc_12345xyz", "call_id": "call_12345xyz",
                     "name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}",
                     "status": "completed"}
                ],
                "usage": {"input_tokens": 291, "output_tokens": 23, "total_tokens": 314}
            });
            let f = format();
            let server = f.server(ok_json(body)).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(c.text, "");
            assert_eq!(
                c.tool_calls,
                [ToolCall {
                    id: Some("call_12345xyz".into()),
                    name: "get_weather".into(),
                    arguments: json!({"location": "Paris, France"})
                }]
            );
            assert_eq!(
                (c.tokens_prompt, c.tokens_completion),
                (Some(291), Some(23))
            );
        }

        #[tokio::test]
        async fn structured_output_is_sent_as_text_format() {
            let schema = json!({"type": "object", "properties": {"summary": {"type": "string"}},
                                "required": ["summary"], "additionalProperties": false});
            let mut body = success();
            body["output"][0]["content"][0]["text"] = json!("{\"summary\":\"ok\"}");
            let f = format();
            let server = MockServer::start().await;
            f.given()
                .and(body_partial_json(json!({"text": {"format": {
                    "type": "json_schema", "name": "response", "schema": schema, "strict": true}}})))
                .respond_with(ok_json(body))
                .mount(&server)
                .await;
            let c = f
                .call_with(t::settings(&server), Some(&schema))
                .await
                .unwrap();
            assert_eq!(c.text, "{\"summary\":\"ok\"}");
            assert_eq!(received(&server).await, 1);
        }

        #[test]
        fn incomplete_and_failed_responses() {
            let mut body = success();
            body["status"] = json!("incomplete");
            body["incomplete_details"] = json!({"reason": "max_output_tokens"});
            let c = parse_response(ApiType::OpenaiResponseApi, &body).unwrap();
            assert_eq!(c.finish_reason.as_deref(), Some("max_output_tokens"));
            assert_eq!(c.text, "Hello! How can I help?");

            let failed = json!({"id": "resp_f", "object": "response", "status": "failed",
                "error": {"code": "server_error", "message": "The model failed to generate a response."},
                "output": []});
            let e = parse_response(ApiType::OpenaiResponseApi, &failed).unwrap_err();
            assert_eq!(e.status, FailureStatus::Error);
            assert_eq!(e.error_type, CallError::SERVER_ERROR);
            assert_eq!(
                e.error_message,
                "openai reported the response as failed: The model failed to generate a response. \
                 (server_error)"
            );
        }

        #[test]
        fn refusals_are_text_and_other_shapes_are_malformed() {
            let body = json!({"id": "r", "status": "completed", "output": [{"type": "message",
                "content": [{"type": "refusal", "refusal": "I can't help with that."}]}]});
            let c = parse_response(ApiType::OpenaiResponseApi, &body).unwrap();
            assert_eq!(c.text, "I can't help with that.");
            for body in [
                json!({"id": "r"}),
                json!({"output": [{"type": "function_call", "arguments": "{}"}]}),
                json!({"output": "text"}),
            ] {
                let e = parse_response(ApiType::OpenaiResponseApi, &body).unwrap_err();
                assert_eq!(e.error_type, CallError::MALFORMED_RESPONSE, "{body}");
            }
        }
    }
}
