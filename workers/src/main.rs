//! `campaigns-worker`: one process per start, with a unique name
//! (`{host}-{boot id}`), registered in Postgres with a heartbeat, serving
//! `/healthz`, `/readyz` and `/metrics`, and stopping cleanly on SIGTERM.
//! The queue consumers (launch, send, status, reply, report, scheduler) hang
//! off this process.

mod config;
mod registry;

use anyhow::Context;
use axum::middleware;
use clap::Parser;
use process::{ops, shutdown, telemetry};

use crate::config::WorkerConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = WorkerConfig::parse();
    telemetry::init_tracing(config.log_format);
    let pg = config.connections.pg_pool()?;
    let redis = config.connections.redis().await.context("connecting to Redis")?;
    let host = config::host_name();
    let name = config::process_name(&host);
    let stop = shutdown::on_signal();

    let registry = registry::Registry::new(pg.clone(), host, name.clone(), config.queues.clone());
    let heartbeat = tokio::spawn(registry.clone().run(stop.clone()));

    let ops_router = ops::router(ops::Readiness { pg: pg.clone(), redis }, telemetry::metrics_handle())
        .layer(middleware::from_fn(ops::track_http));
    let listener =
        tokio::net::TcpListener::bind(config.addr).await.with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(worker = %name, addr = %listener.local_addr()?, queues = ?config.queues, "worker started");
    axum::serve(listener, ops_router).with_graceful_shutdown(stop.clone().cancelled_owned()).await?;

    heartbeat.await.context("heartbeat task")?;
    registry.mark_stopped().await;
    pg.close().await;
    tracing::info!(worker = %name, "worker stopped");
    Ok(())
}
