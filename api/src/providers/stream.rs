//! Streamed answers: a provider's server-sent events (`text/event-stream`), assembled into the
//! same [`Completion`] that [`parse_response`](super::parse_response) makes of a JSON body.
//!
//! The SSE framing follows the HTML living standard ("Server-sent events", "Interpreting an
//! event stream"): lines end in `\n`, `\r\n` or `\r`; a blank line ends an event; `event:`
//! names it; `data:` lines are joined with `\n`; lines starting with `:` are comments; one
//! space after the colon is dropped. A last event not followed by a blank line is still
//! taken (recorded streams often end without one).
//!
//! - OpenAI Chat Completions (`stream: true`): `data: {chat.completion.chunk}` events, then
//!   `data: [DONE]`. Per choice (by `index`): `delta.content` and `delta.refusal` fragments
//!   are concatenated; `delta.tool_calls` entries are merged by their `index` (the first `id`,
//!   `type` and `function.name` seen are kept, `function.arguments` fragments are
//!   concatenated); the last non-null `finish_reason` wins; `usage` comes from the chunk that
//!   carries it (the final, choice-less chunk with `stream_options.include_usage`). The
//!   assembled `chat.completion` is then read as [`parse_response`](super::parse_response)
//!   reads one: first choice, refusal text when there is no content, arguments parsed as JSON.
//!   A chunk `{"error": {...}}` is a `server_error`.
//! - Anthropic Messages (`stream: true`): `message_start` (id, model, usage), then per content
//!   block `content_block_start` / `content_block_delta` (`text_delta` appended to a text
//!   block, `input_json_delta` `partial_json` appended to a tool block's input; other deltas
//!   such as `thinking_delta`, `signature_delta`, `citations_delta` ignored) /
//!   `content_block_stop`, then `message_delta` (`stop_reason`; `usage`, whose counts are
//!   cumulative: `output_tokens` always, `input_tokens` when present, which replaces the
//!   `message_start` count, as it grows with server tools such as web search), and
//!   `message_stop`. `ping` and unknown event types are ignored. The assembled message is read
//!   as [`parse_response`](super::parse_response) reads one (text blocks concatenated,
//!   `tool_use` blocks as tool calls, a `response` tool as the structured answer). A tool
//!   input whose streamed JSON does not parse (e.g. cut off by `max_tokens`) is kept as a
//!   JSON string, like OpenAI arguments. An `error` event is a failure of its kind
//!   (`overloaded_error` -> `server_error`, `rate_limit_error` -> `rate_limited`, ...).
//!
//! [`Completion::raw`] of a stream is the JSON array of its events' `data` (without
//! `[DONE]`). `latency_ms` and `attempts` are 0.

use std::collections::BTreeMap;

use entity::model_config::ApiType;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{
    CallError, Completion, FailureStatus, RAW_LIMIT, arguments_from_str, parse_with, truncate,
};

/// Assembles a streamed answer (the SSE text of a whole response body) in the given wire
/// format into one [`Completion`] (see the module docs).
///
/// # Errors
/// `malformed_response` when the stream is not the format's: an event whose data is not JSON
/// or lacks the format's fields, no events, an Anthropic stream without `message_start` or
/// `message_stop` (cut off), a delta for a content block never started, an OpenAI stream
/// without a choice or whose first choice never got a `finish_reason` (cut off). An error
/// event in the stream is the failure it reports. `refused` for the api types whose streams
/// are not assembled here (Responses API, Gemini, Assistants).
pub fn parse_stream(api_type: ApiType, sse: &str) -> Result<Completion, CallError> {
    let result = match api_type {
        ApiType::OpenaiChatCompletion => openai_chat(sse),
        ApiType::AnthropicMessages => anthropic(sse),
        ApiType::OpenaiResponseApi | ApiType::GoogleGemini | ApiType::OpenaiAssistantsApi => {
            return Err(CallError::refused(format!(
                "assembling a streamed {} answer is not supported",
                api_type.as_str()
            )));
        }
    };
    result.map_err(|mut e| {
        e.raw = Some(truncate(sse, RAW_LIMIT));
        e
    })
}

