//! The operational endpoints every process serves, and HTTP request metrics.

use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use sqlx::PgPool;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    pub pg: PgPool,
    pub redis: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").finish_non_exhaustive()
    }
}

/// `/healthz` (the process is alive), `/readyz` (Postgres and Redis answer)
/// and `/metrics` (Prometheus text format): what a process serves on its
/// own operations listener, never exposed to the public.
pub fn router(readiness: Readiness, metrics: PrometheusHandle) -> Router {
    Router::new().route("/metrics", get(render_metrics)).with_state(metrics).merge(health_router(readiness))
}

/// `/healthz` and `/readyz` alone: what a public listener serves (load
/// balancers probe it). Metrics name every organization's campaigns, so they
/// stay on the operations listener ([`router`]).
pub fn health_router(readiness: Readiness) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(readiness)
}

/// The OpenAPI description of [`health_router`], for servers that publish one.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
#[derive(Debug)]
pub struct HealthApi;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Postgres and Redis both answer within 2 s.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready: `{\"postgres\": \"ok\", \"redis\": \"ok\"}`"),
    (status = 503, description = "A dependency is unreachable; the body says which"),
))]
async fn readyz(State(readiness): State<Readiness>) -> Response {
    let pg = tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("select 1").execute(&readiness.pg)).await;
    let pg_ok = matches!(pg, Ok(Ok(_)));
    let mut conn = readiness.redis.clone();
    let redis = tokio::time::timeout(CHECK_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn)).await;
    let redis_ok = matches!(redis, Ok(Ok(_)));
    let status = if pg_ok && redis_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    (status, Json(json!({"postgres": word(pg_ok), "redis": word(redis_ok)}))).into_response()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn render_metrics(State(metrics): State<PrometheusHandle>) -> impl IntoResponse {
    metrics.run_upkeep();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render())
}

/// Middleware: counts requests (`http_requests_total`) and records latency
/// (`http_request_duration_seconds`) by method, matched route and status.
/// Unmatched paths are reported as route `unmatched` so scanners cannot blow
/// up the label cardinality.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let labels = [("method", method), ("route", route), ("status", response.status().as_u16().to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}
