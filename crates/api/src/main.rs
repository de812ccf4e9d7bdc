//! `campaigns-api`: loads configuration, migrates, serves until SIGTERM/ctrl-c.

use anyhow::Context;
use api::{ApiConfig, ApiServer, AppState};
use clap::Parser;
use process::{ops::Readiness, shutdown, telemetry};
use store::crypto::Cipher;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = ApiConfig::parse();
    telemetry::init_tracing(config.log_format);
    let cipher = Cipher::from_base64(config.encryption_key.expose())?;
    let pg = config.connections.pg_pool()?;
    if config.run_migrations {
        store::MIGRATOR.run(&pg).await.context("running database migrations")?;
    }
    let redis = config.connections.redis().await.context("connecting to Redis")?;
    let state = AppState { pg: pg.clone(), cipher, limits: config.limits() };
    let router = api::router(state, Readiness { pg: pg.clone(), redis }, telemetry::metrics_handle());
    let server = ApiServer::bind(config.addr, router).await.with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(addr = %server.local_addr()?, "API listening");
    let stop = shutdown::on_signal();
    server.run(stop.cancelled_owned()).await?;
    pg.close().await;
    tracing::info!("API stopped");
    Ok(())
}
