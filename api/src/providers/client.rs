//! The HTTP client shared by every wire format: settings, credentials, the per-provider
//! concurrency limit, timeouts and retries.
//!
//! Retries use [`backon`]: its exponential backoff (`backoff_base * 2^n`, capped at
//! `max_backoff`, at most `max_retries` times) gives the schedule, and its `adjust` hook turns
//! each delay into full jitter (uniform in `0..=delay`) or, when the provider said how long to
//! wait (`retry-after-ms`, `Retry-After` in seconds or as an HTTP date, Gemini's
//! `RetryInfo.retryDelay`), into that wait, capped at `max_backoff`. Each attempt takes a
//! permit of its provider's semaphore only while its HTTP exchange is in flight, so a call
//! sleeping in backoff leaves room for others.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use entity::ModelConfig;
use entity::model_config::ApiType;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::{
    CallError, Completion, FailureStatus, PromptParts, ProviderRequest, RAW_LIMIT, build_request,
    parse_with, truncate,
};
use crate::catalog::model_config::supports_structured_output;
use crate::validation::FieldError;

/// OpenAI's API root (`OPENAI_BASE_URL` default); paths such as `/chat/completions` follow it.
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Anthropic's API root (`ANTHROPIC_BASE_URL` default); the path is `/v1/messages`.
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// Gemini's API root (`GEMINI_BASE_URL` default); the path is `/v1beta/models/...`.
pub const DEFAULT_GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The `anthropic-version` header sent with every Anthropic request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Largest response body read, bytes; a longer one is a `malformed_response`.
const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Longest provider error message kept in [`CallError::error_message`], bytes.
const MESSAGE_LIMIT: usize = 2_000;

/// Where and how to reach one provider.
#[derive(Clone)]
pub struct Endpoint {
    /// API root, e.g. `https://api.openai.com/v1` (a trailing `/` is ignored).
    pub base_url: String,
    /// The API key; `None` or empty means not configured.
    pub api_key: Option<String>,
    /// The environment variable that sets the key, e.g. `OPENAI_API_KEY` (named in errors).
    pub key_env: &'static str,
}

impl Endpoint {
    /// OpenAI at its default base URL, without key.
    pub fn openai() -> Self {
        Self {
            base_url: DEFAULT_OPENAI_BASE_URL.to_owned(),
            api_key: None,
            key_env: "OPENAI_API_KEY",
        }
    }

    /// Anthropic at its default base URL, without key.
    pub fn anthropic() -> Self {
        Self {
            base_url: DEFAULT_ANTHROPIC_BASE_URL.to_owned(),
            api_key: None,
            key_env: "ANTHROPIC_API_KEY",
        }
    }

    /// Gemini at its default base URL, without key.
    pub fn gemini() -> Self {
        Self {
            base_url: DEFAULT_GEMINI_BASE_URL.to_owned(),
            api_key: None,
            key_env: "GEMINI_API_KEY",
        }
    }

    /// This endpoint with `base_url` and `api_key` replaced.
    pub fn with(mut self, base_url: impl Into<String>, api_key: Option<String>) -> Self {
        self.base_url = base_url.into();
        self.api_key = api_key;
        self
    }

    /// The key, when set and not empty.
    fn key(&self) -> Option<&str> {
        self.api_key.as_deref().filter(|k| !k.is_empty())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.key().map(|_| "[redacted]"))
            .field("key_env", &self.key_env)
            .finish()
    }
}

/// Where and how to reach the providers. `Debug` never shows the keys.
#[derive(Clone)]
pub struct ProviderSettings {
    /// OpenAI (Chat Completions and Responses API).
    pub openai: Endpoint,
    /// Anthropic Messages.
    pub anthropic: Endpoint,
    /// Google Gemini.
    pub gemini: Endpoint,
    /// Limit of one HTTP attempt, connection to last body byte (default 60 s).
    pub timeout: Duration,
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// First backoff delay before jitter; doubles per retry (default 500 ms).
    pub backoff_base: Duration,
    /// Cap of every backoff delay, `Retry-After` included (default 30 s).
    pub max_backoff: Duration,
    /// HTTP attempts in flight per provider, shared by every clone of one [`Providers`]
    /// (default 16; at least 1).
    pub concurrency_per_provider: usize,
}

impl Default for ProviderSettings {
    /// The public endpoints without keys and the default limits.
    fn default() -> Self {
        Self {
            openai: Endpoint::openai(),
            anthropic: Endpoint::anthropic(),
            gemini: Endpoint::gemini(),
            timeout: Duration::from_secs(60),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            concurrency_per_provider: 16,
        }
    }
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("openai", &self.openai)
            .field("anthropic", &self.anthropic)
            .field("gemini", &self.gemini)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("max_backoff", &self.max_backoff)
            .field("concurrency_per_provider", &self.concurrency_per_provider)
            .finish()
    }
}

