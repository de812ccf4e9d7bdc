//! `campaigns-api`: loads configuration, migrates, serves until SIGTERM/ctrl-c.

use anyhow::Context;
use api::{ApiConfig, ApiServer, AppState};
use clap::Parser;
use process::{ops::Readiness, shutdown, telemetry};
use store::crypto::Cipher;

const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ApiConfig::parse();
    telemetry::init_tracing(config.log_format);
    let cipher = Cipher::from_base64(config.encryption_key.expose())?;
    let pg = config.connections.pg_pool()?;
    config.connections.check_postgres_at_start().await?;
    if config.run_migrations {
        store::MIGRATOR.run(&pg).await.context("running database migrations")?;
    }
    let redis = config.connections.redis().await.context("connecting to Redis")?;
    let cloud = whatsapp::CloudClient::new(config.cloud()).context("building the Cloud API client")?;
    let state = AppState::new(pg.clone(), cipher, cloud, config.limits(), config.settings())
        .with_webhook_verify_token(config.webhook_verify_token.clone())
        .with_dead_letters(queue::DeadLetters::new(pg.clone(), redis.clone(), config.queue_prefix.clone()));
    let readiness = Readiness { pg: pg.clone(), redis: redis.clone() };
    let router = api::router(state, readiness.clone());
    let server = ApiServer::bind(config.addr, router).await.with_context(|| format!("binding {}", config.addr))?;
    let metrics = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .with_context(|| format!("binding {} (METRICS_ADDR)", config.metrics_addr))?;
    tracing::info!(addr = %server.local_addr()?, metrics = %metrics.local_addr()?, "API listening");
    let stop = shutdown::on_signal();
    let ops = process::ops::router(readiness, telemetry::metrics_handle())
        .layer(axum::middleware::from_fn(process::ops::track_http));
    let stopping = stop.clone();
    tokio::spawn(async move { axum::serve(metrics, ops).with_graceful_shutdown(stopping.cancelled_owned()).await });
    // The queue and campaign gauges, as every worker exports them too.
    let exporter = queue::Exporter {
        pg: pg.clone(),
        redis: redis.clone(),
        queue_prefix: config.queue_prefix.clone(),
        interval: std::time::Duration::from_secs(config.metrics_interval),
    };
    tokio::spawn(exporter.run(stop.clone()));
    tokio::spawn(api::uptime::stamp_webhook_uptime(pg.clone(), stop.clone()));
    let serving = server.run(stop.clone().cancelled_owned());
    // After the signal, in-flight requests get DRAIN_DEADLINE to finish (a
    // stalled upload must not block the stop; its transaction rolls back).
    let deadline = async {
        stop.cancelled().await;
        tokio::time::sleep(DRAIN_DEADLINE).await;
    };
    tokio::select! {
        served = serving => served?,
        () = deadline => tracing::warn!("requests still running after {DRAIN_DEADLINE:?}; stopping anyway"),
    }
    pg.close().await;
    tracing::info!("API stopped");
    Ok(())
}
