//! The queue consumers (launch, send, reply, report), the status consumers
//! ([`crate::ingest`]) and the scheduler tick, wired on the `queue` crate's
//! storages, promoter, janitor, supervisor and outbox relay.
//!
//! Fan-out is bounded by design: each active campaign has at most its pace ×
//! [`Settings::window`] recipients queued, so no queue ever holds thousands
//! of due tasks (the apalis-redis wedge) and a finished or paused campaign
//! stops at once. The tick tops every campaign's window up; the launch job
//! fills the first window right after planning.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use queue::{
    Job, JobError, LaunchJob, QueueSettings, Relay, ReplyJob, ReportJob, SendJob, Supervisor,
    apalis::prelude::{Data, TaskBuilder, TaskSink, WorkerBuilder, WorkerBuilderExt},
    apalis_redis::RedisStorage,
    janitor, promoter, until_cancelled, worker_name,
};
use redis::aio::ConnectionManager;
use store::{PgPool, campaigns, inbound, recipients};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{
    ingest::{Ingest, IngestSettings},
    ledger::Ledger,
    reply::{Delivered, Replier},
    send::{SendResult, Sender},
    telemetry::{JobOutcome, job_result},
};

/// The default of [`Settings::window_max`] (`SEND_WINDOW_MAX`).
pub const DEFAULT_WINDOW_MAX: i64 = 1_000;

/// The highest [`Settings::window_max`] accepted: well below the ~8,000 due
/// tasks at which apalis-redis's `fetch_next` wedges a queue, with room for
/// retries and a second campaign's window in the same second.
pub const WINDOW_MAX_LIMIT: i64 = 5_000;

/// Lost rows (or replies) pushed again per sweep.
const REPUSH_BATCH: i64 = 1_000;

/// A header media id expiring sooner than this is renewed when its campaign
/// launches (the API uses the same horizon for "launch now").
const MEDIA_HORIZON: Duration = Duration::from_secs(7 * 24 * 3600);

/// How the pipeline runs; [`Settings::new`] has the production defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Unique per process start; part of every worker name.
    pub instance: String,
    /// Prepended to every queue name: empty in production, unique per test.
    pub queue_prefix: String,
    pub launch: bool,
    pub send: bool,
    pub scheduler: bool,
    /// Apply the webhook batches the API stored (the `status` queue).
    pub status: bool,
    /// Deliver inbound messages to bot flows (the `reply` queue).
    pub reply: bool,
    /// Build requested CSV reports (the `report` queue), and relay their jobs.
    pub report: bool,
    pub ingest: IngestSettings,
    /// apalis send workers per process; each runs the tasks it fetches concurrently.
    pub send_slots: usize,
    /// Seconds of pace kept queued per campaign.
    pub window: Duration,
    /// The most recipients one campaign may have queued or being sent at
    /// once (`SEND_WINDOW_MAX`), whatever its pace; clamped to
    /// 1..=[`WINDOW_MAX_LIMIT`]. Send workers top a campaign's window up
    /// after every quarter of it they finish, so a full window does not wait
    /// for the next tick.
    pub window_max: i64,
    pub tick: Duration,
    /// A `sending` row older than this is `in_doubt` (its sender died).
    pub stuck_sending: Duration,
    /// An `in_doubt` row older than this is settled by the campaign's policy.
    pub reconcile_window: Duration,
    /// A queued row (or a launch) older than this without progress is pushed again.
    pub lost_work: Duration,
}

impl Settings {
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            queue_prefix: String::new(),
            launch: true,
            send: true,
            scheduler: true,
            status: true,
            reply: true,
            report: true,
            ingest: IngestSettings::default(),
            send_slots: 4,
            window: Duration::from_secs(5),
            window_max: DEFAULT_WINDOW_MAX,
            tick: Duration::from_secs(1),
            stuck_sending: Duration::from_secs(120),
            reconcile_window: Duration::from_secs(600),
            lost_work: Duration::from_secs(60),
        }
    }

    fn queue<J: Job>(&self) -> QueueSettings {
        QueueSettings { queue: format!("{}{}", self.queue_prefix, J::QUEUE), ..QueueSettings::for_job::<J>() }
    }

    /// [`Settings::window_max`], within its bounds.
    fn window_cap(&self) -> i64 {
        self.window_max.clamp(1, WINDOW_MAX_LIMIT)
    }

    /// A send worker tops a campaign up after this many of its sends finish.
    fn top_up_every(&self) -> u32 {
        u32::try_from((self.window_cap() / 4).max(1)).unwrap_or(u32::MAX)
    }
}

