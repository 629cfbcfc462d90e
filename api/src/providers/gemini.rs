//! Google Gemini: `POST {GEMINI_BASE_URL}/v1beta/models/{model}:generateContent`
//! (Gemini API reference, `models.generateContent`; structured output, function calling and
//! grounding with Google Search guides).
//!
//! Body:
//! ```json
//! { "contents": [ {"role": "user", "parts": [{"text": "<user>"}]} ],
//!   "systemInstruction": {"parts": [{"text": "<system>"}]},
//!   "generationConfig": {"temperature": 0.7, "topP": 0.9, "maxOutputTokens": 256,
//!                        "responseMimeType": "application/json", "responseSchema": {...}},
//!   "tools": [ {"functionDeclarations": [{"name", "description", "parameters"}]},
//!              {"googleSearch": {}} ] }
//! ```
//! - `systemInstruction` and `generationConfig` are left out when empty; sampling fields when
//!   unset (`max_tokens` is sent as `maxOutputTokens`).
//! - All function tools go into one `functionDeclarations` tool; `google_search` becomes
//!   `{"googleSearch": {}}` (the Gemini 2.x form; Gemini 1.5 used `googleSearchRetrieval`).
//! - `responseSchema` and function `parameters` are Gemini `Schema` objects, a subset of the
//!   OpenAPI 3.0 schema; Gemini refuses unknown keys. JSON Schemas are therefore reduced by
//!   [`gemini_schema`]: keys outside that subset (`additionalProperties`, `$schema`, `$ref`,
//!   `const`, ...) are dropped and `"type": ["string", "null"]` becomes
//!   `"type": "string", "nullable": true`.
//! - The model id goes in the path (a leading `models/` is accepted and removed), percent-encoded.
//!
//! Headers: the key goes in `x-goog-api-key` (never in the `?key=` query, so it stays out of
//! URLs and logs).
//!
//! Answer (`parse`):
//! ```json
//! { "candidates": [ {"content": {"role": "model",
//!                                "parts": [ {"text": "..."}, {"text": "...", "thought": true},
//!                                           {"functionCall": {"name", "args": {...}}} ]},
//!                    "finishReason": "STOP" | "MAX_TOKENS" | "SAFETY" | ..., "index": 0} ],
//!   "promptFeedback": {"blockReason": "SAFETY"},
//!   "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 12,
//!                     "thoughtsTokenCount": 30, "totalTokenCount": 50},
//!   "modelVersion": "gemini-2.0-flash", "responseId": "..." }
//! ```
//! - The first candidate is the answer: its non-thought `text` parts concatenated, its
//!   `functionCall` parts as tool calls. Output tokens are `candidatesTokenCount` plus
//!   `thoughtsTokenCount` (thinking is billed as output); input tokens are
//!   `promptTokenCount` plus `toolUsePromptTokenCount` (what a tool such as Google Search
//!   added to the prompt), so input + output = `totalTokenCount`.
//! - A prompt blocked before any candidate (`promptFeedback.blockReason`) is an empty answer
//!   with finish reason `blocked: <reason>`.
//! - Errors: `{"error": {"code", "message", "status": "INVALID_ARGUMENT" | ...,
//!   "details": [...]}}` with the HTTP status; an invalid key is a 400 whose details say
//!   `API_KEY_INVALID`; a 429 may carry `RetryInfo.retryDelay`.

use entity::model_config::ApiType;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Call, CallError, Completion, Tool, ToolCall, completion, malformed, put, read_body};

