//! Wiremock scenarios shared by the wire-format tests: each format module describes itself
//! with a [`Format`] and runs the same failure scenarios; success bodies are asserted in the
//! modules themselves.

use std::time::Duration;

use entity::ModelConfig;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use super::{
    CallError, Completion, Endpoint, FailureStatus, PromptParts, ProviderSettings, Providers,
};

pub(crate) const OPENAI_KEY: &str = "sk-test-openai-0123456789abcdef";
pub(crate) const ANTHROPIC_KEY: &str = "sk-ant-test-0123456789abcdef";
pub(crate) const GEMINI_KEY: &str = "AIzaTest-gemini-0123456789abcdef";

pub(crate) const PROMPT: PromptParts<'static> = PromptParts {
    system: Some("Be brief."),
    user: "Hi",
};

/// Every endpoint on `server` with a test key; small timeouts and backoffs.
pub(crate) fn settings(server: &MockServer) -> ProviderSettings {
    ProviderSettings {
        openai: Endpoint::openai().with(format!("{}/v1", server.uri()), Some(OPENAI_KEY.into())),
        anthropic: Endpoint::anthropic().with(server.uri(), Some(ANTHROPIC_KEY.into())),
        gemini: Endpoint::gemini().with(server.uri(), Some(GEMINI_KEY.into())),
        timeout: Duration::from_millis(500),
        max_retries: 2,
        backoff_base: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        concurrency_per_provider: 16,
    }
}

/// One wire format as the mock server sees it.
pub(crate) struct Format {
    /// A `model_config` calling it.
    pub config: Value,
    /// The path the request reaches (OpenAI's base URL ends in `/v1`).
    pub path: &'static str,
    /// Headers every request must carry (authentication).
    pub headers: &'static [(&'static str, &'static str)],
    /// A success body in the provider's format.
    pub success: fn() -> Value,
    /// The provider's error body for an HTTP status and message.
    pub error: fn(u16, &str) -> Value,
    /// The API key used, to check it never leaks.
    pub key: &'static str,
}

impl Format {
    pub(crate) fn config(&self) -> ModelConfig {
        ModelConfig::from_json(self.config.clone()).unwrap()
    }

    /// Requests to this format's endpoint (method, path and auth headers match).
    pub(crate) fn given(&self) -> MockBuilder {
        let mut mock = Mock::given(method("POST")).and(path(self.path));
        for (name, value) in self.headers {
            mock = mock.and(header(*name, *value));
        }
        mock
    }

    /// A mock answering [`given`](Self::given) requests with `response`.
    pub(crate) fn mock(&self, response: ResponseTemplate) -> Mock {
        self.given().respond_with(response)
    }

    /// A server answering every request with `response`.
    pub(crate) async fn server(&self, response: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        self.mock(response).mount(&server).await;
        server
    }

    /// One call with the default test settings and no response schema.
    pub(crate) async fn call(&self, server: &MockServer) -> Result<Completion, CallError> {
        self.call_with(settings(server), None).await
    }

    pub(crate) async fn call_with(
        &self,
        settings: ProviderSettings,
        schema: Option<&Value>,
    ) -> Result<Completion, CallError> {
        Providers::new(settings)
            .call(&self.config(), &PROMPT, schema)
            .await
    }

    pub(crate) fn error_response(&self, status: u16, message: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json((self.error)(status, message))
    }

    /// Asserts the key appears in no field nor the `Debug` form of `e`.
    pub(crate) fn assert_no_key(&self, e: &CallError) {
        let text = format!("{e:?} {e}");
        assert!(!text.contains(self.key), "key leaked: {text}");
    }
}

pub(crate) async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