impl ProviderSettings {
    /// Settings from the environment: `OPENAI_API_KEY`, `OPENAI_BASE_URL`,
    /// `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `GEMINI_API_KEY`, `GEMINI_BASE_URL`,
    /// `PROMPT_TRACKER_PROVIDER_TIMEOUT_SECS` (seconds, may be fractional),
    /// `PROMPT_TRACKER_PROVIDER_RETRIES`, `PROMPT_TRACKER_PROVIDER_CONCURRENCY`. Unset or empty
    /// variables take the defaults; unusable values are logged (never a key) and ignored.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut s = Self::default();
        for (endpoint, url_env) in [
            (&mut s.openai, "OPENAI_BASE_URL"),
            (&mut s.anthropic, "ANTHROPIC_BASE_URL"),
            (&mut s.gemini, "GEMINI_BASE_URL"),
        ] {
            endpoint.api_key = var(endpoint.key_env);
            if let Some(url) = var(url_env) {
                endpoint.base_url = url;
            }
        }
        fn parsed<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
            valid: impl Fn(&T) -> bool,
        ) -> Option<T> {
            let value = value?;
            match value.parse::<T>() {
                Ok(v) if valid(&v) => Some(v),
                _ => {
                    tracing::warn!(variable = name, value = %value, "ignoring invalid setting");
                    None
                }
            }
        }
        const TIMEOUT: &str = "PROMPT_TRACKER_PROVIDER_TIMEOUT_SECS";
        const RETRIES: &str = "PROMPT_TRACKER_PROVIDER_RETRIES";
        const CONCURRENCY: &str = "PROMPT_TRACKER_PROVIDER_CONCURRENCY";
        if let Some(secs) = parsed::<f64>(TIMEOUT, var(TIMEOUT), |v| {
            Duration::try_from_secs_f64(*v).is_ok_and(|d| !d.is_zero())
        }) {
            s.timeout = Duration::from_secs_f64(secs);
        }
        if let Some(n) = parsed::<u32>(RETRIES, var(RETRIES), |_| true) {
            s.max_retries = n;
        }
        if let Some(n) = parsed::<usize>(CONCURRENCY, var(CONCURRENCY), |n| *n > 0) {
            s.concurrency_per_provider = n;
        }
        s
    }

    fn endpoint(&self, provider: Provider) -> &Endpoint {
        match provider {
            Provider::OpenAi => &self.openai,
            Provider::Anthropic => &self.anthropic,
            Provider::Gemini => &self.gemini,
        }
    }
}

/// The providers behind the api types (OpenAI serves two of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Provider {
    fn of(api_type: ApiType) -> Option<Provider> {
        match api_type {
            ApiType::OpenaiChatCompletion | ApiType::OpenaiResponseApi => Some(Provider::OpenAi),
            ApiType::AnthropicMessages => Some(Provider::Anthropic),
            ApiType::GoogleGemini => Some(Provider::Gemini),
            ApiType::OpenaiAssistantsApi => None,
        }
    }

    /// The catalog's provider key.
    fn key(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "google",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The authentication headers (marked sensitive, so never printed by the HTTP stack).
    fn auth_headers(self, key: &str) -> Result<HeaderMap, header::InvalidHeaderValue> {
        let mut headers = HeaderMap::new();
        let mut secret =
            |name: HeaderName, value: String| -> Result<(), header::InvalidHeaderValue> {
                let mut v = HeaderValue::from_str(&value)?;
                v.set_sensitive(true);
                headers.insert(name, v);
                Ok(())
            };
        match self {
            Provider::OpenAi => secret(header::AUTHORIZATION, format!("Bearer {key}"))?,
            Provider::Anthropic => {
                secret(HeaderName::from_static("x-api-key"), key.to_owned())?;
                headers.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(ANTHROPIC_VERSION),
                );
            }
            Provider::Gemini => secret(HeaderName::from_static("x-goog-api-key"), key.to_owned())?,
        }
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        Ok(headers)
    }
}

/// The shared provider client: one `reqwest` client (rustls) and one semaphore per provider.
/// Cheap to clone; clones share the client and the limits.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    settings: ProviderSettings,
    /// Indexed by [`Provider::index`].
    limits: [Semaphore; 3],
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Providers")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// One failed attempt, and whether another may follow.
struct Failure {
    error: CallError,
    retryable: bool,
    /// How long the provider asked us to wait.
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: CallError) -> Self {
        Self {
            error,
            retryable: false,
            retry_after: None,
        }
    }

    fn transient(error: CallError) -> Self {
        Self {
            error,
            retryable: true,
            retry_after: None,
        }
    }
}

