//! Metrics in the Prometheus text format, served at `GET /metrics` ([`crate::http::metrics`]).
//!
//! Two kinds of series:
//!
//! - **Events** (requests, provider calls, job attempts, list-cache lookups, invalid evaluator
//!   configs): counters and histograms recorded where they happen with the `metrics` crate's
//!   macros, through the helper functions of this module. They go to ONE Prometheus recorder
//!   per process ([`install`]): the `metrics` facade has a single global recorder, which can be
//!   set once, so the first [`crate::AppState`] of a process installs it (a `OnceLock`) and
//!   every later one shares its handle. Several apps in one process (the integration tests)
//!   therefore add up into the same counters, as they share one process; a production
//!   process runs one app. (`metrics::with_local_recorder` would scope a recorder to a
//!   synchronous closure on one thread: it cannot follow a request or a job across `.await`s
//!   on a multi-threaded runtime.)
//! - **State** read at scrape time (the database pool, the job backlog, the list caches): these
//!   belong to one app, so its `/metrics` handler reads them from its own state and appends them
//!   as gauges to the rendered text ([`Gauges`]), instead of setting process-wide gauges that
//!   another app of the same process would overwrite.
//!
//! Histograms use fixed buckets ([`BUCKETS`], seconds), so Prometheus can aggregate them across
//! instances (`histogram_quantile`). Labels only ever take values from closed sets (route
//! templates, methods, status classes, provider and api keys, job kinds, outcome kinds, list
//! names): never a raw path, an id or a model name.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// `prompt_tracker_http_requests_total{method, route, status}`: requests answered, by route
/// template (`/api/v1/prompts/{id}`; `unmatched` for paths no route serves), method and status
/// class (`2xx`, `4xx`, `5xx`, ...).
pub const HTTP_REQUESTS: &str = "prompt_tracker_http_requests_total";
/// `prompt_tracker_http_request_duration_seconds{method, route, status}`: time to the response
/// head, histogram.
pub const HTTP_DURATION: &str = "prompt_tracker_http_request_duration_seconds";
/// `prompt_tracker_provider_calls_total{provider, api, outcome}`: LLM provider calls, retries
/// included in one call; `outcome` is `ok` or the error type (`rate_limited`, `timeout`,
/// `server_error`, `refused`, ...).
pub const PROVIDER_CALLS: &str = "prompt_tracker_provider_calls_total";
/// `prompt_tracker_provider_call_duration_seconds{provider, api, outcome}`: wall time of a call,
/// retries and backoff included, histogram.
pub const PROVIDER_DURATION: &str = "prompt_tracker_provider_call_duration_seconds";
/// `prompt_tracker_job_attempts_total{kind, outcome}`: job attempts run by this process's
/// workers; `outcome` is `done`, `retry` (failed, queued again with backoff) or `failed`
/// (failed its last attempt).
pub const JOB_ATTEMPTS: &str = "prompt_tracker_job_attempts_total";
/// `prompt_tracker_job_duration_seconds{kind, outcome}`: time of one job attempt, histogram.
pub const JOB_DURATION: &str = "prompt_tracker_job_duration_seconds";
/// `prompt_tracker_jobs{kind, status}`: jobs `queued` and `running` in the database (every
/// instance's), read at scrape time.
pub const JOBS: &str = "prompt_tracker_jobs";
/// `prompt_tracker_db_pool_connections`: connections the pool holds now (in use and idle).
pub const DB_POOL_CONNECTIONS: &str = "prompt_tracker_db_pool_connections";
/// `prompt_tracker_db_pool_idle_connections`: connections of the pool not in use.
pub const DB_POOL_IDLE: &str = "prompt_tracker_db_pool_idle_connections";
/// `prompt_tracker_db_pool_max_connections`: the pool's limit (`PROMPT_TRACKER_DB_POOL_SIZE`).
pub const DB_POOL_MAX: &str = "prompt_tracker_db_pool_max_connections";
/// `prompt_tracker_list_cache_hits_total{list}`: listed rows served from the list cache.
pub const LIST_CACHE_HITS: &str = "prompt_tracker_list_cache_hits_total";
/// `prompt_tracker_list_cache_misses_total{list}`: listed rows read in full from the database
/// while the list cache is on (rows new to the cache, changed, evicted, or of a page query seen
/// for the first time).
pub const LIST_CACHE_MISSES: &str = "prompt_tracker_list_cache_misses_total";
/// `prompt_tracker_list_cache_bytes{list}`: bytes the list cache holds (JSON and bookkeeping).
pub const LIST_CACHE_BYTES: &str = "prompt_tracker_list_cache_bytes";
/// `prompt_tracker_list_cache_rows{list}`: rows the list cache holds.
pub const LIST_CACHE_ROWS: &str = "prompt_tracker_list_cache_rows";
/// `prompt_tracker_evaluation_config_errors_total{evaluator}`: evaluations that could not run
/// because their evaluator config is invalid ([`evaluation_config_error`]).
pub const EVALUATION_CONFIG_ERRORS: &str = "prompt_tracker_evaluation_config_errors_total";

