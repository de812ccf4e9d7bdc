//! The webhook endpoint's uptime, as the status queue's evidence about
//! in-doubt sends needs it (`store::recipients::Evidence`): every second in
//! which this process can store webhooks is stamped in
//! `webhook_ingest_seconds`. A second no API process stamped is an outage of
//! the endpoint or of Postgres, during which Meta's webhooks failed and will
//! be retried.

use std::time::Duration;

use store::PgPool;
use tokio_util::sync::CancellationToken;

/// Stamps the current second every second until `stop`. A failed stamp (Postgres
/// unreachable) is that second's outage; it is logged once per outage.
pub async fn stamp_webhook_uptime(pg: PgPool, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        match store::webhook_events::record_ingest_second(&pg).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "stamping the webhook endpoint's uptime failed; retrying every second");
            }
            Err(_) => {}
        }
    }
}