impl Providers {
    /// A client for `settings`.
    ///
    /// # Panics
    /// When the TLS backend cannot be initialised (rustls with bundled roots: not expected).
    pub fn new(settings: ProviderSettings) -> Self {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("prompt-tracker/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client (rustls) initialises");
        let permits = settings.concurrency_per_provider.max(1);
        Self {
            inner: Arc::new(Inner {
                client,
                limits: std::array::from_fn(|_| Semaphore::new(permits)),
                settings,
            }),
        }
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &ProviderSettings {
        &self.inner.settings
    }

    /// Problems that make `config` uncallable, found without calling (a 422 for the HTTP
    /// layer): every [`build_request`] error (validation, `assistants_api` refused, missing
    /// model) and, for a callable api, a missing key as
    /// `model_config.provider: "set OPENAI_API_KEY to call openai"`.
    pub fn check(&self, config: &ModelConfig) -> Result<(), Vec<FieldError>> {
        let probe = PromptParts {
            system: None,
            user: "",
        };
        let mut errors = build_request(config, &probe, None)
            .err()
            .unwrap_or_default();
        if let Some(provider) = Provider::of(config.api_type()) {
            let endpoint = self.inner.settings.endpoint(provider);
            if endpoint.key().is_none() {
                errors.push(missing_key(provider, endpoint));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Calls the provider of `config` once, retrying transient failures (see the module docs).
    /// Never panics: every failure, including what [`check`](Self::check) reports (as
    /// `refused`, before any request), is a [`CallError`].
    ///
    /// Every call, whatever its source (test runs, the LLM judge), passes here: it runs in a
    /// `provider_call` tracing span (`provider`, `api`, `model`) and is counted in
    /// `prompt_tracker_provider_calls_total` with its outcome (`ok` or the error type) and
    /// duration ([`crate::telemetry`]).
    pub async fn call(
        &self,
        config: &ModelConfig,
        prompt: &PromptParts<'_>,
        response_schema: Option<&Value>,
    ) -> Result<Completion, CallError> {
        let (provider, api) = config.api_type().provider_api();
        let span = tracing::info_span!(
            "provider_call",
            provider,
            api,
            model = config.model.as_deref().unwrap_or_default()
        );
        let started = Instant::now();
        let result = self
            .call_once(config, prompt, response_schema)
            .instrument(span)
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.error_type.as_str(),
        };
        crate::telemetry::provider_call(provider, api, outcome, started.elapsed());
        result
    }

    /// [`call`](Self::call) without its span and metrics.
    async fn call_once(
        &self,
        config: &ModelConfig,
        prompt: &PromptParts<'_>,
        response_schema: Option<&Value>,
    ) -> Result<Completion, CallError> {
        let request = build_request(config, prompt, response_schema)
            .map_err(|errors| CallError::refused(join(&errors)))?;
        let Some(provider) = Provider::of(request.api_type) else {
            return Err(CallError::refused(
                "OpenAI retired the Assistants API; use response_api",
            ));
        };
        let endpoint = self.inner.settings.endpoint(provider);
        let Some(key) = endpoint.key() else {
            return Err(CallError::refused(join(&[missing_key(provider, endpoint)])));
        };
        let headers = provider.auth_headers(key).map_err(|_| {
            CallError::refused(format!(
                "{} contains characters that cannot be sent in an HTTP header",
                endpoint.key_env
            ))
        })?;
        let structured = response_schema.is_some() && supports_structured_output(config);
        let url = endpoint.url(&request.path);
        let exchange = Exchange {
            provider,
            url: &url,
            headers: &headers,
            request: &request,
            structured,
        };

        let settings = &self.inner.settings;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(settings.backoff_base)
            .with_factor(2.0)
            .with_max_delay(settings.max_backoff)
            .with_max_times(settings.max_retries as usize);
        let attempts = AtomicU32::new(0);
        let started = Instant::now();
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(&exchange)
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|f: &Failure| f.retryable)
        .adjust(|f: &Failure, delay| {
            delay.map(|d| next_delay(d, f.retry_after, settings.max_backoff, fastrand::f64()))
        })
        .notify(|f: &Failure, delay| {
            tracing::warn!(
                attempt = attempts.load(Ordering::Relaxed),
                error_type = %f.error.error_type,
                http_status = ?f.error.http_status,
                delay_ms = delay.as_millis() as u64,
                "provider call failed; retrying"
            );
        })
        .await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let attempts = attempts.into_inner();
        match result {
            Ok(mut completion) => {
                completion.latency_ms = latency_ms;
                completion.attempts = attempts;
                if completion.model.is_none() {
                    completion.model = config.model.clone();
                }
                tracing::debug!(
                    attempts,
                    latency_ms,
                    tokens_prompt = completion.tokens_prompt,
                    tokens_completion = completion.tokens_completion,
                    "provider call succeeded"
                );
                Ok(completion)
            }
            Err(failure) => {
                let mut error = failure.error;
                error.latency_ms = latency_ms;
                error.attempts = attempts;
                if attempts > 1 {
                    error.error_message = format!(
                        "{} (gave up after {attempts} attempts)",
                        error.error_message
                    );
                }
                redact(&mut error, key);
                tracing::warn!(
                        attempts,
                    latency_ms,
                    error_type = %error.error_type,
                    http_status = ?error.http_status,
                    "provider call failed"
                );
                Err(error)
            }
        }
    }

    /// One HTTP attempt, holding the provider's permit only while in flight.
    async fn attempt(&self, x: &Exchange<'_>) -> Result<Completion, Failure> {
        let timeout = self.inner.settings.timeout;
        let permit = self.inner.limits[x.provider.index()]
            .acquire()
            .await
            .map_err(|_| Failure::fatal(CallError::refused("the provider client is shut down")))?;
        let exchange = async {
            let response = self
                .inner
                .client
                .post(x.url)
                .headers(x.headers.clone())
                .json(&x.request.body)
                .send()
                .await
                .map_err(|e| transport_failure(x.provider, x.url, &e, timeout))?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_limited(response, |e| {
                transport_failure(x.provider, x.url, e, timeout)
            })
            .await?;
            Ok::<_, Failure>((status, headers, body))
        };
        let outcome = tokio::time::timeout(timeout, exchange).await;
        drop(permit);
        let (status, headers, body) = match outcome {
            Err(_) => {
                return Err(Failure::transient(CallError::new(
                    FailureStatus::Timeout,
                    CallError::TIMEOUT,
                    format!(
                        "{} did not answer within {} ms",
                        x.provider.key(),
                        timeout.as_millis()
                    ),
                )));
            }
            Ok(result) => result?,
        };
        if status.is_success() {
            success(x, status, &body)
        } else {
            Err(http_failure(x.provider, status, &headers, &body))
        }
    }
}

/// What one call sends, shared by its attempts.
struct Exchange<'a> {
    provider: Provider,
    url: &'a str,
    headers: &'a HeaderMap,
    request: &'a ProviderRequest,
    structured: bool,
}

fn missing_key(provider: Provider, endpoint: &Endpoint) -> FieldError {
    FieldError::new(
        "model_config.provider",
        format!("set {} to call {}", endpoint.key_env, provider.key()),
    )
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The wait before the next attempt: the provider's `retry_after` when given, else full
/// jitter over the exponential `delay` (`jitter` in `0..1`); never above `max`.
fn next_delay(
    delay: Duration,
    retry_after: Option<Duration>,
    max: Duration,
    jitter: f64,
) -> Duration {
    match retry_after {
        Some(wait) => wait.min(max),
        None => delay.mul_f64(jitter.clamp(0.0, 1.0)).min(max),
    }
}

/// Removes every copy of `key` from what a caller may store or show.
fn redact(error: &mut CallError, key: &str) {
    // Very short "keys" (local servers) would garble messages and are no secret worth hiding.
    if key.len() < 8 {
        return;
    }
    const MASK: &str = "[redacted]";
    if error.error_message.contains(key) {
        error.error_message = error.error_message.replace(key, MASK);
    }
    if let Some(raw) = &mut error.raw
        && raw.contains(key)
    {
        *raw = raw.replace(key, MASK);
    }
}

/// The body, at most [`BODY_LIMIT`] bytes (longer: a final `malformed_response`); a broken
/// transfer is mapped by `broken`.
async fn read_limited(
    mut response: reqwest::Response,
    broken: impl Fn(&reqwest::Error) -> Failure,
) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| broken(&e))? {
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(Failure::fatal(CallError::new(
                FailureStatus::Error,
                CallError::MALFORMED_RESPONSE,
                format!("the provider answered with a body over {BODY_LIMIT} bytes"),
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error: timeouts and broken connections may be retried, unusable URLs not.
fn transport_failure(
    provider: Provider,
    url: &str,
    e: &reqwest::Error,
    timeout: Duration,
) -> Failure {
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    let name = provider.key();
    if e.is_timeout() {
        Failure::transient(CallError::new(
            FailureStatus::Timeout,
            CallError::TIMEOUT,
            format!("{name} did not answer within {} ms", timeout.as_millis()),
        ))
    } else if e.is_builder() {
        Failure::fatal(CallError::new(
            FailureStatus::Error,
            CallError::CONNECTION,
            format!("cannot call {name} at {url} (check its base URL setting): {chain}"),
        ))
    } else if e.is_connect() {
        Failure::transient(CallError::new(
            FailureStatus::Error,
            CallError::CONNECTION,
            format!("could not connect to {name}: {chain}"),
        ))
    } else {
        Failure::transient(CallError::new(
            FailureStatus::Error,
            CallError::CONNECTION,
            format!("the connection to {name} failed: {chain}"),
        ))
    }
}

/// A 2xx: the format's completion, or a (final) `malformed_response`.
fn success(x: &Exchange<'_>, status: StatusCode, body: &[u8]) -> Result<Completion, Failure> {
    let fail = |mut error: CallError| {
        error.http_status = Some(status.as_u16());
        if error.raw.is_none() {
            error.raw = Some(raw_text(body));
        }
        Failure::fatal(error)
    };
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        fail(CallError::new(
            FailureStatus::Error,
            CallError::MALFORMED_RESPONSE,
            format!(
                "{} answered HTTP {} with a body that is not JSON ({e})",
                x.provider.key(),
                status.as_u16()
            ),
        ))
    })?;
    parse_with(x.request.api_type, &json, x.structured).map_err(fail)
}

fn raw_text(body: &[u8]) -> String {
    truncate(&String::from_utf8_lossy(body), RAW_LIMIT)
}

/// Classifies a provider's error answer, an HTTP status and its body, as [`Providers::call`]
/// does when that answer is final: `rate_limited` (429), `authentication` (401, 403, or a key
/// the provider reports as invalid), `not_found` (404), `bad_request` (other 4xx),
/// `server_error` (5xx, 529), `malformed_response` for any other status. The message names
/// the provider and the status and carries the provider's own message and error type when
/// the body has them (`anthropic answered HTTP 429 Too Many Requests: ... (rate_limit_error)`);
/// `http_status` is `http_status` and `raw` the body (truncated to [`RAW_LIMIT`]). Pure: for
/// recorded bodies; `latency_ms` and `attempts` are 0.
pub fn parse_error(api_type: ApiType, http_status: u16, body: &str) -> CallError {
    // The Assistants API is OpenAI's.
    let provider = Provider::of(api_type).unwrap_or(Provider::OpenAi);
    match StatusCode::from_u16(http_status) {
        Ok(status) => http_failure(provider, status, &HeaderMap::new(), body.as_bytes()).error,
        Err(_) => {
            let mut error = CallError::new(
                FailureStatus::Error,
                CallError::MALFORMED_RESPONSE,
                format!(
                    "{} answered with an invalid HTTP status {http_status}",
                    provider.key()
                ),
            );
            error.http_status = Some(http_status);
            error.raw = Some(raw_text(body.as_bytes()));
            error
        }
    }
}

/// A non-2xx answer.
fn http_failure(
    provider: Provider,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Failure {
    let code = status.as_u16();
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let detail = json.as_ref().and_then(error_detail);
    let invalid_key = json.as_ref().is_some_and(reports_invalid_key);
    let error_type = match code {
        401 | 403 => CallError::AUTHENTICATION,
        _ if invalid_key => CallError::AUTHENTICATION,
        429 => CallError::RATE_LIMITED,
        404 => CallError::NOT_FOUND,
        400..=499 => CallError::BAD_REQUEST,
        500..=599 => CallError::SERVER_ERROR,
        // 1xx/3xx (redirects are not followed): not an answer of the provider's API.
        _ => CallError::MALFORMED_RESPONSE,
    };
    let retryable = matches!(code, 429 | 500 | 502 | 503 | 504 | 529);
    let name = provider.key();
    let status_text = match status.canonical_reason() {
        Some(reason) => format!("HTTP {code} {reason}"),
        None if code == 529 => format!("HTTP {code} Overloaded"),
        None => format!("HTTP {code}"),
    };
    let message = match detail {
        Some((message, Some(kind))) => format!("{name} answered {status_text}: {message} ({kind})"),
        Some((message, None)) => format!("{name} answered {status_text}: {message}"),
        None => format!("{name} answered {status_text}"),
    };
    let mut error = CallError::new(FailureStatus::Error, error_type, message);
    error.http_status = Some(code);
    error.raw = Some(raw_text(body));
    Failure {
        error,
        retryable,
        retry_after: if retryable {
            server_delay(headers, json.as_ref(), SystemTime::now())
        } else {
            None
        },
    }
}

/// The provider's error message and kind from an error body: `{"error": {"message", "type" |
/// "status" | "code"}}` (OpenAI, Anthropic, Gemini), a one-element array of that (older
/// Gemini), `{"error": "..."}` or `{"message": "..."}` (OpenAI-compatible servers).
fn error_detail(body: &Value) -> Option<(String, Option<String>)> {
    let body = match body {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let clip = |s: &str| truncate(s.trim(), MESSAGE_LIMIT);
    match body.get("error") {
        Some(Value::Object(error)) => {
            let message = error.get("message").and_then(Value::as_str)?;
            let kind = ["type", "status", "code"]
                .iter()
                .find_map(|k| error.get(*k).and_then(Value::as_str))
                .map(str::to_owned);
            Some((clip(message), kind))
        }
        Some(Value::String(message)) => Some((clip(message), None)),
        _ => body
            .get("message")
            .or_else(|| body.get("detail"))
            .and_then(Value::as_str)
            .map(|m| (clip(m), None)),
    }
}

/// Gemini answers an invalid key with 400 and `details[].reason: "API_KEY_INVALID"`.
fn reports_invalid_key(body: &Value) -> bool {
    let body = match body {
        Value::Array(items) => items.first().unwrap_or(&Value::Null),
        other => other,
    };
    body.pointer("/error/details")
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details
                .iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        })
}

/// How long the provider asked us to wait: `retry-after-ms` (OpenAI), `Retry-After` in
/// seconds or as an HTTP date, or Gemini's `RetryInfo.retryDelay` (`"12.5s"`) in the body.
fn server_delay(headers: &HeaderMap, body: Option<&Value>, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let secs = |s: &str| {
        s.parse::<f64>()
            .ok()
            .and_then(|v| Duration::try_from_secs_f64(v).ok())
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| secs(v).map(|d| d / 1000)) {
        return Some(ms);
    }
    if let Some(value) = header("retry-after") {
        if let Some(d) = secs(value) {
            return Some(d);
        }
        if let Ok(at) = httpdate::parse_http_date(value) {
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    let body = match body? {
        Value::Array(items) => items.first()?,
        other => other,
    };
    body.pointer("/error/details")?
        .as_array()?
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| {
            d.get("retryDelay")?
                .as_str()?
                .strip_suffix('s')
                .and_then(secs)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn server_delay_reads_every_form() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            server_delay(&headers(&[("retry-after", "7")]), None, now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            server_delay(&headers(&[("retry-after", "0")]), None, now),
            Some(Duration::ZERO)
        );
        // retry-after-ms wins over retry-after
        assert_eq!(
            server_delay(
                &headers(&[("retry-after", "7"), ("retry-after-ms", "250")]),
                None,
                now
            ),
            Some(Duration::from_millis(250))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(12));
        assert_eq!(
            server_delay(&headers(&[("retry-after", &later)]), None, now),
            Some(Duration::from_secs(12))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(12));
        assert_eq!(
            server_delay(&headers(&[("retry-after", &earlier)]), None, now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            server_delay(&headers(&[("retry-after", "soon")]), None, now),
            None
        );
        assert_eq!(
            server_delay(&headers(&[("retry-after", "-3")]), None, now),
            None
        );
        let gemini = json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "Quota exceeded",
            "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.5s"}]}});
        assert_eq!(
            server_delay(&HeaderMap::new(), Some(&gemini), now),
            Some(Duration::from_millis(12_500))
        );
        assert_eq!(server_delay(&HeaderMap::new(), Some(&json!({})), now), None);
    }

    #[test]
    fn next_delay_is_full_jitter_or_the_capped_server_delay() {
        let max = Duration::from_secs(30);
        let d = Duration::from_secs(4);
        assert_eq!(next_delay(d, None, max, 0.0), Duration::ZERO);
        assert_eq!(next_delay(d, None, max, 0.5), Duration::from_secs(2));
        assert_eq!(next_delay(d, None, max, 1.0), d);
        assert_eq!(
            next_delay(d, Some(Duration::ZERO), max, 0.9),
            Duration::ZERO
        );
        assert_eq!(
            next_delay(d, Some(Duration::from_secs(3600)), max, 0.9),
            max
        );
    }

    #[test]
    fn error_details_of_each_provider() {
        let openai = json!({"error": {"message": "Invalid 'temperature'", "type": "invalid_request_error",
                                      "param": "temperature", "code": null}});
        assert_eq!(
            error_detail(&openai),
            Some((
                "Invalid 'temperature'".into(),
                Some("invalid_request_error".into())
            ))
        );
        let anthropic = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                               "request_id": "req_1"});
        assert_eq!(
            error_detail(&anthropic),
            Some(("Overloaded".into(), Some("overloaded_error".into())))
        );
        let gemini = json!([{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}]);
        assert_eq!(
            error_detail(&gemini),
            Some(("API key not valid.".into(), Some("INVALID_ARGUMENT".into())))
        );
        assert!(reports_invalid_key(&gemini));
        assert_eq!(
            error_detail(&json!({"error": "model not loaded"})),
            Some(("model not loaded".into(), None))
        );
        assert_eq!(error_detail(&json!({"nothing": 1})), None);
    }

    #[test]
    fn settings_from_the_environment() {
        let env = |name: &str| {
            match name {
                "OPENAI_API_KEY" => Some("sk-openai-123456"),
                "OPENAI_BASE_URL" => Some("http://localhost:11434/v1/"),
                "ANTHROPIC_API_KEY" => Some(""),
                "GEMINI_API_KEY" => Some("gem-key-123456"),
                "PROMPT_TRACKER_PROVIDER_TIMEOUT_SECS" => Some("2.5"),
                "PROMPT_TRACKER_PROVIDER_RETRIES" => Some("0"),
                "PROMPT_TRACKER_PROVIDER_CONCURRENCY" => Some("0"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let s = ProviderSettings::from_lookup(env);
        assert_eq!(s.openai.key(), Some("sk-openai-123456"));
        assert_eq!(
            s.openai.url("/chat/completions"),
            "http://localhost:11434/v1/chat/completions"
        );
        assert_eq!(s.anthropic.api_key, None);
        assert_eq!(s.anthropic.base_url, DEFAULT_ANTHROPIC_BASE_URL);
        assert_eq!(s.gemini.base_url, DEFAULT_GEMINI_BASE_URL);
        assert_eq!(s.timeout, Duration::from_millis(2500));
        assert_eq!(s.max_retries, 0);
        assert_eq!(s.concurrency_per_provider, 16, "0 is refused");

        let s = ProviderSettings::from_lookup(|_| None);
        assert_eq!(s.openai.base_url, DEFAULT_OPENAI_BASE_URL);
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert_eq!(s.max_retries, 3);
        assert_eq!(s.backoff_base, Duration::from_millis(500));
        assert_eq!(s.max_backoff, Duration::from_secs(30));
        assert_eq!(s.concurrency_per_provider, 16);
    }

    #[test]
    fn debug_output_never_shows_keys() {
        let mut s = ProviderSettings::default();
        s.openai.api_key = Some("sk-secret-openai-key".into());
        s.anthropic.api_key = Some("sk-ant-secret-key".into());
        s.gemini.api_key = Some("AIza-secret-gemini-key".into());
        let providers = Providers::new(s.clone());
        for text in [
            format!("{s:?}"),
            format!("{providers:?}"),
            format!("{s:#?}"),
        ] {
            assert!(!text.contains("secret"), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
    }

    #[test]
    fn redaction_removes_the_key_from_message_and_raw() {
        let mut e = CallError::new(
            FailureStatus::Error,
            CallError::AUTHENTICATION,
            "Incorrect API key provided: sk-abcdefgh1234",
        );
        e.raw =
            Some(r#"{"error":{"message":"Incorrect API key provided: sk-abcdefgh1234"}}"#.into());
        redact(&mut e, "sk-abcdefgh1234");
        assert_eq!(e.error_message, "Incorrect API key provided: [redacted]");
        assert!(!e.raw.unwrap().contains("sk-abcdefgh1234"));
    }

    mod http {
        use super::super::super::openai_chat::tests::http::format as chat;
        use super::super::super::test_support::{self as t, ok_json, received};
        use super::super::*;
        use serde_json::json;
        use std::sync::Mutex;
        use wiremock::matchers::body_string_contains;
        use wiremock::{MockServer, Request, Respond, ResponseTemplate};

        #[tokio::test]
        async fn assistants_api_is_refused_without_calling() {
            let server = MockServer::start().await;
            let providers = Providers::new(t::settings(&server));
            let config = ModelConfig::from_json(
                json!({"provider": "openai", "api": "assistants_api", "model": "gpt-4o"}),
            )
            .unwrap();
            let errors = providers.check(&config).unwrap_err();
            assert_eq!(
                errors,
                [FieldError::new(
                    "model_config.api",
                    "OpenAI retired the Assistants API; use response_api"
                )]
            );
            let e = providers.call(&config, &t::PROMPT, None).await.unwrap_err();
            assert_eq!(e.error_type, CallError::REFUSED);
            assert_eq!(
                e.error_message,
                "model_config.api: OpenAI retired the Assistants API; use response_api"
            );
            assert_eq!(received(&server).await, 0);
        }

        #[tokio::test]
        async fn check_reports_config_errors_and_missing_keys_together() {
            let server = MockServer::start().await;
            let mut settings = t::settings(&server);
            settings.anthropic.api_key = None;
            let providers = Providers::new(settings);
            let config =
                ModelConfig::from_json(json!({"provider": "anthropic", "temperature": 3})).unwrap();
            let fields: Vec<String> = providers
                .check(&config)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect();
            assert_eq!(
                fields,
                [
                    "model_config.temperature",
                    "model_config.model",
                    "model_config.provider"
                ]
            );
            assert_eq!(providers.check(&chat().config()), Ok(()));
        }

        #[tokio::test]
        async fn connection_errors_are_retried_then_reported() {
            let port = {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                listener.local_addr().unwrap().port()
            };
            let server = MockServer::start().await;
            let mut settings = t::settings(&server);
            settings.openai.base_url = format!("http://127.0.0.1:{port}/v1");
            let e = Providers::new(settings)
                .call(&chat().config(), &t::PROMPT, None)
                .await
                .unwrap_err();
            assert_eq!(e.status, FailureStatus::Error);
            assert_eq!(e.error_type, CallError::CONNECTION, "{e:?}");
            assert_eq!(e.attempts, 3);
            assert_eq!(e.http_status, None);
            assert!(
                e.error_message.starts_with("could not connect to openai"),
                "{}",
                e.error_message
            );
        }

        #[tokio::test]
        async fn an_unusable_base_url_is_not_retried() {
            let server = MockServer::start().await;
            let mut settings = t::settings(&server);
            settings.openai.base_url = "not a url".into();
            let e = Providers::new(settings)
                .call(&chat().config(), &t::PROMPT, None)
                .await
                .unwrap_err();
            assert_eq!(e.error_type, CallError::CONNECTION, "{e:?}");
            assert_eq!(e.attempts, 1);
            assert!(
                e.error_message.contains("check its base URL"),
                "{}",
                e.error_message
            );
        }

        #[tokio::test]
        async fn retry_after_is_waited_for_and_capped() {
            let f = chat();
            let server = MockServer::start().await;
            f.mock(
                f.error_response(429, "slow down")
                    .insert_header("retry-after-ms", "400"),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
            f.mock(
                f.error_response(503, "busy")
                    .insert_header("retry-after", "3600"),
            )
            .up_to_n_times(1)
            .mount(&server)
            .await;
            f.mock(ok_json((f.success)())).mount(&server).await;
            let mut settings = t::settings(&server);
            settings.backoff_base = Duration::from_millis(1);
            settings.max_backoff = Duration::from_millis(500);
            let c = tokio::time::timeout(
                Duration::from_secs(60),
                Providers::new(settings).call(&f.config(), &t::PROMPT, None),
            )
            .await
            .expect("an hour-long Retry-After is capped at max_backoff")
            .unwrap();
            assert_eq!(c.attempts, 3);
            // waited the 400 ms asked for (the exponential backoff alone is ~1 ms), then the
            // hour asked for capped at 500 ms
            assert!(c.latency_ms >= 900, "{}", c.latency_ms);
        }

        /// Records when each request arrived, then answers `template` (after its delay).
        struct Arrivals {
            at: Arc<Mutex<Vec<Instant>>>,
            template: ResponseTemplate,
        }

        impl Respond for Arrivals {
            fn respond(&self, _: &Request) -> ResponseTemplate {
                self.at.lock().unwrap().push(Instant::now());
                self.template.clone()
            }
        }

        #[tokio::test]
        async fn the_semaphore_limits_requests_in_flight_per_provider() {
            const DELAY: Duration = Duration::from_millis(150);
            let f = chat();
            let server = MockServer::start().await;
            let at = Arc::new(Mutex::new(Vec::new()));
            f.given()
                .respond_with(Arrivals {
                    at: at.clone(),
                    template: ok_json((f.success)()).set_delay(DELAY),
                })
                .mount(&server)
                .await;
            let mut settings = t::settings(&server);
            settings.concurrency_per_provider = 2;
            let providers = Providers::new(settings);
            let config = f.config();
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..6 {
                // clones share the limit
                let providers = providers.clone();
                let config = config.clone();
                calls.spawn(async move { providers.call(&config, &t::PROMPT, None).await });
            }
            while let Some(result) = calls.join_next().await {
                assert_eq!(result.unwrap().unwrap().attempts, 1);
            }
            let mut at = at.lock().unwrap().clone();
            at.sort();
            assert_eq!(at.len(), 6);
            // A third request can only start once one of the two before it was answered, which
            // the server delays by DELAY: so no three arrivals fit in less than DELAY.
            for w in at.windows(3) {
                assert!(
                    w[2] - w[0] >= DELAY,
                    "3 requests in flight at once: {:?}",
                    w[2] - w[0]
                );
            }
        }

        #[tokio::test]
        async fn backoff_sleeps_without_holding_a_permit() {
            let f = chat();
            let server = MockServer::start().await;
            // call A is rate limited once and told to wait 1 s; call B starts meanwhile
            f.given()
                .and(body_string_contains("call A"))
                .respond_with(
                    f.error_response(429, "slow down")
                        .insert_header("retry-after", "1"),
                )
                .up_to_n_times(1)
                .mount(&server)
                .await;
            f.mock(ok_json((f.success)())).mount(&server).await;
            let mut settings = t::settings(&server);
            settings.concurrency_per_provider = 1;
            settings.max_backoff = Duration::from_secs(1);
            let providers = Providers::new(settings);
            let config = f.config();
            let a = {
                let (providers, config) = (providers.clone(), config.clone());
                tokio::spawn(async move {
                    let prompt = PromptParts {
                        system: None,
                        user: "call A",
                    };
                    providers.call(&config, &prompt, None).await
                })
            };
            while received(&server).await == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let prompt = PromptParts {
                system: None,
                user: "call B",
            };
            let b = providers.call(&config, &prompt, None).await.unwrap();
            assert_eq!(b.attempts, 1);
            assert_eq!(a.await.unwrap().unwrap().attempts, 2);
            let order: Vec<String> = server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .map(|r| r.body_json::<Value>().unwrap()["messages"][0]["content"].to_string())
                .collect();
            assert_eq!(order, ["\"call A\"", "\"call B\"", "\"call A\""]);
        }
    }
}