pub(crate) fn ok_json(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// 400: `bad_request` with the provider's message, one request.
pub(crate) async fn bad_request_is_not_retried(f: &Format) {
    let server = f
        .server(f.error_response(400, "Invalid value for 'temperature'"))
        .await;
    let e = f.call(&server).await.unwrap_err();
    assert_eq!(e.status, FailureStatus::Error);
    assert_eq!(e.error_type, "bad_request", "{e:?}");
    assert_eq!(e.http_status, Some(400));
    assert!(
        e.error_message.contains("HTTP 400")
            && e.error_message.contains("Invalid value for 'temperature'"),
        "{}",
        e.error_message
    );
    assert!(e.raw.as_deref().unwrap().contains("Invalid value"));
    assert_eq!(e.attempts, 1);
    assert_eq!(received(&server).await, 1);
    f.assert_no_key(&e);
}

/// 401 echoing the key: `authentication`, one request, the key redacted everywhere.
pub(crate) async fn unauthorized_is_authentication(f: &Format) {
    let message = format!("Incorrect API key provided: {}", f.key);
    let server = f.server(f.error_response(401, &message)).await;
    let e = f.call(&server).await.unwrap_err();
    assert_eq!(e.error_type, "authentication", "{e:?}");
    assert_eq!(e.http_status, Some(401));
    assert!(
        e.error_message
            .contains("Incorrect API key provided: [redacted]"),
        "{}",
        e.error_message
    );
    assert_eq!(e.attempts, 1);
    assert_eq!(received(&server).await, 1);
    f.assert_no_key(&e);
}

/// 429 with `Retry-After: 0`, then success: two requests, a completion.
pub(crate) async fn rate_limit_then_success(f: &Format) {
    let server = MockServer::start().await;
    f.mock(
        f.error_response(429, "Rate limit reached")
            .insert_header("retry-after", "0"),
    )
    .up_to_n_times(1)
    .mount(&server)
    .await;
    f.mock(ok_json((f.success)())).mount(&server).await;
    let c = f.call(&server).await.unwrap();
    assert_eq!(c.attempts, 2);
    assert_eq!(c.raw, (f.success)());
    assert_eq!(received(&server).await, 2);
}

/// 500 on every attempt: `server_error` after `max_retries + 1` requests.
pub(crate) async fn server_errors_exhaust_retries(f: &Format) {
    let server = f
        .server(f.error_response(500, "The server had an error"))
        .await;
    let e = f.call(&server).await.unwrap_err();
    assert_eq!(e.status, FailureStatus::Error);
    assert_eq!(e.error_type, "server_error", "{e:?}");
    assert_eq!(e.http_status, Some(500));
    assert_eq!(e.attempts, 3);
    assert!(
        e.error_message.contains("The server had an error")
            && e.error_message.ends_with("(gave up after 3 attempts)"),
        "{}",
        e.error_message
    );
    assert_eq!(received(&server).await, 3);
}

/// An answer slower than the timeout on every attempt: status `timeout`.
pub(crate) async fn slow_answers_time_out(f: &Format) {
    let server = f
        .server(ok_json((f.success)()).set_delay(Duration::from_secs(5)))
        .await;
    let mut s = settings(&server);
    s.timeout = Duration::from_millis(100);
    s.max_retries = 1;
    let e = f.call_with(s, None).await.unwrap_err();
    assert_eq!(e.status, FailureStatus::Timeout);
    assert_eq!(e.error_type, "timeout", "{e:?}");
    assert_eq!(e.http_status, None);
    assert_eq!(e.attempts, 2);
    assert!(
        e.error_message.contains("within 100 ms"),
        "{}",
        e.error_message
    );
    assert_eq!(received(&server).await, 2);
}

/// 200 with HTML, or with JSON of another shape: `malformed_response`, not retried.
pub(crate) async fn garbage_is_malformed(f: &Format) {
    let html = ResponseTemplate::new(200)
        .set_body_raw("<html><body>Bad gateway</body></html>", "text/html");
    let server = f.server(html).await;
    let e = f.call(&server).await.unwrap_err();
    assert_eq!(e.status, FailureStatus::Error);
    assert_eq!(e.error_type, "malformed_response", "{e:?}");
    assert_eq!(e.http_status, Some(200));
    assert!(e.error_message.contains("not JSON"), "{}", e.error_message);
    assert_eq!(
        e.raw.as_deref(),
        Some("<html><body>Bad gateway</body></html>")
    );
    assert_eq!(e.attempts, 1);
    assert_eq!(received(&server).await, 1);

    let server = f.server(ok_json(json!({"hello": "world"}))).await;
    let e = f.call(&server).await.unwrap_err();
    assert_eq!(e.error_type, "malformed_response", "{e:?}");
    assert!(e.error_message.contains("is not a"), "{}", e.error_message);
    assert_eq!(received(&server).await, 1);
}

/// No key: `check` names the variable and `call` is refused before any request.
pub(crate) async fn missing_key_is_refused_before_calling(
    f: &Format,
    clear: fn(&mut ProviderSettings),
    env: &str,
    provider: &str,
) {
    let server = f.server(ok_json((f.success)())).await;
    let mut s = settings(&server);
    clear(&mut s);
    let providers = Providers::new(s);
    let errors = providers.check(&f.config()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "model_config.provider");
    assert_eq!(errors[0].message, format!("set {env} to call {provider}"));
    let e = providers
        .call(&f.config(), &PROMPT, None)
        .await
        .unwrap_err();
    assert_eq!(e.error_type, "refused");
    assert_eq!(
        e.error_message,
        format!("model_config.provider: set {env} to call {provider}")
    );
    assert_eq!(e.attempts, 0);
    assert_eq!(received(&server).await, 0);
}

/// Every scenario above as one `#[tokio::test]` each, for a format built by `$format`.
macro_rules! wire_format_scenarios {
    ($format:expr) => {
        mod scenarios {
            use super::*;
            use crate::providers::test_support as t;

            #[tokio::test]
            async fn http_400_is_a_bad_request_and_not_retried() {
                t::bad_request_is_not_retried(&$format).await;
            }

            #[tokio::test]
            async fn http_401_is_authentication_and_not_retried() {
                t::unauthorized_is_authentication(&$format).await;
            }

            #[tokio::test]
            async fn http_429_with_retry_after_then_success() {
                t::rate_limit_then_success(&$format).await;
            }

            #[tokio::test]
            async fn http_500_exhausts_the_retries() {
                t::server_errors_exhaust_retries(&$format).await;
            }

            #[tokio::test]
            async fn slow_answers_time_out() {
                t::slow_answers_time_out(&$format).await;
            }

            #[tokio::test]
            async fn garbage_bodies_are_malformed() {
                t::garbage_is_malformed(&$format).await;
            }
        }
    };
}
pub(crate) use wire_format_scenarios;
