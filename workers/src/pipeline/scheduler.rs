//! The scheduler tick (one process at a time, under a Postgres advisory
//! lock): due launches and the outbox, the sweepers that rebuild lost work
//! from the ledger, fan-out top-ups and completion.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use queue::{
    DeadLetters, LaunchJob, Relay, ReplyJob,
    apalis::prelude::{TaskBuilder, TaskSink},
};
use redis::AsyncCommands;
use store::{campaigns, inbound, recipients, webhook_events};
use tokio_util::sync::CancellationToken;

use super::{Pipeline, REPUSH_BATCH};

/// How long the webhook ingest seconds are kept (the evidence looks back minutes).
const INGEST_SECONDS_KEPT: Duration = Duration::from_secs(86_400);

/// How often dead letters past their retention are forgotten.
const DEAD_LETTER_TRIM: Duration = Duration::from_secs(600);

/// Forgets dead letters older than the retention, every ten minutes (and at
/// start). Several processes may run it: it only deletes what is still dead.
pub(super) async fn trim_dead_letters(pipeline: Arc<Pipeline>, stop: CancellationToken) {
    let p = &pipeline;
    let dead = DeadLetters::new(p.pg.clone(), p.redis.clone(), p.settings.queue_prefix.clone());
    let mut every = tokio::time::interval(DEAD_LETTER_TRIM);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let before = chrono::Utc::now() - p.settings.dead_letter_retention;
        match dead.trim(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, %before, "dead letters past their retention forgotten"),
            Err(e) => tracing::warn!(error = %e, "trimming dead letters failed; retrying in ten minutes"),
        }
    }
}

/// Wakes the relay when a job enters the outbox (`pg_notify('job_outbox')`,
/// from a trigger), so a launch does not wait for the next tick. Without a
/// connection it waits forever; the tick connects it again, and relays
/// everything anyway.
#[derive(Default)]
pub(super) struct OutboxListener {
    listener: Option<sqlx::postgres::PgListener>,
}

impl OutboxListener {
    /// Listens, if not already (called every tick).
    pub(super) async fn connect(&mut self, pg: &store::PgPool) {
        if self.listener.is_some() {
            return;
        }
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(pg).await?;
            listener.listen("job_outbox").await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(listener) => self.listener = Some(listener),
            Err(e) => tracing::warn!(error = %e, "cannot listen for outbox jobs; relaying them every tick"),
        }
    }

    /// The next notification. A lost connection is dropped (the next tick
    /// connects again) rather than retried here.
    pub(super) async fn notified(&mut self) {
        let Some(listener) = self.listener.as_mut() else { return std::future::pending().await };
        match listener.try_recv().await {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => self.listener = None,
        }
    }
}