/// Upper bounds of the latency histograms' buckets, seconds: 1 ms to 5 min (a test run with
/// `?wait=true`, a provider call with retries).
pub const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// How often histogram samples are folded into their buckets when nobody scrapes (a scrape
/// does it too).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed as the `metrics` global recorder by the first
/// call (later calls return the same handle). Also starts a thread that folds histogram samples
/// into buckets every few seconds (the exporter's "upkeep"), so they do not pile up between
/// scrapes.
///
/// When another recorder was installed first (a program embedding this library with its own),
/// that one keeps receiving the events and this handle renders none of them (logged).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
                .expect("BUCKETS is not empty")
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".to_owned())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_INTERVAL);
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are folded at each scrape only");
                    }
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "another metrics recorder is installed in this process: /metrics will not show request, provider, job or cache events"
                ),
            }
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status class."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (to the response head), seconds."
    );
    describe_counter!(
        PROVIDER_CALLS,
        "LLM provider calls (retries included), by provider, api and outcome (ok or the error type)."
    );
    describe_histogram!(
        PROVIDER_DURATION,
        Unit::Seconds,
        "Wall time of an LLM provider call, retries and backoff included, seconds."
    );
    describe_counter!(
        JOB_ATTEMPTS,
        "Job attempts run by this process, by kind and outcome (done, retry, failed)."
    );
    describe_histogram!(
        JOB_DURATION,
        Unit::Seconds,
        "Time of one job attempt, seconds."
    );
    describe_counter!(LIST_CACHE_HITS, "Listed rows served from the list cache.");
    describe_counter!(
        LIST_CACHE_MISSES,
        "Listed rows read in full from the database while the list cache is on."
    );
    describe_counter!(
        EVALUATION_CONFIG_ERRORS,
        "Evaluations that could not run because their evaluator config is invalid."
    );
}

/// The status class of an HTTP status code: `2xx`, `4xx`, ...
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One answered HTTP request: `route` is the matched route template (never the raw path).
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status_class(status).to_owned()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// One LLM provider call (all its attempts): `outcome` is `ok` or the call's error type.
pub fn provider_call(provider: &'static str, api: &'static str, outcome: &str, elapsed: Duration) {
    let labels = [
        ("provider", provider.to_owned()),
        ("api", api.to_owned()),
        ("outcome", outcome.to_owned()),
    ];
    metrics::counter!(PROVIDER_CALLS, &labels).increment(1);
    metrics::histogram!(PROVIDER_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// One job attempt of `kind` that ended with `outcome` (`done`, `retry`, `failed`).
pub fn job_attempt(kind: &'static str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(JOB_ATTEMPTS, "kind" => kind, "outcome" => outcome).increment(1);
    metrics::histogram!(JOB_DURATION, "kind" => kind, "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}

/// Rows of one list page: `hits` served from the cache of `list`, `misses` read in full.
pub fn list_cache(list: &'static str, hits: u64, misses: u64) {
    if hits > 0 {
        metrics::counter!(LIST_CACHE_HITS, "list" => list).increment(hits);
    }
    if misses > 0 {
        metrics::counter!(LIST_CACHE_MISSES, "list" => list).increment(misses);
    }
}

/// An evaluation that could not run because its evaluator config is invalid: counts
/// `prompt_tracker_evaluation_config_errors_total{evaluator}`. `evaluator` is a registry key
/// (`keyword`, `llm_judge`, ...) or `unknown`: call it through
/// [`crate::evaluation::record_config_error`], which maps the stored key to one of those, so that
/// the label keeps a closed set of values.
pub fn evaluation_config_error(evaluator: &'static str) {
    metrics::counter!(EVALUATION_CONFIG_ERRORS, "evaluator" => evaluator).increment(1);
}

/// Gauges of one app's state, written in the Prometheus text format after the recorder's
/// output (see the module docs).
#[derive(Debug, Default)]
pub struct Gauges(String);

/// One gauge family being written ([`Gauges::family`]).
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl Gauges {
    /// Starts the family `name` (its `# HELP` and `# TYPE` lines); add its samples to the
    /// returned [`Family`].
    pub fn family<'a>(&'a mut self, name: &'a str, help: &str) -> Family<'a> {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
        Family {
            out: &mut self.0,
            name,
        }
    }

    /// The text of the gauges added so far.
    pub fn into_text(self) -> String {
        self.0
    }
}

impl Family<'_> {
    /// Adds a sample: a label set (none for `&[]`) and its value.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(101), "1xx");
    }

    #[test]
    fn gauges_render_as_text_format() {
        let mut g = Gauges::default();
        g.family("x_jobs", "Jobs.")
            .sample(&[("kind", "test_run"), ("status", "queued")], 3.0)
            .sample(&[("kind", "a\"b\\c\nd")], 0.5);
        g.family("x_pool", "Pool.").sample(&[], 4.0);
        assert_eq!(
            g.into_text(),
            "# HELP x_jobs Jobs.\n# TYPE x_jobs gauge\nx_jobs{kind=\"test_run\",status=\"queued\"} 3\n\
             x_jobs{kind=\"a\\\"b\\\\c\\nd\"} 0.5\n\
             # HELP x_pool Pool.\n# TYPE x_pool gauge\nx_pool 4\n"
        );
    }
}
