//! Operations endpoints, at the root: liveness, readiness, metrics.

use std::time::{Duration, Instant};

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use diesel_async::RunQueryDsl;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::error::ApiError;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database answers (503 while it does not; no restart needed when it returns).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "`database_unreachable`", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let probe = async {
        let mut conn = state.pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Some(_)) => HttpResponse::Ok().json(Health { status: "ready" }),
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unreachable",
            "La base de données ne répond pas ; le service reprendra seul dès son retour.",
        )
        .error_response(),
    }
}

/// Prometheus text: this node's requests, latency, pool and redemptions by outcome, then the money read from the database. With `PASSNUM_METRICS_TOKEN` set, only its bearer is answered.
///
/// The money: `crate::metrics` (docs/OPERATIONS.md lists every metric).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "`unauthenticated`: `PASSNUM_METRICS_TOKEN` is set and the request does not carry it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(expected) = state.settings.metrics_token()
        && !carries_token(&req, expected)
    {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Les métriques demandent le jeton de supervision (en-tête Authorization: Bearer).",
        )
        .error_response();
    }
    let started = Instant::now();
    let read = async {
        let mut conn = state.pool.get().await.ok()?;
        crate::metrics::snapshot(&mut conn).await.ok()
    };
    let snapshot = tokio::time::timeout(MONEY_READ_LIMIT, read)
        .await
        .ok()
        .flatten();
    let money = crate::metrics::exposition(snapshot.as_ref(), started.elapsed().as_secs_f64());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool) + &money)
}

/// The longest a scrape waits for the money metrics (a connection, then the reads).
const MONEY_READ_LIMIT: Duration = Duration::from_secs(8);

/// Whether the request carries `Authorization: Bearer <expected>`, compared by their
/// SHA-256 so that the time taken says nothing of the token.
fn carries_token(req: &HttpRequest, expected: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}
