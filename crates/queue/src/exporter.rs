//! The gauges every process (the API and each worker) exports on `/metrics`,
//! read at an interval: each queue's depth, oldest pending age, in-flight,
//! scheduled (delayed and retrying) and dead-letter counts (the Redis queues
//! through [`queue_gauges`], the status queue from `webhook_events`), and the
//! progress of every active campaign (`campaign_counters`).
//!
//! Every process reads and exports the same values, so a dashboard
//! aggregates them with `max by (...)`, never `sum` (docs/metrics.md). A
//! gauge no longer set (a finished campaign's) is dropped after
//! `process::telemetry::GAUGE_IDLE_TIMEOUT`.

use std::time::Duration;

use redis::aio::ConnectionManager;
use sqlx::PgPool;
use store::{progress, webhook_events};
use tokio_util::sync::CancellationToken;

use crate::{Job, LaunchJob, ReplyJob, ReportJob, SendJob, queue_gauges};

/// The Redis queues, by their `queue` label: `(label, queue name)` (the
/// name without `QUEUE_PREFIX`).
pub const REDIS_QUEUES: [(&str, &str); 4] =
    [("launch", LaunchJob::QUEUE), ("send", SendJob::QUEUE), ("reply", ReplyJob::QUEUE), ("report", ReportJob::QUEUE)];

/// The `queue` label of the status queue (`webhook_events`, in Postgres).
pub const STATUS_QUEUE: &str = "status";

/// Reads and sets the gauges.
#[derive(Clone)]
pub struct Exporter {
    pub pg: PgPool,
    pub redis: ConnectionManager,
    /// Prepended to every Redis queue name (`QUEUE_PREFIX`).
    pub queue_prefix: String,
    pub interval: Duration,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("queue_prefix", &self.queue_prefix)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Queue gauges as exported.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Gauges {
    pending: f64,
    oldest_pending_age: f64,
    inflight: f64,
    scheduled: f64,
    dead: f64,
}

impl Exporter {
    /// Exports at once, then every interval, until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut every = tokio::time::interval(self.interval.max(Duration::from_millis(100)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = every.tick() => self.export().await,
            }
        }
    }

    /// Reads every gauge once and sets it. A source that cannot be read is
    /// counted in `metrics_export_errors_total{source}` and logged; its
    /// gauges keep their last value until the idle timeout drops them.
    pub async fn export(&self) {
        for (label, queue) in REDIS_QUEUES {
            let mut conn = self.redis.clone();
            match queue_gauges(&mut conn, &format!("{}{queue}", self.queue_prefix)).await {
                Ok(g) => set_queue(
                    label,
                    Gauges {
                        pending: (g.active + g.scheduled_due) as f64,
                        oldest_pending_age: g.oldest_pending_age.unwrap_or_default().as_secs_f64(),
                        inflight: g.inflight as f64,
                        scheduled: g.scheduled.saturating_sub(g.scheduled_due) as f64,
                        dead: g.dead as f64,
                    },
                ),
                Err(e) => failed(label, &e),
            }
        }
        match webhook_events::queue_state(&self.pg).await {
            Ok(s) => set_queue(
                STATUS_QUEUE,
                Gauges {
                    pending: s.pending as f64,
                    oldest_pending_age: s.oldest_pending_secs,
                    inflight: s.in_flight as f64,
                    scheduled: s.retrying as f64,
                    dead: s.dead as f64,
                },
            ),
            Err(e) => failed(STATUS_QUEUE, &e),
        }
        match progress::active(&self.pg).await {
            Ok(campaigns) => campaigns.iter().for_each(set_progress),
            Err(e) => failed("campaigns", &e),
        }
    }
}

fn set_queue(queue: &'static str, g: Gauges) {
    metrics::gauge!("queue_pending_jobs", "queue" => queue).set(g.pending);
    metrics::gauge!("queue_oldest_pending_age_seconds", "queue" => queue).set(g.oldest_pending_age);
    metrics::gauge!("queue_inflight_jobs", "queue" => queue).set(g.inflight);
    metrics::gauge!("queue_scheduled_jobs", "queue" => queue).set(g.scheduled);
    metrics::gauge!("queue_dead_jobs", "queue" => queue).set(g.dead);
}

fn set_progress(p: &progress::Progress) {
    let stages = [
        ("targeted", p.targeted),
        ("pending", p.pending),
        ("accepted", p.accepted),
        ("sent", p.sent),
        ("delivered", p.delivered),
        ("read", p.read),
        ("replied", p.replied),
        ("failed", p.failed),
        ("excluded", p.excluded),
        ("in_doubt", p.in_doubt),
    ];
    let id = p.campaign_id.to_string();
    for (stage, value) in stages {
        metrics::gauge!("campaign_recipients", "campaign_id" => id.clone(), "stage" => stage).set(value as f64);
    }
}

fn failed(source: &'static str, error: &dyn std::fmt::Display) {
    tracing::warn!(source, error = %error, "reading gauges failed");
    metrics::counter!("metrics_export_errors_total", "source" => source).increment(1);
}
