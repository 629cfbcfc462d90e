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
//!
//! Answer (`parse`):
//! ```json
//! { "id": "chatcmpl-...", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
//!   "choices": [ {"index": 0, "finish_reason": "stop" | "tool_calls" | "length" | ...,
//!                 "message": {"role": "assistant", "content": "..." | null, "refusal": null,
//!                             "tool_calls": [ {"id": "call_...", "type": "function",
//!                                              "function": {"name", "arguments": "<JSON text>"}} ]}} ],
//!   "usage": {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21} }
//! ```
//! - The first choice is the answer (one is requested). `content` may also be an array of
//!   `{"type": "text", "text"}` parts (some OpenAI-compatible servers); a refusal's text is the
//!   answer's text when there is no content.
//! - Errors: `{"error": {"message", "type", "param", "code"}}` with the HTTP status.

use entity::model_config::ApiType;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Call, CallError, Completion, RESPONSE_NAME, Tool, ToolCall, arguments_from_str, completion,
    malformed, put, read_body,
};
use crate::catalog::model_config::is_openai_reasoning_model;

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

#[derive(Deserialize)]
struct Response {
    id: Option<String>,
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<Content>,
    refusal: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: Option<String>,
    function: Option<Function>,
    /// Custom (free-form) tools: `{"type": "custom", "custom": {"name", "input"}}`.
    custom: Option<Custom>,
}

#[derive(Deserialize)]
struct Function {
    name: String,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct Custom {
    name: String,
    input: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
}

/// Parses a Chat Completions answer (see the module docs).
pub(crate) fn parse(body: &Value) -> Result<Completion, CallError> {
    const API: ApiType = ApiType::OpenaiChatCompletion;
    let response: Response = read_body(API, body)?;
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(malformed(API, "choices is empty", body));
    };
    let message = choice.message;
    let mut text = match message.content {
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => parts.into_iter().filter_map(|p| p.text).collect(),
        None => String::new(),
    };
    if text.is_empty()
        && let Some(refusal) = message.refusal
    {
        text = refusal;
    }
    let mut tool_calls = Vec::new();
    for call in message.tool_calls.into_iter().flatten() {
        let (name, arguments) = match (call.function, call.custom) {
            (Some(f), _) => (
                f.name,
                arguments_from_str(f.arguments.as_deref().unwrap_or("{}")),
            ),
            (None, Some(c)) => (c.name, Value::String(c.input.unwrap_or_default())),
            (None, None) => {
                return Err(malformed(
                    API,
                    "a tool call has neither function nor custom",
                    body,
                ));
            }
        };
        tool_calls.push(ToolCall {
            id: call.id,
            name,
            arguments,
        });
    }
    let usage = response.usage;
    Ok(Completion {
        text,
        tokens_prompt: usage.as_ref().and_then(|u| u.prompt_tokens),
        tokens_completion: usage.as_ref().and_then(|u| u.completion_tokens),
        response_id: response.id,
        model: response.model,
        finish_reason: choice.finish_reason,
        tool_calls,
        ..completion(body)
    })
}

#[cfg(test)]
pub(crate) mod tests {
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

    pub(crate) mod http {
        use super::super::super::test_support::{
            self as t, Format, OPENAI_KEY, ok_json, received, wire_format_scenarios,
        };
        use super::super::super::{CallError, Completion, ToolCall, parse_response};
        use entity::model_config::ApiType;
        use serde_json::{Value, json};
        use wiremock::MockServer;
        use wiremock::matchers::body_partial_json;