/// One dispatched server-sent event.
#[derive(Debug, PartialEq)]
struct Event {
    /// The `event:` name, when given.
    name: Option<String>,
    /// The `data:` lines joined with `\n`.
    data: String,
}

/// The events of an SSE text (see the module docs).
fn events(sse: &str) -> Vec<Event> {
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    let mut data: Option<String> = None;
    let mut rest = sse.strip_prefix('\u{feff}').unwrap_or(sse);
    let mut dispatch = |name: &mut Option<String>, data: &mut Option<String>| {
        if let Some(d) = data.take() {
            out.push(Event {
                name: name.take(),
                data: d,
            });
        }
        *name = None;
    };
    while !rest.is_empty() {
        let (line, next) = match rest.find(['\r', '\n']) {
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                (&rest[..i], &rest[i + skip..])
            }
            None => (rest, ""),
        };
        rest = next;
        if line.is_empty() {
            dispatch(&mut name, &mut data);
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => name = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    dispatch(&mut name, &mut data);
    out
}

fn malformed(api_type: ApiType, reason: impl std::fmt::Display) -> CallError {
    CallError::new(
        FailureStatus::Error,
        CallError::MALFORMED_RESPONSE,
        format!(
            "the provider answered with a stream that is not a {} stream: {reason}",
            api_type.as_str()
        ),
    )
}

/// Event `n`'s data as JSON.
fn json_data(api_type: ApiType, n: usize, event: &Event) -> Result<Value, CallError> {
    serde_json::from_str(&event.data)
        .map_err(|e| malformed(api_type, format_args!("event {n} is not JSON ({e})")))
}

/// Event `n`'s JSON read as `T`; the error names the event and the offending path.
fn read<T: DeserializeOwned>(api_type: ApiType, n: usize, data: &Value) -> Result<T, CallError> {
    serde_path_to_error::deserialize(data).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            malformed(api_type, format_args!("event {n}: {inner}"))
        } else {
            malformed(api_type, format_args!("event {n}: {path}: {inner}"))
        }
    })
}

/// Runs the assembled body through the format's JSON parser; the raw of the result is the
/// events.
fn finish(api_type: ApiType, assembled: &Value, raw: Vec<Value>) -> Result<Completion, CallError> {
    let mut completion = parse_with(api_type, assembled, true)?;
    completion.raw = Value::Array(raw);
    Ok(completion)
}

// ---------------------------------------------------------------------------------------
// OpenAI Chat Completions

#[derive(Deserialize)]
struct Chunk {
    id: Option<String>,
    model: Option<String>,
    choices: Vec<ChunkChoice>,
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u64,
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    index: Option<u64>,
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Default)]
struct ChoiceSoFar {
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: BTreeMap<u64, ToolCallSoFar>,
    finish_reason: Option<String>,
}

#[derive(Default)]
struct ToolCallSoFar {
    id: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    arguments: String,
}

fn append(to: &mut Option<String>, fragment: Option<String>) {
    if let Some(f) = fragment {
        to.get_or_insert_with(String::new).push_str(&f);
    }
}