impl Pipeline {
    /// One scheduler tick; only one process runs it at a time (a Postgres
    /// advisory lock), so several replicas are safe. Each step runs even
    /// when another fails.
    pub(super) async fn tick(&self, relay: &mut Relay) -> anyhow::Result<bool> {
        let mut lock = self.pg.begin().await?;
        let leader: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('campaigns.scheduler'))")
            .fetch_one(&mut *lock)
            .await?;
        if !leader {
            return Ok(false);
        }
        let steps: [(&str, Result<(), anyhow::Error>); 8] = [
            ("launching due campaigns", self.launch_due(relay).await),
            ("checking Redis for lost data", self.check_epoch().await),
            ("sweeping", self.sweep().await),
            ("re-pushing lost work", self.repush_lost().await),
            ("forgetting reaches past the messaging window", self.prune_reaches().await),
            ("pacing by replies", self.pace_by_replies().await),
            ("fanning out", self.fan_out_all().await),
            ("marking fully sent", campaigns::mark_fully_sent(&self.pg).await.map(drop).map_err(Into::into)),
        ];
        for (step, result) in steps {
            if let Err(e) = result {
                tracing::warn!(error.cause_chain = %format!("{e:#}"), step, "scheduler tick step failed");
            }
        }
        lock.commit().await?;
        Ok(true)
    }

    async fn launch_due(&self, relay: &mut Relay) -> anyhow::Result<()> {
        let mut tx = self.pg.begin().await?;
        let started = campaigns::launch_due(&mut tx).await?;
        tx.commit().await?;
        if !started.is_empty() {
            tracing::info!(campaigns = ?started, "scheduled campaigns launched");
        }
        relay.relay_all().await?;
        Ok(())
    }

    /// Redis holds the queues, not the truth: when its data is gone (a
    /// flush, a restart without persistence) so is every queued recipient's
    /// job and every reply's. The epoch key in Redis, checked against the one
    /// recorded in Postgres (whichever process ran the tick before), tells:
    /// then every queued recipient is pushed again at once (each with a new
    /// dispatch number, so a job that did survive does nothing), and every
    /// reply waiting for its bot, rather than after the lost-work age.
    async fn check_epoch(&self) -> anyhow::Result<()> {
        let key = format!("{}campaigns:epoch", self.settings.queue_prefix);
        let mut redis = self.redis.clone();
        let in_redis: Option<String> = redis.get(&key).await?;
        let known = store::redis_epoch::get(&self.pg).await?;
        if in_redis.is_some() && in_redis == known {
            return Ok(());
        }
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let _: () = redis.set(&key, &fresh).await?;
        store::redis_epoch::set(&self.pg, &fresh).await?;
        if known.is_none() {
            return Ok(()); // the first tick of a new deployment
        }
        tracing::warn!("Redis lost its data (flushed or restarted empty); pushing every queued recipient again");
        // Every row queued before now, each once: the rows pushed again are
        // queued after the cutoff, so the paging ends.
        let cutoff = recipients::stale_cutoff(&self.pg, Duration::ZERO).await?;
        loop {
            let jobs = recipients::requeue_stale(&self.pg, cutoff, REPUSH_BATCH).await?;
            self.push_sends(&jobs).await?;
            if (jobs.len() as i64) < REPUSH_BATCH {
                break;
            }
        }
        for id in campaigns::stuck_launches(&self.pg, Duration::ZERO).await? {
            self.launches().push_task(TaskBuilder::new(LaunchJob { campaign_id: id }).build()).await?;
        }
        // Replies waiting for their bot: their jobs are gone too (a bot gets
        // the one that was in flight twice at worst, signed with its wamid).
        // One batch (a row it returns is due again at once, so paging would
        // return it again); any beyond it wait for the lost-work sweep.
        let replies = inbound::stale_deliveries(&self.pg, Duration::ZERO, 10 * REPUSH_BATCH).await?;
        let tasks: Vec<_> = replies.into_iter().map(|wamid| TaskBuilder::new(ReplyJob { wamid }).build()).collect();
        self.replies().push_all(futures::stream::iter(tasks)).await.context("re-pushing reply jobs")?;
        Ok(())
    }

    async fn sweep(&self) -> anyhow::Result<()> {
        let s = &self.settings;
        recipients::sweep_stuck_sending(&self.pg, s.stuck_sending, s.dead_worker).await?;
        let max_attempts = self.sender.policy.max_attempts;
        let settled =
            recipients::reconcile_in_doubt(&self.pg, s.reconcile_window, max_attempts, s.evidence, REPUSH_BATCH)
                .await?;
        if !settled.resent.is_empty() {
            tracing::info!(
                count = settled.resent.len(),
                "in-doubt sends proven never accepted by Meta; sending them again, once"
            );
            metrics::counter!("in_doubt_settled_total", "by" => "evidence").increment(settled.resent.len() as u64);
        }
        metrics::counter!("in_doubt_settled_total", "by" => "policy_failed").increment(settled.failed);
        metrics::counter!("in_doubt_settled_total", "by" => "policy_resent").increment(settled.requeued.len() as u64);
        self.push_sends(&settled.resent).await?;
        self.push_sends(&settled.requeued).await?;
        webhook_events::prune_ingest_seconds(&self.pg, INGEST_SECONDS_KEPT).await?;
        Ok(())
    }

    /// Launch jobs, send jobs and reply jobs lost from Redis (a failed push,
    /// a worker that died with them): pushed again without an idempotency
    /// key; each send job takes its row's next dispatch number, so it is the
    /// only live one.
    async fn repush_lost(&self) -> anyhow::Result<()> {
        for id in campaigns::stuck_launches(&self.pg, self.settings.lost_work).await? {
            tracing::warn!(campaign.id = id, "launch job lost; pushing it again");
            self.launches().push_task(TaskBuilder::new(LaunchJob { campaign_id: id }).build()).await?;
        }
        let cutoff = recipients::stale_cutoff(&self.pg, self.settings.lost_work).await?;
        let lost = recipients::requeue_stale(&self.pg, cutoff, REPUSH_BATCH).await?;
        if !lost.is_empty() {
            tracing::warn!(count = lost.len(), "send jobs lost; pushing them again");
        }
        self.push_sends(&lost).await.context("re-pushing send jobs")?;
        let replies = inbound::stale_deliveries(&self.pg, self.settings.lost_work, REPUSH_BATCH).await?;
        if !replies.is_empty() {
            tracing::warn!(count = replies.len(), "reply jobs lost; pushing them again");
            let tasks: Vec<_> = replies.into_iter().map(|wamid| TaskBuilder::new(ReplyJob { wamid }).build()).collect();
            self.replies().push_all(futures::stream::iter(tasks)).await.context("re-pushing reply jobs")?;
        }
        Ok(())
    }
}
