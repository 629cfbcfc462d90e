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

use serde_json::{Map, Value, json};

use super::{Call, Tool, put};

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
}
