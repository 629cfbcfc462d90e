//! What every request goes through around its route: a request id, a tracing span, metrics.
//!
//! [`layers`] wraps each route (and the fallback) of the router, after routing, so the route
//! template (`MatchedPath`, `/api/v1/prompts/{id}`) is known; from the outside in:
//!
//! 1. an `X-Request-Id` the client sent is kept when it is 1 to [`MAX_REQUEST_ID_LEN`] visible
//!    ASCII characters, and dropped otherwise (so it can be echoed and logged as is);
//! 2. tower-http's `SetRequestIdLayer` generates a UUID v4 when the request has none;
//! 3. `PropagateRequestIdLayer` returns it in the response's `X-Request-Id`;
//! 4. `TraceLayer` opens the request's `request` span (`method`, `route`, `path`,
//!    `request_id`): every log line written while the request is served carries them;
//! 5. [`observe`] makes the id readable by the problem+json bodies (their `request_id`, through a
//!    task-local, see [`current_request_id`]) and counts the request in
//!    `prompt_tracker_http_requests_total` and `..._duration_seconds` ([`crate::telemetry`]).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The request id header, `X-Request-Id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent request id kept, bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The `route` of requests that matched no route (the 404 fallback).
pub const UNMATCHED: &str = "unmatched";

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request being served by the current task (what its `X-Request-Id` answer
/// carries), when called while a request is served.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.to_string()).ok()
}

/// `router` with the request id, tracing and metrics layers on each of its routes and its
/// fallback (see the module docs).
pub fn layers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(middleware::from_fn(observe))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn(drop_unusable_request_id))
}

/// Whether a client's request id is kept: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters
/// (no spaces, no control characters: it is echoed in a header and written in logs as is).
pub fn is_usable_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value.iter().all(|b| (0x21..=0x7e).contains(b))
}

async fn drop_unusable_request_id(mut request: Request, next: Next) -> Response {
    let unusable = request
        .headers()
        .get(&X_REQUEST_ID)
        .is_some_and(|v| !is_usable_request_id(v.as_bytes()));
    if unusable {
        request.headers_mut().remove(&X_REQUEST_ID);
    }
    next.run(request).await
}

fn request_id_of(request: &Request) -> &str {
    request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn route_of(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
}

/// The span of one request: method, route template, path and request id.
fn request_span(request: &Request) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = route_of(request),
        path = request.uri().path(),
        request_id = request_id_of(request),
    )
}

/// The method as a metrics label: the standard ones, `other` for any extension method (a
/// closed set of values whatever clients send).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Serves the request with its id readable by [`current_request_id`], then counts it.
async fn observe(request: Request, next: Next) -> Response {
    let id: Arc<str> = Arc::from(request_id_of(&request));
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = REQUEST_ID.scope(id, next.run(request)).await;
    crate::telemetry::http_request(
        method,
        route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_request_ids() {
        assert!(is_usable_request_id(b"abc-123"));
        assert!(is_usable_request_id(
            b"0f8fad5b-d9cb-469f-a165-70867728950e"
        ));
        assert!(is_usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN]));
        assert!(!is_usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
        assert!(!is_usable_request_id(b""));
        assert!(!is_usable_request_id(b"a b"));
        assert!(!is_usable_request_id(b"a\tb"));
        assert!(!is_usable_request_id("é".as_bytes()));
    }

    /// Every log line written while a request is served carries its request id (the
    /// `request` span), and problem+json bodies repeat it.
    #[tokio::test]
    async fn log_lines_and_problems_carry_the_request_id() {
        use std::sync::{Arc, Mutex};
        use tower::ServiceExt;

        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let router: Router = layers(Router::new().route(
            "/things/{id}",
            axum::routing::get(|| async {
                tracing::warn!("looking for the thing");
                crate::error::Error::NotFound("no such thing".to_owned())
            }),
        ));
        let request = axum::http::Request::get("/things/7")
            .header("x-request-id", "req-42")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.headers()["x-request-id"], "req-42");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["request_id"], "req-42");

        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = logs
            .lines()
            .find(|l| l.contains("looking for the thing"))
            .unwrap_or_else(|| panic!("{logs}"));
        assert!(line.contains("request_id=\"req-42\""), "{line}");
        assert!(line.contains("route=\"/things/{id}\""), "{line}");
    }
}
