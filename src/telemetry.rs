//! Logs and metrics. Logs are structured (text or JSON) and each request carries a
//! request id (tracing-actix-web). Metrics live in a registry of the application's
//! own, rendered as Prometheus text at `/metrics`.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tracing_actix_web::RequestId;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

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
    let method = req.method().as_str().to_string();
    let metrics = req.app_data::<web::Data<crate::api::AppState>>().cloned();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut response = next.call(req).await;
    if let (Ok(res), Some(id)) = (&mut response, request_id)
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Some(state) = metrics {
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
        state
            .metrics
            .observe(&route, &method, status, started.elapsed().as_secs_f64());
    }
    response
}
