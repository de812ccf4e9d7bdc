//! `campaignsctl queues`: every queue's depth, age and dead letters, as the
//! `/metrics` gauges report them.

use queue::{Job, LaunchJob, ReplyJob, ReportJob, SendJob, queue_gauges};
use redis::aio::ConnectionManager;
use serde_json::{Value, json};
use store::PgPool;

pub async fn run(pg: &PgPool, redis: &mut ConnectionManager, prefix: &str) -> anyhow::Result<Value> {
    let mut queues = Vec::new();
    for (label, name) in [
        ("launch", LaunchJob::QUEUE),
        ("send", SendJob::QUEUE),
        ("reply", ReplyJob::QUEUE),
        ("report", ReportJob::QUEUE),
    ] {
        let redis_queue = format!("{prefix}{name}");
        let g = queue_gauges(redis, &redis_queue).await?;
        queues.push(json!({
            "queue": label, "redis_queue": redis_queue, "active": g.active, "scheduled": g.scheduled,
            "scheduled_due": g.scheduled_due, "inflight": g.inflight, "dead": g.dead,
            "oldest_pending_age_seconds": g.oldest_pending_age.map(|d| d.as_secs_f64()),
        }));
    }
    let s = store::webhook_events::queue_state(pg).await?;
    queues.push(json!({
        "queue": "status", "pending": s.pending, "oldest_pending_age_seconds": s.oldest_pending_secs,
        "inflight": s.in_flight, "retrying": s.retrying, "dead": s.dead,
    }));
    let (outbox, oldest) = store::outbox::backlog(pg).await?;
    Ok(json!({"queues": queues, "outbox": {"unpushed": outbox, "oldest_age_seconds": oldest}}))
}
