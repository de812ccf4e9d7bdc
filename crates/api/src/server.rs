//! Assembling the router and serving it.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    middleware,
    routing::get,
};
use process::ops::{HealthApi, Readiness, track_http};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    error::{ApiError, log_server_errors},
    openapi::{ApiDoc, openapi_json},
    routes,
    state::AppState,
};

/// The public HTTP surface: `/v1/...`, `/webhooks/whatsapp`, `/openapi.json`,
/// `/healthz`, `/readyz`. `/metrics` is served on its own listener
/// (`METRICS_ADDR`, [`process::ops::router`]).
pub fn router(state: AppState, readiness: Readiness) -> Router {
    let json_limit = state.limits.json_body_bytes;
    let (v1, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::v1(&state))
        .merge(routes::webhooks(&state))
        .split_for_parts();
    doc.merge(HealthApi::openapi());
    Router::new()
        .merge(v1.with_state(state.clone()))
        .route("/openapi.json", get(openapi_json))
        .route("/", get(|| async { axum::response::Redirect::to("/console") }))
        .merge(crate::console::router().with_state(state.clone()))
        .layer(Extension(Arc::new(crate::openapi::with_common_answers(&doc))))
        .merge(process::ops::health_router(readiness))
        .fallback(|| async { ApiError::NotFound { what: "route" } })
        .method_not_allowed_fallback(|| async {
            ApiError::Invalid {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this route does not accept that method; /openapi.json lists the methods".into(),
                field: None,
            }
        })
        .layer(middleware::from_fn(log_server_errors))
        .layer(middleware::from_fn(track_http))
        .layer(DefaultBodyLimit::max(json_limit))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("http", method = %req.method(), route)
        }))
}

/// A bound listener and its router; bind to port 0 in tests.
#[derive(Debug)]
pub struct ApiServer {
    listener: tokio::net::TcpListener,
    router: Router,
}

impl ApiServer {
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        Ok(Self { listener: tokio::net::TcpListener::bind(addr).await?, router })
    }

    /// On a listener bound earlier (a test that must know the address first).
    pub fn from_listener(listener: tokio::net::TcpListener, router: Router) -> Self {
        Self { listener, router }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes, then lets in-flight requests finish.
    pub async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        // The peer address reaches handlers (the console throttles sign-ins by it).
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(stop)
            .await
    }
}
