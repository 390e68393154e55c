//! Logs and metrics. Logs are structured (text or JSON) and each request carries a
//! request id (tracing-actix-web). Metrics live in a registry of the application's
//! own, rendered as Prometheus text at `/metrics`.
//!
//! Nothing secret is logged: the request line ([`RedactingRootSpan`]) shows the values
//! of the query parameters `token`, `code`, `serial`, `password` and `q` as
//! `[REDACTED]` (invitation links, ticket codes typed in a URL, a prescriber's search
//! for a beneficiary's reference), bodies are never logged, and an
//! error is logged by its stable code only (its detail may quote what was sent).
//!
//! Metric labels are bounded: a method outside the standard ones is counted as
//! `other`, a request that matched no route as `unmatched` — so nobody can grow the
//! metrics by inventing methods or paths.

use std::time::Instant;

use std::borrow::Cow;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::client_addr::{self, TrustedProxies};
use crate::config::LogFormat;
use crate::db::DbPool;

/// Installs the global log subscriber (once; later calls do nothing).
pub fn init_logs(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    // A line per finished request span: method, route, status, request id, latency.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    redemptions: IntCounterVec,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Metrics> {
        let registry = Registry::new_custom(Some("passnum".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["route", "method"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool: size, available, max_size, waiting",
            ),
            &["state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        let redemptions = IntCounterVec::new(
            Opts::new(
                "redemptions_total",
                "Redemption attempts by outcome (redeemed or the refusal's code)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(redemptions.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            pool,
            redemptions,
        })
    }

    pub fn redemption(&self, outcome: &str) {
        self.redemptions.with_label_values(&[outcome]).inc();
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// The Prometheus text of every metric, with the pool read now.
    pub fn render(&self, pool: &DbPool) -> String {
        let status = pool.status();
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.pool
            .with_label_values(&["size"])
            .set(as_i64(status.size));
        self.pool
            .with_label_values(&["available"])
            .set(as_i64(status.available));
        self.pool
            .with_label_values(&["max_size"])
            .set(as_i64(status.max_size));
        self.pool
            .with_label_values(&["waiting"])
            .set(as_i64(status.waiting));
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Middleware: answers with the request's id (`x-request-id`, also in every log line
/// of the request), counts every request by its route pattern (never by raw path, so ids do
/// not explode the label set) and status, and times it.
pub async fn record_metrics(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut response = next.call(req).await;
    if let (Ok(res), Some(id)) = (&mut response, request_id)
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Some(metrics) = metrics {
        let (route, status) = match &response {
            Ok(res) => (
                res.request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".into()),
                res.status().as_u16(),
            ),
            Err(err) => (
                "unmatched".to_string(),
                err.as_response_error().status_code().as_u16(),
            ),
        };
        metrics.observe(&route, method, status, started.elapsed().as_secs_f64());
    }
    response
}

/// The metric label of a method: a standard one, or `other`.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: &[(Method, &str)] = &[
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, label)| label)
}

/// Query parameters whose values are bearer secrets (invitation and reset tokens,
/// ticket codes and serials, passwords) or personal data (`q`: the words a
/// prescriber searches a beneficiary's reference with).
const SECRET_PARAMETERS: &[&str] = &["token", "code", "serial", "password", "q"];

/// `path?query` with the values of [`SECRET_PARAMETERS`] replaced by `[REDACTED]`
/// (names compared without case, after percent-decoding).
pub fn redact_target(target: &str) -> Cow<'_, str> {
    let Some((path, query)) = target.split_once('?') else {
        return Cow::Borrowed(target);
    };
    let mut changed = false;
    let parts: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name_decoded = percent_decode(name);
            if !value.is_empty()
                && SECRET_PARAMETERS
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(name_decoded.trim()))
            {
                changed = true;
                Cow::Owned(format!("{name}=[REDACTED]"))
            } else {
                Cow::Borrowed(pair)
            }
        })
        .collect();
    if !changed {
        return Cow::Borrowed(target);
    }
    Cow::Owned(format!("{path}?{}", parts.join("&")))
}

/// Percent-decoding (and `+` as a space) of a query parameter's name.
fn percent_decode(raw: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (decoded.and_then(|d| u8::try_from(d).ok()), bytes[i]) {
            (Some(byte), _) => {
                out.push(byte);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The root span of every request (tracing-actix-web), like its default one but with
/// the target redacted ([`redact_target`]), the client address of
/// [`crate::client_addr`], and an error recorded by its code only.
pub struct RedactingRootSpan;

impl RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("");
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let client_ip = request
            .app_data::<web::Data<TrustedProxies>>()
            .and_then(|trusted| client_addr::client_ip(request.request(), trusted))
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %method_label(request.method()),
            http.target = %redact_target(target),
            http.client_ip = %client_ip,
            http.user_agent = %request
                .headers()
                .get("User-Agent")
                .and_then(|h| h.to_str().ok())
                .unwrap_or(""),
            http.status_code = tracing::field::Empty,
            error.code = tracing::field::Empty,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        let (status, error) = match outcome {
            Ok(res) => (res.status(), res.response().error()),
            Err(err) => (err.as_response_error().status_code(), Some(err)),
        };
        span.record("http.status_code", status.as_u16());
        if let Some(code) = error
            .and_then(|e| e.as_error::<crate::error::ApiError>())
            .map(|e| e.code())
        {
            span.record("error.code", code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_values_are_redacted() {
        let cases = [
            ("/invitation?token=abc", "/invitation?token=[REDACTED]"),
            (
                "/api/v1/x?code=PN1A-XYZ&serial=7K3M&limit=5",
                "/api/v1/x?code=[REDACTED]&serial=[REDACTED]&limit=5",
            ),
            (
                "/x?TOKEN=abc&%74oken=def",
                "/x?TOKEN=[REDACTED]&%74oken=[REDACTED]",
            ),
            ("/x?password=p%20w", "/x?password=[REDACTED]"),
            ("/x?tokens=abc&token=", "/x?tokens=abc&token="),
            ("/x?a=1", "/x?a=1"),
            ("/x", "/x"),
            ("/x?%E9=1&%zz=2&%", "/x?%E9=1&%zz=2&%"),
        ];
        for (raw, expected) in cases {
            assert_eq!(redact_target(raw), expected, "{raw}");
        }
    }

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"FOOBAR").unwrap()),
            "other"
        );
    }
}