/// What every handler shares.
#[derive(Debug)]
pub struct Pipeline {
    pub settings: Settings,
    pub pg: PgPool,
    pub redis: ConnectionManager,
    pub sender: Sender,
    pub replier: Replier,
}

impl Pipeline {
    fn sends(&self) -> RedisStorage<SendJob> {
        self.settings.queue::<SendJob>().storage(self.redis.clone())
    }

    fn launches(&self) -> RedisStorage<LaunchJob> {
        self.settings.queue::<LaunchJob>().storage(self.redis.clone())
    }

    fn replies(&self) -> RedisStorage<ReplyJob> {
        self.settings.queue::<ReplyJob>().storage(self.redis.clone())
    }

    /// The status consumers' state.
    pub fn ingest(&self) -> Ingest {
        Ingest {
            pg: self.pg.clone(),
            redis: self.redis.clone(),
            replies: self.settings.queue::<ReplyJob>(),
            callbacks: store::statuses::CallbackKey::new(&self.sender.cipher),
            settings: self.settings.ingest.clone(),
        }
    }

    /// Tops a campaign's queued window up to its pace × the window (at most
    /// [`Settings::window_max`]); returns how many send jobs were pushed.
    ///
    /// One process at a time per campaign (a transaction-scoped advisory
    /// lock; a caller that finds it taken does nothing, the holder is
    /// filling the same window), so the tick, the launch job and the send
    /// workers' top-ups in any number of processes never overfill it.
    pub async fn fan_out(&self, campaign_id: i64) -> anyhow::Result<usize> {
        let mut tx = self.pg.begin().await?;
        // The two-key form: its key space is apart from the scheduler's one-key lock.
        let mine: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('campaigns.fan_out'), $1)")
            .bind(i32::try_from(campaign_id.rem_euclid(1 << 31)).unwrap_or_default())
            .fetch_one(&mut *tx)
            .await?;
        if !mine {
            return Ok(0);
        }
        // `queue_next` takes the first planned rows through (campaign_id,
        // state). Half-way through a large campaign the statistics say half
        // the ledger is planned and the planner picks a sequential scan, which
        // reads every row already sent (at the start of the table) each time.
        sqlx::query("set local enable_seqscan = off").execute(&mut *tx).await?;
        let Some(limits) = recipients::send_limits(&mut *tx, campaign_id).await? else { return Ok(0) };
        let window = ((limits.pace_per_second() * self.settings.window.as_secs_f64()).ceil() as i64)
            .clamp(1, self.settings.window_cap());
        let room = window - campaigns::in_flight(&mut *tx, campaign_id).await?;
        if room <= 0 {
            return Ok(0);
        }
        let contacts = campaigns::queue_next(&mut *tx, campaign_id, room).await?;
        tx.commit().await?;
        let jobs: Vec<SendJob> = contacts.into_iter().map(|contact_id| SendJob { campaign_id, contact_id }).collect();
        self.push_sends(&jobs).await?;
        Ok(jobs.len())
    }

    /// Pushes send jobs. A failed push leaves the rows queued in Postgres;
    /// the tick's sweep pushes them again.
    ///
    /// Without idempotency keys: each row is pushed by the one fan-out that
    /// queued it (under the campaign's fan-out lock), re-pushes of lost work
    /// never had one, and the claim makes any duplicate harmless. A key per
    /// send would cost Redis ~100 B for its whole TTL: 50 MB at 4,000 sends/s
    /// with the hot queues' 2 minutes.
    async fn push_sends(&self, jobs: &[SendJob]) -> anyhow::Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let tasks: Vec<_> = jobs.iter().map(|j| TaskBuilder::new(*j).build()).collect();
        self.sends().push_all(futures::stream::iter(tasks)).await.context("pushing send jobs")?;
        Ok(())
    }

    /// One send job: send, and re-schedule it when it must wait or retry.
    async fn send(&self, ledger: &Ledger, job: SendJob) -> Result<JobOutcome, JobError> {
        let retry_after = match self.sender.send_with(ledger, job.campaign_id, job.contact_id).await {
            Ok(SendResult::Retry { after }) => after,
            Ok(SendResult::Failed { code, attempts_exhausted: true }) => {
                // Dead-lettered, visible to operators; the ledger says `failed`.
                return Err(JobError::msg(format!("failed after the last attempt: {code}")));
            }
            Ok(_) => return Ok(JobOutcome::Ok),
            Err(e) => {
                // Postgres or Redis trouble. Before the claim nothing changed;
                // after it the row was given back (or, if the request may have
                // left, stays for the sweeper to mark in doubt). Try again soon:
                // the claim decides whether there is anything left to do.
                tracing::warn!(error.cause_chain = ?e, campaign.id = job.campaign_id, "send job failed; retrying");
                Duration::from_secs(5)
            }
        };
        // No idempotency key (as in `push_sends`): the claim makes a duplicate harmless.
        let task = TaskBuilder::new(job).run_after(retry_after).build();
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
                tracing::warn!(error.cause_chain = ?e, wamid = %job.wamid, "reply job failed; retrying");
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

    /// One scheduler tick; only one process runs it at a time (a Postgres
    /// advisory lock), so several replicas are safe. Each step runs even
    /// when another fails.
    pub async fn tick(&self, relay: &mut Relay) -> anyhow::Result<bool> {
        let mut lock = self.pg.begin().await?;
        let leader: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('campaigns.scheduler'))")
            .fetch_one(&mut *lock)
            .await?;
        if !leader {
            return Ok(false);
        }
        let steps: [(&str, Result<(), anyhow::Error>); 5] = [
            ("launching due campaigns", self.launch_due(relay).await),
            ("sweeping", self.sweep().await),
            ("re-pushing lost work", self.repush_lost().await),
            ("fanning out", self.fan_out_all().await),
            ("marking fully sent", campaigns::mark_fully_sent(&self.pg).await.map(drop).map_err(Into::into)),
        ];
        for (step, result) in steps {
            if let Err(e) = result {
                tracing::warn!(error.cause_chain = ?e, step, "scheduler tick step failed");
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

    async fn sweep(&self) -> anyhow::Result<()> {
        recipients::sweep_stuck_sending(&self.pg, self.settings.stuck_sending).await?;
        let max_attempts = self.sender.policy.max_attempts;
        recipients::reconcile_in_doubt(&self.pg, self.settings.reconcile_window, max_attempts).await?;
        Ok(())
    }

    /// Launch jobs and send jobs lost from Redis (flushed, a failed push),
    /// pushed again without an idempotency key: the first push's key may
    /// still live and would swallow them, and the claim makes a duplicate
    /// harmless.
    async fn repush_lost(&self) -> anyhow::Result<()> {
        for id in campaigns::stuck_launches(&self.pg, self.settings.lost_work).await? {
            tracing::warn!(campaign.id = id, "launch job lost; pushing it again");
            self.launches().push_task(TaskBuilder::new(LaunchJob { campaign_id: id }).build()).await?;
        }
        let lost = recipients::requeue_stale(&self.pg, self.settings.lost_work, REPUSH_BATCH).await?;
        if !lost.is_empty() {
            let tasks: Vec<_> = lost
                .into_iter()
                .map(|(campaign_id, contact_id)| TaskBuilder::new(SendJob { campaign_id, contact_id }).build())
                .collect();
            self.sends().push_all(futures::stream::iter(tasks)).await.context("re-pushing send jobs")?;
        }
        let replies = inbound::stale_deliveries(&self.pg, self.settings.lost_work, REPUSH_BATCH).await?;
        if !replies.is_empty() {
            tracing::warn!(count = replies.len(), "reply jobs lost; pushing them again");
            let tasks: Vec<_> = replies.into_iter().map(|wamid| TaskBuilder::new(ReplyJob { wamid }).build()).collect();
            self.replies().push_all(futures::stream::iter(tasks)).await.context("re-pushing reply jobs")?;
        }
        Ok(())
    }

    async fn fan_out_all(&self) -> anyhow::Result<()> {
        for id in campaigns::sending(&self.pg).await? {
            self.fan_out(id).await?;
        }
        Ok(())
    }
}

async fn handle_send(
    job: SendJob,
    pipeline: Data<Arc<Pipeline>>,
    ledger: Data<Ledger>,
    top_ups: Data<Arc<TopUps>>,
) -> Result<(), JobError> {
    let started = Instant::now();
    let result = pipeline.send(&ledger, job).await;
    top_ups.sent(&pipeline, job.campaign_id);
    job_result("send", started, result)
}

/// How often [`sweep_sends_done`] runs.
const SEND_DONE_SWEEP: Duration = Duration::from_secs(1);

/// The janitor's sweep of finished tasks, every second for the send queue:
/// apalis-redis keeps ~600 B per finished task until the janitor deletes it,
/// so at 4,000 sends/s its once-a-minute pass would let Redis grow by
/// ~150 MB between passes. Each call forgets at most a small batch, so a
/// large backlog is spread over many short calls.
async fn sweep_sends_done(mut redis: ConnectionManager, queue: String, stop: CancellationToken) {
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

/// The send workers' share of the fan-out: the tick tops each window up
/// once a second, which caps a campaign at `window_max` sends per second;
/// so each process also tops a campaign up after every
/// [`Settings::top_up_every`] of its own sends finish (one top-up per
/// campaign at a time in a process; [`Pipeline::fan_out`]'s lock keeps
/// processes apart). A slow campaign's window is never drained by that many
/// between ticks, so for it this is a rare, cheap no-op.
#[derive(Debug, Default)]
struct TopUps {
    campaigns: std::sync::Mutex<std::collections::HashMap<i64, TopUp>>,
}

#[derive(Debug, Default)]
struct TopUp {
    sent: u32,
    running: bool,
}

impl TopUps {
    fn sent(self: &Arc<Self>, pipeline: &Arc<Pipeline>, campaign_id: i64) {
        {
            let mut campaigns = self.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if campaigns.len() >= 10_000 {
                // Counts of campaigns long finished; only running top-ups matter.
                campaigns.retain(|_, t| t.running);
            }
            let entry = campaigns.entry(campaign_id).or_default();
            entry.sent += 1;
            if entry.running || entry.sent < pipeline.settings.top_up_every() {
                return;
            }
            *entry = TopUp { sent: 0, running: true };
        }
        let (top_ups, pipeline) = (self.clone(), pipeline.clone());
        tokio::spawn(async move {
            match pipeline.fan_out(campaign_id).await {
                Ok(pushed) => tracing::trace!(campaign.id = campaign_id, pushed, "window topped up"),
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, campaign.id = campaign_id, "topping the window up failed")
                }
            }
            let mut campaigns = top_ups.campaigns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // A campaign that stopped sending leaves nothing behind.
            if campaigns.get(&campaign_id).is_some_and(|t| t.sent == 0) {
                campaigns.remove(&campaign_id);
            } else if let Some(t) = campaigns.get_mut(&campaign_id) {
                t.running = false;
            }
        });
    }
}

async fn handle_launch(job: LaunchJob, pipeline: Data<Arc<Pipeline>>) -> Result<(), JobError> {
    let started = Instant::now();
    job_result("launch", started, pipeline.launch(job).await)
}

async fn handle_report(job: ReportJob, pipeline: Data<Arc<Pipeline>>) -> Result<(), JobError> {
    crate::report::handle(&pipeline.pg, job).await
}

async fn handle_reply(job: ReplyJob, pipeline: Data<Arc<Pipeline>>) -> Result<(), JobError> {
    let started = Instant::now();
    job_result("reply", started, pipeline.reply(job).await)
}

/// Starts what `settings` asks for and runs until `stop`.
pub async fn run(pipeline: Arc<Pipeline>, stop: CancellationToken) {
    let s = &pipeline.settings;
    let mut tasks = JoinSet::new();
    let supervisor = Supervisor::new(Duration::from_millis(200), Duration::from_secs(10));
    let mut queues: Vec<QueueSettings> = Vec::new();
    if s.send {
        queues.push(s.queue::<SendJob>());
        let top_ups = Arc::new(TopUps::default());
        // One per process: the more sends share it, the larger its batches.
        let ledger = Ledger::batched(pipeline.pg.clone());
        for slot in 0..s.send_slots.max(1) {
            let (p, sup, stop) = (pipeline.clone(), supervisor.clone(), stop.clone());
            let (top_ups, ledger) = (top_ups.clone(), ledger.clone());
            tasks.spawn(async move {
                let q = p.settings.queue::<SendJob>();
                sup.run(&q.queue.clone(), stop.clone(), |restart| {
                    WorkerBuilder::new(worker_name(&q.queue, &p.settings.instance, slot, restart))
                        .backend(q.worker_storage::<SendJob>(p.redis.clone()))
                        .data(p.clone())
                        .data(ledger.clone())
                        .data(top_ups.clone())
                        .build(handle_send)
                        .run_until(until_cancelled(stop.clone()))
                })
                .await;
            });
        }
    }
    if s.launch {
        queues.push(s.queue::<LaunchJob>());
        let (p, sup, stop) = (pipeline.clone(), supervisor.clone(), stop.clone());
        tasks.spawn(async move {
            let q = p.settings.queue::<LaunchJob>();
            sup.run(&q.queue.clone(), stop.clone(), |restart| {
                WorkerBuilder::new(worker_name(&q.queue, &p.settings.instance, 0, restart))
                    .backend(q.worker_storage::<LaunchJob>(p.redis.clone()))
                    .data(p.clone())
                    .build(handle_launch)
                    .run_until(until_cancelled(stop.clone()))
            })
            .await;
        });
    }
    if s.reply {
        queues.push(s.queue::<ReplyJob>());
        let (p, sup, stop) = (pipeline.clone(), supervisor.clone(), stop.clone());
        tasks.spawn(async move {
            let q = p.settings.queue::<ReplyJob>();
            sup.run(&q.queue.clone(), stop.clone(), |restart| {
                WorkerBuilder::new(worker_name(&q.queue, &p.settings.instance, 0, restart))
                    .backend(q.worker_storage::<ReplyJob>(p.redis.clone()))
                    .data(p.clone())
                    .build(handle_reply)
                    .run_until(until_cancelled(stop.clone()))
            })
            .await;
        });
    }
    if s.report {
        queues.push(s.queue::<ReportJob>());
        let (pg, redis) = (pipeline.pg.clone(), pipeline.redis.clone());
        tasks.spawn(crate::report::relay(pg, redis, s.queue::<ReportJob>(), s.tick, stop.clone()));
        let (p, sup, stop) = (pipeline.clone(), supervisor.clone(), stop.clone());
        tasks.spawn(async move {
            let q = p.settings.queue::<ReportJob>();
            sup.run(&q.queue.clone(), stop.clone(), |restart| {
                WorkerBuilder::new(worker_name(&q.queue, &p.settings.instance, 0, restart))
                    .backend(q.worker_storage::<ReportJob>(p.redis.clone()))
                    .concurrency(crate::report::CONCURRENCY)
                    .data(p.clone())
                    .build(handle_report)
                    .run_until(until_cancelled(stop.clone()))
            })
            .await;
        });
    }
    if s.status {
        tasks.spawn(pipeline.ingest().run(stop.clone()));
    }
    if !queues.is_empty() {
        let names = queues.iter().map(|q| q.queue.clone()).collect();
        tasks.spawn(promoter::run(pipeline.redis.clone(), names, stop.clone()));
        tasks.spawn(janitor::run(pipeline.redis.clone(), queues, Duration::from_secs(60), stop.clone()));
    }
    if s.send {
        tasks.spawn(sweep_sends_done(pipeline.redis.clone(), s.queue::<SendJob>().queue, stop.clone()));
    }
    if s.scheduler {
        let (p, stop) = (pipeline.clone(), stop.clone());
        tasks.spawn(async move {
            let routes = [
                (LaunchJob::OUTBOX_KIND.to_owned(), p.settings.queue::<LaunchJob>()),
                (ReportJob::OUTBOX_KIND.to_owned(), p.settings.queue::<ReportJob>()),
            ];
            let mut relay = Relay::new(p.pg.clone(), p.redis.clone(), routes);
            let mut every = tokio::time::interval(p.settings.tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => {
                        if let Err(e) = p.tick(&mut relay).await {
                            tracing::warn!(error.cause_chain = ?e, "scheduler tick failed");
                        }
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