        fn success() -> Value {
            json!({
                "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
                "object": "chat.completion",
                "created": 1741569952,
                "model": "gpt-4o-2024-08-06",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello! How can I help?",
                                "refusal": null, "annotations": []},
                    "logprobs": null,
                    "finish_reason": "stop"
                }],
                "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
                "service_tier": "default",
                "system_fingerprint": "fp_f9f4fb6dbf"
            })
        }

        fn error(status: u16, message: &str) -> Value {
            let (kind, code) = match status {
                401 => ("invalid_request_error", json!("invalid_api_key")),
                429 => ("requests", json!("rate_limit_exceeded")),
                500..=599 => ("server_error", Value::Null),
                _ => ("invalid_request_error", Value::Null),
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }

        pub(crate) fn format() -> Format {
            Format {
                config: json!({"provider": "openai", "api": "chat_completion", "model": "gpt-4o"}),
                path: "/v1/chat/completions",
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
                    tokens_prompt: Some(19),
                    tokens_completion: Some(10),
                    response_id: Some("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT".into()),
                    model: Some("gpt-4o-2024-08-06".into()),
                    finish_reason: Some("stop".into()),
                    tool_calls: vec![],
                    latency_ms: c.latency_ms,
                    attempts: 1,
                    raw: success(),
                }
            );
            let requests = server.received_requests().await.unwrap();
            assert_eq!(requests.len(), 1);
            assert_eq!(
                requests[0].body_json::<Value>().unwrap(),
                json!({"model": "gpt-4o", "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"}]})
            );
            assert_eq!(
                requests[0].headers.get("content-type").unwrap(),
                "application/json"
            );
        }

        #[tokio::test]
        async fn tool_calls_without_text_are_a_success() {
            let body = json!({
                "id": "chatcmpl-tool", "object": "chat.completion", "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": null, "refusal": null,
                    "tool_calls": [
                        {"id": "call_abc", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                        {"id": "call_def", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Par"}}
                    ]}}],
                "usage": {"prompt_tokens": 80, "completion_tokens": 40, "total_tokens": 120}
            });
            let f = format();
            let server = f.server(ok_json(body)).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(c.text, "");
            assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
            assert_eq!(
                c.tool_calls,
                [
                    ToolCall {
                        id: Some("call_abc".into()),
                        name: "get_weather".into(),
                        arguments: json!({"city": "Paris"})
                    },
                    // arguments that are not JSON are kept verbatim
                    ToolCall {
                        id: Some("call_def".into()),
                        name: "get_weather".into(),
                        arguments: json!("{\"city\": \"Par")
                    }
                ]
            );
            assert_eq!((c.tokens_prompt, c.tokens_completion), (Some(80), Some(40)));
        }

        #[tokio::test]
        async fn structured_output_is_sent_as_response_format() {
            let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}},
                                "required": ["answer"], "additionalProperties": false});
            let mut body = success();
            body["choices"][0]["message"]["content"] = json!("{\"answer\":\"Paris\"}");
            let f = format();
            let server = MockServer::start().await;
            f.given()
                .and(body_partial_json(json!({"response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": schema, "strict": true}}})))
                .respond_with(ok_json(body))
                .mount(&server)
                .await;
            let c = f
                .call_with(t::settings(&server), Some(&schema))
                .await
                .unwrap();
            assert_eq!(
                serde_json::from_str::<Value>(&c.text).unwrap(),
                json!({"answer": "Paris"})
            );
            assert_eq!(received(&server).await, 1);
        }

        #[tokio::test]
        async fn missing_key_is_refused_before_calling() {
            t::missing_key_is_refused_before_calling(
                &format(),
                |s| s.openai.api_key = None,
                "OPENAI_API_KEY",
                "openai",
            )
            .await;
        }

        #[test]
        fn refusals_and_content_parts_are_text() {
            let refusal = json!({"id": "x", "model": "gpt-4o", "choices": [{"finish_reason": "stop",
                "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]});
            let c = parse_response(ApiType::OpenaiChatCompletion, &refusal).unwrap();
            assert_eq!(c.text, "I can't help with that.");
            assert_eq!((c.latency_ms, c.attempts), (0, 0));
            let parts = json!({"choices": [{"finish_reason": "stop", "message": {"content": [
                {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]});
            let c = parse_response(ApiType::OpenaiChatCompletion, &parts).unwrap();
            assert_eq!(c.text, "ab");
            assert_eq!(c.tokens_prompt, None);
        }

        #[test]
        fn other_shapes_are_malformed() {
            for (body, reason) in [
                (json!({"choices": []}), "choices is empty"),
                (json!({"object": "list"}), "missing field `choices`"),
                (
                    json!({"choices": [{"message": {"content": 7}}]}),
                    "choices[0].message.content",
                ),
                (json!([1, 2]), "invalid type"),
            ] {
                let e = parse_response(ApiType::OpenaiChatCompletion, &body).unwrap_err();
                assert_eq!(e.error_type, CallError::MALFORMED_RESPONSE);
                assert!(e.error_message.contains(reason), "{}", e.error_message);
                assert_eq!(e.raw, Some(body.to_string()));
            }
        }
    }
}