fn openai_chat(sse: &str) -> Result<Completion, CallError> {
    const API: ApiType = ApiType::OpenaiChatCompletion;
    let mut raw = Vec::new();
    let mut id = None;
    let mut model = None;
    let mut usage = None;
    let mut choices: BTreeMap<u64, ChoiceSoFar> = BTreeMap::new();
    for (n, event) in events(sse).iter().enumerate() {
        if event.data.trim() == "[DONE]" {
            break;
        }
        let data = json_data(API, n, event)?;
        if let Some(error) = data.get("error").filter(|e| !e.is_null()) {
            return Err(stream_error("openai", error));
        }
        let chunk: Chunk = read(API, n, &data)?;
        raw.push(data);
        id = id.or(chunk.id);
        model = model.or(chunk.model);
        if chunk.usage.as_ref().is_some_and(|u| !u.is_null()) {
            usage = chunk.usage;
        }
        for c in chunk.choices {
            let choice = choices.entry(c.index).or_default();
            if c.finish_reason.is_some() {
                choice.finish_reason = c.finish_reason;
            }
            let Some(delta) = c.delta else { continue };
            append(&mut choice.content, delta.content);
            append(&mut choice.refusal, delta.refusal);
            for t in delta.tool_calls.into_iter().flatten() {
                let index = match t.index {
                    Some(i) => i,
                    // Without an index (some compatible servers), a call with an id starts a
                    // new call and fragments without one continue the last.
                    None => match choice.tool_calls.keys().next_back() {
                        Some(&last) if t.id.is_none() || t.id == choice.tool_calls[&last].id => {
                            last
                        }
                        Some(&last) => last + 1,
                        None => 0,
                    },
                };
                let call = choice.tool_calls.entry(index).or_default();
                if call.id.is_none() {
                    call.id = t.id;
                }
                if call.kind.is_none() {
                    call.kind = t.kind;
                }
                if let Some(f) = t.function {
                    if call.name.is_none() {
                        call.name = f.name;
                    }
                    call.arguments
                        .push_str(f.arguments.as_deref().unwrap_or_default());
                }
            }
        }
    }
    if raw.is_empty() {
        return Err(malformed(API, "it has no chunk"));
    }
    let Some(first) = choices.values().next() else {
        return Err(malformed(API, "no chunk has a choice"));
    };
    if first.finish_reason.is_none() {
        return Err(malformed(API, "it ended before a finish_reason (cut off?)"));
    }
    let mut assembled_choices = Vec::new();
    for (index, choice) in choices {
        let mut message = Map::new();
        message.insert("role".into(), "assistant".into());
        message.insert("content".into(), choice.content.into());
        message.insert("refusal".into(), choice.refusal.into());
        if !choice.tool_calls.is_empty() {
            let mut calls = Vec::new();
            for (i, call) in choice.tool_calls {
                let Some(name) = call.name else {
                    return Err(malformed(
                        API,
                        format_args!("tool call {i} of choice {index} has no function name"),
                    ));
                };
                calls.push(json!({
                    "id": call.id,
                    "type": call.kind.unwrap_or_else(|| "function".into()),
                    "function": {"name": name, "arguments": call.arguments},
                }));
            }
            message.insert("tool_calls".into(), calls.into());
        }
        assembled_choices.push(json!({
            "index": index,
            "message": message,
            "finish_reason": choice.finish_reason,
        }));
    }
    let assembled = json!({
        "id": id,
        "object": "chat.completion",
        "model": model,
        "choices": assembled_choices,
        "usage": usage,
    });
    finish(API, &assembled, raw)
}

// ---------------------------------------------------------------------------------------
// Anthropic Messages

#[derive(Deserialize)]
struct MessageStart {
    message: StartMessage,
}