/// Path of `generateContent` for `model`, relative to the Gemini base URL
/// (`https://generativelanguage.googleapis.com`).
pub fn path(model: &str) -> String {
    let id = model.strip_prefix("models/").unwrap_or(model);
    format!("/v1beta/models/{}:generateContent", encode_segment(id))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Keys of Gemini's `Schema` object (Gemini API reference, `Schema`).
const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// A JSON Schema reduced to Gemini's `Schema` subset (see the module docs).
pub fn gemini_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        match (key.as_str(), value) {
            ("properties", Value::Object(props)) => {
                let props = props
                    .iter()
                    .map(|(name, s)| (name.clone(), gemini_schema(s)))
                    .collect();
                out.insert(key.clone(), Value::Object(props));
            }
            ("items", item) => {
                out.insert(key.clone(), gemini_schema(item));
            }
            ("anyOf", Value::Array(options)) => {
                out.insert(
                    key.clone(),
                    options.iter().map(gemini_schema).collect::<Vec<_>>().into(),
                );
            }
            ("type", Value::Array(types)) => {
                let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                if non_null.len() == 1 {
                    out.insert("type".into(), non_null[0].clone());
                }
                if non_null.len() < types.len() {
                    out.insert("nullable".into(), true.into());
                }
            }
            (k, v) if SCHEMA_KEYS.contains(&k) => {
                out.entry(k.to_owned()).or_insert_with(|| v.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// The request body for a validated call.
pub(crate) fn body(call: &Call<'_>) -> Value {
    let config = call.config;
    let mut body = Map::new();
    body.insert(
        "contents".into(),
        json!([{"role": "user", "parts": [{"text": call.prompt.user}]}]),
    );
    if let Some(system) = call.prompt.system() {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    let mut generation = Map::new();
    put(&mut generation, "temperature", config.temperature);
    put(&mut generation, "topP", config.top_p);
    put(&mut generation, "maxOutputTokens", config.max_tokens);
    if let Some(schema) = call.schema {
        generation.insert("responseMimeType".into(), "application/json".into());
        generation.insert("responseSchema".into(), gemini_schema(schema));
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), generation.into());
    }
    let declarations: Vec<Value> = call
        .tools
        .iter()
        .filter_map(|t| match *t {
            Tool::Function {
                name,
                description,
                parameters,
            } => {
                let mut f = Map::new();
                f.insert("name".into(), name.into());
                put(&mut f, "description", description);
                f.insert("parameters".into(), gemini_schema(parameters));
                Some(Value::Object(f))
            }
            Tool::BuiltIn(_) => None,
        })
        .collect();
    let mut tools = Vec::new();
    if !declarations.is_empty() {
        tools.push(json!({"functionDeclarations": declarations}));
    }
    if call.tools.contains(&Tool::BuiltIn("google_search")) {
        tools.push(json!({"googleSearch": {}}));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), tools.into());
    }
    Value::Object(body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    candidates: Option<Vec<Candidate>>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<Usage>,
    model_version: Option<String>,
    response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    function_call: Option<FunctionCall>,
}

#[derive(Deserialize)]
struct FunctionCall {
    id: Option<String>,
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    prompt_token_count: Option<i64>,
    tool_use_prompt_token_count: Option<i64>,
    candidates_token_count: Option<i64>,
    thoughts_token_count: Option<i64>,
}

/// Parses a `generateContent` answer (see the module docs).
pub(crate) fn parse(body: &Value) -> Result<Completion, CallError> {
    const API: ApiType = ApiType::GoogleGemini;
    let response: Response = read_body(API, body)?;
    let usage = response.usage_metadata;
    // A sum of counts Gemini may omit: None only when both are absent.
    let sum = |a: Option<i64>, b: Option<i64>| a.or(b).map(|_| a.unwrap_or(0) + b.unwrap_or(0));
    let tokens_completion = usage
        .as_ref()
        .and_then(|u| sum(u.candidates_token_count, u.thoughts_token_count));
    let mut result = Completion {
        tokens_prompt: usage
            .as_ref()
            .and_then(|u| sum(u.prompt_token_count, u.tool_use_prompt_token_count)),
        tokens_completion,
        response_id: response.response_id,
        model: response.model_version,
        ..completion(body)
    };
    let Some(candidate) = response.candidates.and_then(|c| c.into_iter().next()) else {
        return match response.prompt_feedback.and_then(|f| f.block_reason) {
            Some(reason) => {
                result.finish_reason = Some(format!("blocked: {reason}"));
                Ok(result)
            }
            None => Err(malformed(
                API,
                "no candidates and no promptFeedback.blockReason",
                body,
            )),
        };
    };
    for part in candidate.content.into_iter().flat_map(|c| c.parts) {
        if let Some(text) = part.text.filter(|_| !part.thought) {
            result.text.push_str(&text);
        }
        if let Some(call) = part.function_call {
            result.tool_calls.push(ToolCall {
                id: call.id,
                name: call.name,
                arguments: call.args.unwrap_or_else(|| json!({})),
            });
        }
    }
    result.finish_reason = candidate.finish_reason;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::super::tests::read;
    use super::super::{PromptParts, build_request};
    use super::*;
    use entity::model_config::ApiType;

    #[test]
    fn full_body_with_function_tools() {
        let config = read(json!({
            "provider": "google", "api": "gemini", "model": "gemini-2.5-pro",
            "temperature": 1.2, "top_p": 0.95, "max_tokens": 4096,
            "tools": [{"type": "function", "name": "get_time", "description": "Current time",
                       "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                                      "additionalProperties": false}}]
        }));
        let prompt = PromptParts {
            system: Some("Be precise."),
            user: "What time is it in Tokyo?",
        };
        let r = build_request(&config, &prompt, None).unwrap();
        assert_eq!(r.api_type, ApiType::GoogleGemini);
        assert_eq!(r.path, "/v1beta/models/gemini-2.5-pro:generateContent");
        assert_eq!(
            r.body,
            json!({
                "contents": [{"role": "user", "parts": [{"text": "What time is it in Tokyo?"}]}],
                "systemInstruction": {"parts": [{"text": "Be precise."}]},
                "generationConfig": {"temperature": 1.2, "topP": 0.95, "maxOutputTokens": 4096},
                "tools": [{"functionDeclarations": [{
                    "name": "get_time", "description": "Current time",
                    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}
                }]}]
            })
        );
    }

    #[test]
    fn structured_output_body_reduces_the_schema() {
        let config = read(json!({"provider": "google", "model": "gemini-2.0-flash"}));
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "score": {"type": ["number", "null"], "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string", "const": "x"}}
            },
            "required": ["answer"],
            "additionalProperties": false
        });
        let prompt = PromptParts {
            system: None,
            user: "Rate it.",
        };
        let r = build_request(&config, &prompt, Some(&schema)).unwrap();
        assert_eq!(r.path, "/v1beta/models/gemini-2.0-flash:generateContent");
        assert_eq!(
            r.body,
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Rate it."}]}],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {
                        "type": "object",
                        "properties": {
                            "answer": {"type": "string"},
                            "score": {"type": "number", "nullable": true, "minimum": 0},
                            "tags": {"type": "array", "items": {"type": "string"}}
                        },
                        "required": ["answer"]
                    }
                }
            })
        );
    }

    #[test]
    fn google_search_body() {
        let config = read(json!({"provider": "google", "model": "gemini-2.5-pro",
                                 "tools": ["google_search"]}));
        let prompt = PromptParts {
            system: None,
            user: "News today?",
        };
        let r = build_request(&config, &prompt, None).unwrap();
        assert_eq!(
            r.body,
            json!({"contents": [{"role": "user", "parts": [{"text": "News today?"}]}],
                   "tools": [{"googleSearch": {}}]})
        );
    }

    #[test]
    fn gemini_2_refuses_tools_with_a_response_schema() {
        let config = read(json!({"provider": "google", "model": "gemini-2.5-pro",
                                 "tools": ["google_search"]}));
        let prompt = PromptParts {
            system: None,
            user: "Hi",
        };
        let schema = json!({"type": "object"});
        let err = build_request(&config, &prompt, Some(&schema)).unwrap_err();
        assert_eq!(
            (err[0].field.as_str(), err[0].message.as_str()),
            (
                "model_config.tools",
                "gemini-2.5-pro cannot use tools together with a response schema (Gemini 1.x and \
                 2.x models refuse tool use with responseMimeType application/json); remove the \
                 tools or the response schema"
            )
        );
        // later models are left to the provider
        let config = read(json!({"provider": "google", "model": "gemini-3-pro",
                                 "tools": ["google_search"]}));
        let r = build_request(&config, &prompt, Some(&schema)).unwrap();
        assert_eq!(r.body["tools"], json!([{"googleSearch": {}}]));
        assert_eq!(
            r.body["generationConfig"]["responseMimeType"],
            json!("application/json")
        );
    }

    #[test]
    fn minimal_body() {
        let prompt = PromptParts {
            system: None,
            user: "Hi",
        };
        let r = build_request(
            &read(json!({"provider": "google", "model": "gemini-2.0-flash"})),
            &prompt,
            None,
        )
        .unwrap();
        assert_eq!(
            r.body,
            json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]})
        );
    }

    #[test]
    fn model_ids_are_path_safe() {
        assert_eq!(
            path("models/gemini-2.0-flash-001"),
            "/v1beta/models/gemini-2.0-flash-001:generateContent"
        );
        assert_eq!(
            path("tuned/x y?"),
            "/v1beta/models/tuned%2Fx%20y%3F:generateContent"
        );
    }

    mod http {
        use super::super::super::test_support::{
            self as t, Format, GEMINI_KEY, ok_json, received, wire_format_scenarios,
        };
        use super::super::super::{CallError, Completion, ToolCall, parse_response};
        use entity::model_config::ApiType;
        use serde_json::{Value, json};
        use wiremock::matchers::body_partial_json;
        use wiremock::{MockServer, ResponseTemplate};

        fn success() -> Value {
            json!({
                "candidates": [{
                    "content": {"parts": [{"text": "Hello! How can I help?"}], "role": "model"},
                    "finishReason": "STOP",
                    "avgLogprobs": -0.0521,
                    "index": 0
                }],
                "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 7,
                                  "totalTokenCount": 15,
                                  "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]},
                "modelVersion": "gemini-2.0-flash",
                "responseId": "kX7CZ8rTAuCGm9IP0ZfK-Ak"
            })
        }

        fn error(status: u16, message: &str) -> Value {
            let kind = match status {
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                500..=599 => "INTERNAL",
                _ => "INVALID_ARGUMENT",
            };
            json!({"error": {"code": status, "message": message, "status": kind}})
        }

        pub(crate) fn format() -> Format {
            Format {
                config: json!({"provider": "google", "api": "gemini", "model": "gemini-2.0-flash"}),
                path: "/v1beta/models/gemini-2.0-flash:generateContent",
                headers: &[("x-goog-api-key", "AIzaTest-gemini-0123456789abcdef")],
                success,
                error,
                key: GEMINI_KEY,
            }
        }

        wire_format_scenarios!(format());

        #[tokio::test]
        async fn success_is_normalised_and_the_key_stays_out_of_the_url() {
            let f = format();
            let server = f.server(ok_json(success())).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(
                c,
                Completion {
                    text: "Hello! How can I help?".into(),
                    tokens_prompt: Some(8),
                    tokens_completion: Some(7),
                    response_id: Some("kX7CZ8rTAuCGm9IP0ZfK-Ak".into()),
                    model: Some("gemini-2.0-flash".into()),
                    finish_reason: Some("STOP".into()),
                    tool_calls: vec![],
                    latency_ms: c.latency_ms,
                    attempts: 1,
                    raw: success(),
                }
            );
            let requests = server.received_requests().await.unwrap();
            assert_eq!(requests[0].url.query(), None);
            assert_eq!(
                requests[0].body_json::<Value>().unwrap(),
                json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
                       "systemInstruction": {"parts": [{"text": "Be brief."}]}})
            );
        }

        #[tokio::test]
        async fn function_calls_are_tool_calls_and_thoughts_are_not_text() {
            let body = json!({
                "candidates": [{
                    "content": {"role": "model", "parts": [
                        {"text": "The user wants the time.", "thought": true},
                        {"functionCall": {"name": "get_time", "args": {"tz": "Asia/Tokyo"}}},
                        {"functionCall": {"id": "fc-2", "name": "get_date"}}
                    ]},
                    "finishReason": "STOP", "index": 0
                }],
                "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 12,
                                  "thoughtsTokenCount": 30, "totalTokenCount": 82},
                "modelVersion": "gemini-2.0-flash", "responseId": "resp-tools"
            });
            let f = format();
            let server = f.server(ok_json(body)).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(c.text, "");
            assert_eq!(
                c.tool_calls,
                [
                    ToolCall {
                        id: None,
                        name: "get_time".into(),
                        arguments: json!({"tz": "Asia/Tokyo"})
                    },
                    ToolCall {
                        id: Some("fc-2".into()),
                        name: "get_date".into(),
                        arguments: json!({})
                    }
                ]
            );
            assert_eq!((c.tokens_prompt, c.tokens_completion), (Some(40), Some(42)));
        }

        #[tokio::test]
        async fn structured_output_is_sent_as_response_schema() {
            let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}},
                                "required": ["answer"], "additionalProperties": false});
            let mut body = success();
            body["candidates"][0]["content"]["parts"][0]["text"] = json!("{\"answer\": \"Paris\"}");
            let f = format();
            let server = MockServer::start().await;
            f.given()
                .and(body_partial_json(json!({"generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "object",
                                       "properties": {"answer": {"type": "string"}},
                                       "required": ["answer"]}}})))
                .respond_with(ok_json(body))
                .mount(&server)
                .await;
            let c = f
                .call_with(t::settings(&server), Some(&schema))
                .await
                .unwrap();
            assert_eq!(c.text, "{\"answer\": \"Paris\"}");
            assert_eq!(received(&server).await, 1);
        }

        #[tokio::test]
        async fn an_invalid_key_400_is_authentication() {
            let body = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                             "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com"}}]}});
            let f = format();
            let server = f
                .server(ResponseTemplate::new(400).set_body_json(body))
                .await;
            let e = f.call(&server).await.unwrap_err();
            assert_eq!(e.error_type, CallError::AUTHENTICATION);
            assert_eq!(
                e.error_message,
                "google answered HTTP 400 Bad Request: API key not valid. Please pass a valid API \
                 key. (INVALID_ARGUMENT)"
            );
            assert_eq!(received(&server).await, 1);
        }

        #[tokio::test]
        async fn a_429_retry_delay_in_the_body_is_honoured() {
            let f = format();
            let server = MockServer::start().await;
            let quota = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": "You exceeded your current quota.",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0s"}]}});
            f.mock(ResponseTemplate::new(429).set_body_json(quota))
                .up_to_n_times(1)
                .mount(&server)
                .await;
            f.mock(ok_json(success())).mount(&server).await;
            let c = f.call(&server).await.unwrap();
            assert_eq!(c.attempts, 2);
        }

        #[tokio::test]
        async fn missing_key_is_refused_before_calling() {
            t::missing_key_is_refused_before_calling(
                &format(),
                |s| s.gemini.api_key = None,
                "GEMINI_API_KEY",
                "google",
            )
            .await;
        }

        #[test]
        fn blocked_prompts_and_malformed_bodies() {
            let blocked = json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                                 "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                                 "modelVersion": "gemini-2.0-flash"});
            let c = parse_response(ApiType::GoogleGemini, &blocked).unwrap();
            assert_eq!(c.text, "");
            assert_eq!(c.finish_reason.as_deref(), Some("blocked: SAFETY"));
            assert_eq!((c.tokens_prompt, c.tokens_completion), (Some(9), None));
            // a candidate stopped by safety has no content
            let stopped = json!({"candidates": [{"finishReason": "SAFETY", "index": 0}]});
            let c = parse_response(ApiType::GoogleGemini, &stopped).unwrap();
            assert_eq!(
                (c.text.as_str(), c.finish_reason.as_deref()),
                ("", Some("SAFETY"))
            );
            for body in [
                json!({}),
                json!({"candidates": []}),
                json!({"candidates": [{"content": {"parts": [{"text": 5}]}}]}),
            ] {
                let e = parse_response(ApiType::GoogleGemini, &body).unwrap_err();
                assert_eq!(e.error_type, CallError::MALFORMED_RESPONSE, "{body}");
            }
        }
    }
}
