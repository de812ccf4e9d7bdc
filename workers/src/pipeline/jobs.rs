//! The queue consumers' handlers: send, reply, launch and report jobs, and
//! what each does when it must wait, retry or give up.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use queue::{
    DeadLetters, DeadQueue, JobError, LaunchJob, ReplyJob, ReportJob, SendJob,
    apalis::prelude::{Data, TaskBuilder, TaskId, TaskSink},
    janitor,
};
use redis::aio::ConnectionManager;
use store::{
    campaigns,
    recipients::{self, JobKey},
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{MEDIA_HORIZON, Pipeline, fan_out::TopUps};
use crate::{
    ledger::Ledger,
    reply::Delivered,
    send::{SendFailure, SendResult},
    telemetry::{JobOutcome, job_result},
};

/// Failures before the claim (the limiter or Postgres) a job survives; the
/// next one pauses its campaign: something systemic is wrong, and cycling
/// would only hide it.
pub const PRE_CLAIM_LIMIT: u16 = 8;

/// The longest back-off after failures before the claim.
const PRE_CLAIM_MAX_DELAY: Duration = Duration::from_secs(60);

impl Pipeline {
    /// One send job: send, and re-schedule it when it must wait or retry.
    async fn send(&self, context: &SendContext, job: SendJob) -> Result<JobOutcome, JobError> {
        let key = JobKey::new(job.campaign_id, job.contact_id, Some(job.dispatch));
        let (retry_after, failures) = match self.sender.send_with(&context.ledger, key, Some(&context.slots)).await {
            Ok(SendResult::Retry { after }) => (after, 0),
            Ok(SendResult::Waiting { after }) => {
                // The row's job is alive, only waiting: the lost-work sweep must not replace it.
                if let Err(e) = recipients::touch_queued(&self.pg, key).await {
                    tracing::debug!(error = %e, "marking a waiting send failed; the sweep may push it again");
                }
                (after, 0)
            }
            Ok(SendResult::Failed { code, attempts_exhausted: true }) => {
                // Dead-lettered, visible to operators; the ledger says `failed`.
                return Err(JobError::msg(format!("failed after the last attempt: {code}")));
            }
            Ok(_) => return Ok(JobOutcome::Ok),
            Err(SendFailure::BeforeClaim(e)) => {
                let failures = job.failures.saturating_add(1);
                metrics::counter!("send_job_failures_total", "stage" => "before_claim").increment(1);
                if failures >= PRE_CLAIM_LIMIT {
                    let reason = format!("sending keeps failing before it starts ({failures} times in a row): {e:#}");
                    let paused = campaigns::pause(&self.pg, job.campaign_id, "send_failing", &reason).await;
                    tracing::error!(campaign.id = job.campaign_id, %reason, paused = paused.is_ok(),
                        "campaign paused: sends keep failing before the claim");
                    return Ok(JobOutcome::Ok);
                }
                let after = self.sender.policy.base.saturating_mul(2u32.saturating_pow(u32::from(failures) - 1));
                tracing::warn!(error.cause_chain = %format!("{e:#}"), campaign.id = job.campaign_id, failures,
                    "send failed before the claim; retrying");
                (after.min(PRE_CLAIM_MAX_DELAY), failures)
            }
            Err(SendFailure::AfterClaim { error, retry_after }) => {
                metrics::counter!("send_job_failures_total", "stage" => "after_claim").increment(1);
                tracing::warn!(error.cause_chain = %format!("{error:#}"), campaign.id = job.campaign_id,
                    "send failed before the request; the recipient is back in the queue");
                (retry_after, 0)
            }
            Err(e @ SendFailure::Ambiguous(_)) => {
                // The row stays `sending`: the sweeper makes it in doubt. Never resent from here.
                metrics::counter!("send_job_failures_total", "stage" => "ambiguous").increment(1);
                tracing::warn!(error.cause_chain = %format!("{e:#}"), campaign.id = job.campaign_id,
                    "send failed after the request may have left; left for the sweeper");
                return Ok(JobOutcome::Ok);
            }
        };
        // No idempotency key: the job carries its dispatch number, so a copy cannot send twice.
        let task = TaskBuilder::new(SendJob { failures, ..job }).run_after(retry_after).build();
        self.sends().push_task(task).await.map_err(|e| JobError::msg(format!("re-queueing the send: {e}")))?;
        Ok(JobOutcome::Retry)
    }

    /// One reply job: deliver the message to its bot flow, and re-schedule
    /// it when the bot did not take it. After the last attempt the job fails
    /// into the dead letters (the message row says why).
    async fn reply(&self, job: ReplyJob) -> Result<JobOutcome, JobError> {
        let retry_after = match self.replier.deliver(&job.wamid).await {
            Ok(Delivered::Retry { after }) => after,
            Ok(Delivered::Dead { error }) => {
                return Err(JobError::msg(format!("gave up delivering the reply: {error}")));
            }
            Ok(Delivered::Routed | Delivered::NothingToDo) => return Ok(JobOutcome::Ok),
            Err(e) => {
                tracing::warn!(error.cause_chain = %format!("{e:#}"), wamid = %job.wamid, "reply job failed; retrying");
                Duration::from_secs(5)
            }
        };
        let task = TaskBuilder::new(job).run_after(retry_after).build();
        self.replies().push_task(task).await.map_err(|e| JobError::msg(format!("re-queueing the reply: {e}")))?;
        Ok(JobOutcome::Retry)
    }

    /// One launch job: plan the ledger once, then fill the first window.
    async fn launch(&self, job: LaunchJob) -> Result<JobOutcome, JobError> {
        let run = async {
            // A scheduled campaign may start weeks after its media was uploaded.
            self.sender.renew_header_media(job.campaign_id, MEDIA_HORIZON).await?;
            let mut tx = self.pg.begin().await?;
            let outcome = campaigns::plan(&mut tx, job.campaign_id).await?;
            tx.commit().await?;
            tracing::info!(campaign.id = job.campaign_id, ?outcome, "campaign planned");
            self.fan_out(job.campaign_id).await
        };
        run.await.map(|_| JobOutcome::Ok).map_err(|e: anyhow::Error| JobError::msg(format!("{e:#}")))
    }
}

/// What every send handler of a process shares.
#[derive(Debug)]
pub(super) struct SendContext {
    pub ledger: Ledger,
    pub top_ups: Arc<TopUps>,
    /// `SEND_CONCURRENCY`: the sends this process runs at once, from a
    /// job's turn in the limiter's line to its recorded outcome
    /// ([`crate::send::Sender::send_with`]).
    pub slots: Arc<Semaphore>,
}

/// A send job runs on a task of its own (taking one of the process's send
/// slots when its turn in the limiter's line comes): if the queue's worker is
/// restarted (its Redis connection failed) while a send waits for Meta's
/// answer, the send still finishes and records its outcome instead of being
/// dropped half-way (which would leave the row in doubt for nothing).
pub(super) async fn handle_send(
    job: SendJob,
    id: TaskId,
    pipeline: Data<Arc<Pipeline>>,
    context: Data<Arc<SendContext>>,
) -> Result<(), JobError> {
    let (pipeline, context) = ((*pipeline).clone(), (*context).clone());
    let running = tokio::spawn(async move {
        let started = Instant::now();
        let result = pipeline.send(&context, job).await;
        context.top_ups.sent(&pipeline, job.campaign_id);
        let result = job_result("send", started, result);
        pipeline.dying(DeadQueue::Send, &id, &job, &result).await;
        result
    });
    running.await.map_err(|e| JobError::msg(format!("the send task failed: {e}")))?
}

pub(super) async fn handle_launch(job: LaunchJob, id: TaskId, pipeline: Data<Arc<Pipeline>>) -> Result<(), JobError> {
    let started = Instant::now();
    let result = job_result("launch", started, pipeline.launch(job).await);
    pipeline.dying(DeadQueue::Launch, &id, &job, &result).await;
    result
}

pub(super) async fn handle_report(job: ReportJob, id: TaskId, pipeline: Data<Arc<Pipeline>>) -> Result<(), JobError> {
    let result = crate::report::handle(&pipeline.pg, job).await;
    pipeline.dying(DeadQueue::Report, &id, &job, &result).await;
    result
}

pub(super) async fn handle_reply(job: ReplyJob, pipeline: Data<Arc<Pipeline>>) -> Result<(), JobError> {
    // A dead reply is listed from its message row (`inbound_messages.dead_at`), not from Redis.
    let started = Instant::now();
    job_result("reply", started, pipeline.reply(job).await)
}

impl Pipeline {
    fn dead_letters(&self) -> DeadLetters {
        DeadLetters::new(self.pg.clone(), self.redis.clone(), self.settings.queue_prefix.clone())
    }

    /// A handler's error makes its task dead: index whose it is first, so
    /// its organization's dead-letter listing finds it without reading
    /// every dead task. Best effort: an unindexed task is still dead and
    /// found by the deployment's listing (and the next backfill).
    async fn dying<J: serde::Serialize>(&self, queue: DeadQueue, id: &TaskId, job: &J, result: &Result<(), JobError>) {
        if result.is_ok() {
            return;
        }
        let payload = serde_json::to_value(job).unwrap_or_default();
        if let Err(e) = self.dead_letters().index(queue, &id.to_string(), &payload).await {
            tracing::warn!(queue = %queue, error = %e, "indexing a dead task failed; only the deployment's listing shows it");
        }
    }
}

/// How often [`sweep_sends_done`] runs.
const SEND_DONE_SWEEP: Duration = Duration::from_secs(1);

/// The janitor's sweep of finished tasks, every second for the send queue:
/// apalis-redis keeps ~600 B per finished task until the janitor deletes it,
/// so at 4,000 sends/s its once-a-minute pass would let Redis grow by
/// ~150 MB between passes. Each call forgets at most a small batch, so a
/// large backlog is spread over many short calls.
pub(super) async fn sweep_sends_done(mut redis: ConnectionManager, queue: String, stop: CancellationToken) {
    let mut every = tokio::time::interval(SEND_DONE_SWEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        loop {
            match janitor::sweep_done_batch(&mut redis, &queue, janitor::BATCH).await {
                Ok(n) if n == janitor::BATCH => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(queue, error = %e, "sweeping finished sends failed; retrying next round");
                    break;
                }
            }
        }
    }
}