#[derive(Deserialize)]
struct StartMessage {
    id: Option<String>,
    model: Option<String>,
    #[serde(default)]
    content: Vec<Value>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct BlockStart {
    index: u64,
    content_block: Map<String, Value>,
}

#[derive(Deserialize)]
struct BlockDelta {
    index: u64,
    delta: DeltaBody,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum DeltaBody {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    delta: Option<MessageDeltaBody>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct MessageDeltaBody {
    stop_reason: Option<String>,
}

/// A content block being streamed: the `content_block_start` block and its input JSON so far.
struct BlockSoFar {
    block: Map<String, Value>,
    input_json: Option<String>,
}

fn anthropic(sse: &str) -> Result<Completion, CallError> {
    const API: ApiType = ApiType::AnthropicMessages;
    let mut raw = Vec::new();
    let mut started: Option<StartMessage> = None;
    let mut blocks: BTreeMap<u64, BlockSoFar> = BTreeMap::new();
    let mut stop_reason = None;
    let mut tokens_prompt = None;
    let mut tokens_completion = None;
    let mut stopped = false;
    for (n, event) in events(sse).iter().enumerate() {
        let data = json_data(API, n, event)?;
        let Some(kind) = data.get("type").and_then(Value::as_str).map(str::to_owned) else {
            return Err(malformed(API, format_args!("event {n} has no type")));
        };
        match kind.as_str() {
            "message_start" => {
                let start: MessageStart = read(API, n, &data)?;
                let mut message = start.message;
                if let Some(u) = message.usage.take() {
                    tokens_prompt = u.input_tokens;
                    tokens_completion = u.output_tokens;
                }
                stop_reason = message.stop_reason.take();
                for (i, block) in std::mem::take(&mut message.content).into_iter().enumerate() {
                    if let Value::Object(block) = block {
                        blocks.insert(
                            i as u64,
                            BlockSoFar {
                                block,
                                input_json: None,
                            },
                        );
                    }
                }
                started = Some(message);
            }
            "content_block_start" => {
                let start: BlockStart = read(API, n, &data)?;
                if started.is_none() {
                    return Err(malformed(
                        API,
                        format_args!("event {n}: content_block_start before message_start"),
                    ));
                }
                blocks.insert(
                    start.index,
                    BlockSoFar {
                        block: start.content_block,
                        input_json: None,
                    },
                );
            }
            "content_block_delta" => {
                let d: BlockDelta = read(API, n, &data)?;
                let Some(block) = blocks.get_mut(&d.index) else {
                    return Err(malformed(
                        API,
                        format_args!("event {n}: a delta for block {} never started", d.index),
                    ));
                };
                match d.delta {
                    DeltaBody::Text { text } => match block.block.get_mut("text") {
                        Some(Value::String(t)) => t.push_str(&text),
                        _ => {
                            return Err(malformed(
                                API,
                                format_args!(
                                    "event {n}: a text_delta for block {}, which is not a text block",
                                    d.index
                                ),
                            ));
                        }
                    },
                    DeltaBody::InputJson { partial_json } => block
                        .input_json
                        .get_or_insert_with(String::new)
                        .push_str(&partial_json),
                    DeltaBody::Other => {}
                }
            }
            "message_delta" => {
                let d: MessageDelta = read(API, n, &data)?;
                if let Some(reason) = d.delta.and_then(|d| d.stop_reason) {
                    stop_reason = Some(reason);
                }
                if let Some(u) = d.usage {
                    // cumulative counts: the latest given wins
                    tokens_prompt = u.input_tokens.or(tokens_prompt);
                    tokens_completion = u.output_tokens.or(tokens_completion);
                }
            }
            "message_stop" => stopped = true,
            "error" => {
                let error = data.get("error").unwrap_or(&Value::Null);
                return Err(stream_error("anthropic", error));
            }
            // content_block_stop, ping, and event types added after this was written
            _ => {}
        }
        raw.push(data);
    }
    let Some(message) = started else {
        return Err(malformed(API, "it has no message_start event"));
    };
    if !stopped {
        return Err(malformed(API, "it ended before message_stop (cut off?)"));
    }
    let content: Vec<Value> = blocks
        .into_values()
        .map(|b| {
            let mut block = b.block;
            if let Some(json) = b.input_json.filter(|j| !j.trim().is_empty()) {
                block.insert("input".into(), arguments_from_str(&json));
            }
            Value::Object(block)
        })
        .collect();
    let assembled = json!({
        "id": message.id,
        "type": "message",
        "role": "assistant",
        "model": message.model,
        "content": content,
        "stop_reason": stop_reason,
        "usage": {"input_tokens": tokens_prompt, "output_tokens": tokens_completion},
    });
    finish(API, &assembled, raw)
}

/// An error reported inside a stream (after HTTP 200): its kind from the provider's error
/// type, its message.
fn stream_error(provider: &str, error: &Value) -> CallError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("no error message");
    let kind = error
        .get("type")
        .and_then(Value::as_str)
        .or_else(|| error.get("code").and_then(Value::as_str));
    let error_type = match kind {
        Some("rate_limit_error" | "rate_limit_exceeded" | "requests" | "tokens") => {
            CallError::RATE_LIMITED
        }
        Some("authentication_error" | "permission_error" | "invalid_api_key") => {
            CallError::AUTHENTICATION
        }
        Some("not_found_error" | "model_not_found") => CallError::NOT_FOUND,
        Some("invalid_request_error" | "request_too_large") => CallError::BAD_REQUEST,
        _ => CallError::SERVER_ERROR,
    };
    let detail = match kind {
        Some(k) => format!("{message} ({k})"),
        None => message.to_owned(),
    };
    CallError::new(
        FailureStatus::Error,
        error_type,
        format!("{provider} reported an error in the stream: {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_framing() {
        let sse = "\u{feff}: comment\r\nevent: a\r\ndata: {\"x\":\r\ndata:1}\r\n\r\n\
                   data:no-space\rid: 7\r\rretry: 5\n\nevent: empty\n\ndata: last";
        assert_eq!(
            events(sse),
            [
                Event {
                    name: Some("a".into()),
                    data: "{\"x\":\n1}".into()
                },
                Event {
                    name: None,
                    data: "no-space".into()
                },
                Event {
                    name: None,
                    data: "last".into()
                },
            ]
        );
        assert_eq!(events(""), []);
    }

    fn err(api: ApiType, sse: &str) -> CallError {
        parse_stream(api, sse).unwrap_err()
    }

    #[test]
    fn malformed_anthropic_streams() {
        const API: ApiType = ApiType::AnthropicMessages;
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n";
        let block = "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
        let delta = "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
        let stop = "data: {\"type\":\"message_stop\"}\n\n";
        // the well-formed stream first, so the cases below fail for their one defect
        let ok = parse_stream(API, &format!("{start}{block}{delta}{stop}")).unwrap();
        assert_eq!(
            (ok.text.as_str(), ok.tokens_prompt, ok.tokens_completion),
            ("Hi", Some(3), Some(1))
        );
        assert_eq!(ok.raw.as_array().unwrap().len(), 4);
        for (sse, reason) in [
            (String::new(), "it has no message_start event"),
            (
                format!("{block}{delta}{stop}"),
                "content_block_start before message_start",
            ),
            (
                format!("{start}{block}{delta}"),
                "it ended before message_stop",
            ),
            (
                format!("{start}{delta}{stop}"),
                "a delta for block 0 never started",
            ),
            (
                format!("{start}data: {{\"type\":\"message_st\n\n"),
                "event 1 is not JSON",
            ),
            (
                format!("{start}data: {{\"index\":0}}\n\n{stop}"),
                "event 1 has no type",
            ),
            (
                format!(
                    "{start}data: {{\"type\":\"content_block_start\",\"index\":\"0\"}}\n\n{stop}"
                ),
                "event 1: index: invalid type",
            ),
            (
                format!(
                    "{start}data: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{{}}}}}}\n\n{delta}{stop}"
                ),
                "a text_delta for block 0, which is not a text block",
            ),
        ] {
            let e = err(API, &sse);
            assert_eq!(e.error_type, CallError::MALFORMED_RESPONSE, "{sse}");
            assert!(e.error_message.contains(reason), "{}", e.error_message);
            assert!(
                e.error_message.starts_with(
                    "the provider answered with a stream that is not a anthropic_messages stream: "
                ),
                "{}",
                e.error_message
            );
            assert_eq!(e.raw.as_deref(), Some(sse.as_str()));
        }
    }

    #[test]
    fn anthropic_error_events_are_failures_of_their_kind() {
        // the event the SDK's tests use for a mid-stream failure (tests/test_open_telemetry.py)
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"content\":[]}}\n\n\
                   event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"busy\"}}\n\n";
        let e = err(ApiType::AnthropicMessages, sse);
        assert_eq!(e.error_type, CallError::SERVER_ERROR);
        assert_eq!(
            e.error_message,
            "anthropic reported an error in the stream: busy (overloaded_error)"
        );
        assert_eq!(e.http_status, None);
        let sse = sse.replace("overloaded_error", "rate_limit_error");
        assert_eq!(
            err(ApiType::AnthropicMessages, &sse).error_type,
            CallError::RATE_LIMITED
        );
    }

    #[test]
    fn malformed_openai_streams() {
        const API: ApiType = ApiType::OpenaiChatCompletion;
        let chunk = |delta: &str, finish: &str| {
            format!(
                "data: {{\"id\":\"c\",\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
            )
        };
        let ok = parse_stream(
            API,
            &format!(
                "{}{}data: [DONE]\n\n",
                chunk("{\"content\":\"Hi\"}", "null"),
                chunk("{}", "\"stop\"")
            ),
        )
        .unwrap();
        assert_eq!(
            (ok.text.as_str(), ok.finish_reason.as_deref()),
            ("Hi", Some("stop"))
        );
        for (sse, reason) in [
            ("data: [DONE]\n\n".to_owned(), "it has no chunk"),
            (
                "data: {\"id\":\"c\",\"choices\":[]}\n\n".to_owned(),
                "no chunk has a choice",
            ),
            (
                chunk("{\"content\":\"Hi\"}", "null"),
                "it ended before a finish_reason",
            ),
            (
                "data: {\"id\":\"c\"}\n\n".to_owned(),
                "event 0: missing field `choices`",
            ),
            (
                "data: {\"choices\": [\n\n".to_owned(),
                "event 0 is not JSON",
            ),
            (
                chunk(
                    "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}",
                    "\"tool_calls\"",
                ),
                "tool call 0 of choice 0 has no function name",
            ),
        ] {
            let e = err(API, &sse);
            assert_eq!(e.error_type, CallError::MALFORMED_RESPONSE, "{sse}");
            assert!(e.error_message.contains(reason), "{}", e.error_message);
            assert_eq!(e.raw.as_deref(), Some(sse.as_str()));
        }
        let e = err(
            API,
            "data: {\"error\": {\"message\": \"The server had an error\", \"type\": \"server_error\"}}\n\n",
        );
        assert_eq!(e.error_type, CallError::SERVER_ERROR);
        assert_eq!(
            e.error_message,
            "openai reported an error in the stream: The server had an error (server_error)"
        );
    }

    #[test]
    fn tool_calls_without_an_index_follow_their_ids() {
        let sse = "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n\
                   data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n\
                   data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n";
        let c = parse_stream(ApiType::OpenaiChatCompletion, sse).unwrap();
        let calls: Vec<_> = c
            .tool_calls
            .iter()
            .map(|t| (t.id.as_deref(), t.name.as_str(), t.arguments.clone()))
            .collect();
        assert_eq!(
            calls,
            [
                (Some("a"), "f", json!({"x": 1})),
                (Some("b"), "g", json!({}))
            ]
        );
    }

    #[test]
    fn other_api_types_are_refused() {
        for api in [
            ApiType::OpenaiResponseApi,
            ApiType::GoogleGemini,
            ApiType::OpenaiAssistantsApi,
        ] {
            assert_eq!(err(api, "data: {}\n\n").error_type, CallError::REFUSED);
        }
    }
}
