//! `campaigns-worker`: one process per start, with a unique name
//! (`{host}-{boot id}`), registered in Postgres with a heartbeat, serving
//! `/healthz`, `/readyz` and `/metrics`, and stopping cleanly on SIGTERM.
//! It runs the queues `WORKER_QUEUES` names: `launch`, `send`, `reply` and
//! `report` consumers, the `status` consumers of stored webhooks and the
//! `scheduler` tick (workers::pipeline, workers::report).

mod config;
mod registry;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use axum::middleware;
use clap::Parser;
use process::{ops, shutdown, telemetry};
use store::crypto::Cipher;
use workers::{
    pipeline::{Pipeline, Settings},
    reply::{Replier, ReplyPolicy},
    send::{RetryPolicy, Sender},
};

use crate::config::WorkerConfig;

/// The send request's timeout.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The queue consumers and scheduler this process runs.
async fn pipeline(config: &WorkerConfig, name: &str, pg: store::PgPool) -> anyhow::Result<Arc<Pipeline>> {
    let redis = queue::connect_client(config.connections.redis_client()?)
        .await
        .map_err(|e| config.connections.redis_error(&e))
        .context("connecting to Redis for the queues")?;
    let cipher = match &config.encryption_key {
        Some(key) => Cipher::from_base64(key.expose())?,
        None if config.runs("send") || config.runs("reply") || config.runs("status") => anyhow::bail!(
            "the send, reply and status queues need APP_ENCRYPTION_KEY (numbers' tokens, bot flows' secrets, the \
             key of our callback data)"
        ),
        // Never used without the send, reply and status queues.
        None => Cipher::from_base64(&Cipher::generate_key())?,
    };
    let cloud = whatsapp::CloudClient::new(whatsapp::ClientConfig {
        base_url: config.whatsapp_api_url.clone(),
        api_version: config.whatsapp_api_version.clone(),
        // Meta answers a send in well under a second; a request still open
        // after this is in doubt, and the sooner it is, the sooner Meta's
        // statuses settle it (Settings::evidence waits at least this long).
        request_timeout: SEND_TIMEOUT,
        ..whatsapp::ClientConfig::default()
    })?;
    let reply_policy = ReplyPolicy { allow_private: config.bot_egress_allow_private, ..ReplyPolicy::default() };
    if reply_policy.allow_private && config.runs("reply") {
        tracing::warn!("BOT_EGRESS_ALLOW_PRIVATE is on: bot flows may be called on private and loopback addresses");
    }
    let replier = Replier::new(pg.clone(), cipher.clone(), reply_policy)?;
    let sender = Sender {
        pg: pg.clone(),
        cipher,
        cloud,
        limiter: ratelimit::Limiter::new(redis.clone(), config.queue_prefix.clone()),
        policy: RetryPolicy {
            limit_hold: RetryPolicy::limit_hold_for(Duration::from_secs(config.messaging_limit_window_secs)),
            ..RetryPolicy::default()
        },
    };
    let mut settings = Settings::new(name);
    settings.queue_prefix = config.queue_prefix.clone();
    settings.launch = config.runs("launch");
    settings.send = config.runs("send");
    settings.scheduler = config.runs("scheduler");
    settings.status = config.runs("status");
    settings.reply = config.runs("reply");
    settings.report = config.runs("report");
    settings.send_concurrency = config.send_concurrency;
    settings.window_max = config.send_window_max;
    settings.dead_letter_retention = Duration::from_secs(config.dead_letter_retention_days * 86_400);
    settings.messaging_window = Duration::from_secs(config.messaging_limit_window_secs);
    settings.tier_refresh = Duration::from_secs(config.tier_refresh_secs);
    settings.reply_window = Duration::from_secs(config.reply_pacing_window_secs);
    settings.reconcile_window = Duration::from_secs(config.in_doubt_reconcile_secs);
    settings.ingest.concurrency = config.status_concurrency;
    Ok(Arc::new(Pipeline { settings, pg, redis, sender, replier }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = WorkerConfig::parse();
    telemetry::init_tracing(config.log_format);
    let pg = config.connections.pg_pool()?;
    config.connections.check_postgres_at_start().await?;
    let redis = config.connections.redis().await.context("connecting to Redis")?;
    let host = config::host_name();
    let name = config::process_name(&host);
    let stop = shutdown::on_signal();

    let registry = registry::Registry::new(pg.clone(), host, name.clone(), config.queues.clone());
    let heartbeat = tokio::spawn(registry.clone().run(stop.clone()));
    let pipeline = tokio::spawn(workers::pipeline::run(pipeline(&config, &name, pg.clone()).await?, stop.clone()));
    let exporter = queue::Exporter {
        pg: pg.clone(),
        redis: redis.clone(),
        queue_prefix: config.queue_prefix.clone(),
        interval: Duration::from_secs(config.metrics_interval),
    };
    let gauges = tokio::spawn(exporter.run(stop.clone()));

    let ops_router = ops::router(ops::Readiness { pg: pg.clone(), redis }, telemetry::metrics_handle())
        .layer(middleware::from_fn(ops::track_http));
    let listener =
        tokio::net::TcpListener::bind(config.addr).await.with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(worker = %name, addr = %listener.local_addr()?, queues = ?config.queues, "worker started");
    axum::serve(listener, ops_router).with_graceful_shutdown(stop.clone().cancelled_owned()).await?;

    pipeline.await.context("pipeline task")?;
    gauges.await.context("metrics exporter task")?;
    heartbeat.await.context("heartbeat task")?;
    registry.mark_stopped().await;
    pg.close().await;
    tracing::info!(worker = %name, "worker stopped");
    Ok(())
}
