//! The queue consumers (launch, send, reply, report: `jobs`), the status
//! consumers ([`crate::ingest`]), the fan-out (`fan_out`) and the
//! scheduler tick (`scheduler`), wired on the `queue` crate's storages,
//! promoter, janitor, supervisor and outbox relay.
//!
//! Fan-out is bounded by design: each active campaign has at most its pace ×
//! [`Settings::window`] recipients queued, so no queue ever holds thousands
//! of due tasks (the apalis-redis wedge) and a finished or paused campaign
//! stops at once. The tick tops every campaign's window up; the launch job
//! fills the first window right after planning.

mod fan_out;
mod jobs;
mod limits;
mod pacing;
mod scheduler;

use std::{sync::Arc, time::Duration};

use queue::{
    Job, LaunchJob, QueueSettings, Relay, ReplyJob, ReportJob, SendJob, Supervisor,
    apalis::prelude::{WorkerBuilder, WorkerBuilderExt},
    apalis_redis::RedisStorage,
    janitor, promoter, until_cancelled, worker_name,
};
use redis::aio::ConnectionManager;
use store::{PgPool, recipients::Evidence};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

pub use self::jobs::PRE_CLAIM_LIMIT;
use self::{
    fan_out::TopUps,
    jobs::{SendContext, handle_launch, handle_reply, handle_report, handle_send, sweep_sends_done},
};
use crate::{
    ingest::{Ingest, IngestSettings},
    ledger::Ledger,
    reply::Replier,
    send::Sender,
};

/// The default of [`Settings::window_max`] (`SEND_WINDOW_MAX`).
pub const DEFAULT_WINDOW_MAX: i64 = 1_000;

/// The highest [`Settings::window_max`] accepted: well below the ~8,000 due
/// tasks at which apalis-redis's `fetch_next` wedges a queue, with room for
/// retries and a second campaign's window in the same second.
pub const WINDOW_MAX_LIMIT: i64 = 5_000;

/// Lost rows (or replies) pushed again per sweep.
const REPUSH_BATCH: i64 = 1_000;

/// The default of [`Settings::send_concurrency`] (`SEND_CONCURRENCY`).
pub const DEFAULT_SEND_CONCURRENCY: usize = 512;

/// apalis send workers per process: they share the process's send slots.
const SEND_WORKERS: usize = 4;

/// Send jobs a process holds per send slot. Only the first job of each
/// limiter line holds a slot while it waits (see `Sender::send_with`); the
/// rest wait in line without one, so a process takes the seconds of pace
/// its paced campaigns keep queued off the queue, and a campaign launched
/// behind them is fetched at once rather than after them.
pub const JOBS_PER_SLOT: usize = 8;

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
    /// The most sends this process runs at once (`SEND_CONCURRENCY`): it
    /// bounds the tasks a process holds, and so what its death orphans.
    pub send_concurrency: usize,
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
    /// A worker process not seen for this long is dead: its `sending` rows
    /// are in doubt at once.
    pub dead_worker: Duration,
    /// When an in-doubt send is proven never accepted ([`Evidence`]).
    pub evidence: Evidence,
    /// An `in_doubt` row older than this is settled by the campaign's policy
    /// (`IN_DOUBT_RECONCILE_SECS`).
    pub reconcile_window: Duration,
    /// A queued row (or a launch) older than this without progress is pushed again.
    /// (Longer than the send policy's `max_limiter_wait`: a job waiting for
    /// the limiter marks its row when it goes back to the queue.)
    pub lost_work: Duration,
    /// Dead letters older than this are forgotten (`DEAD_LETTER_RETENTION_DAYS`).
    pub dead_letter_retention: Duration,
    /// Meta's moving messaging-limit window (`MESSAGING_LIMIT_WINDOW_SECS`).
    pub messaging_window: Duration,
    /// How often each number's messaging tier is read from Meta (`TIER_REFRESH_SECS`).
    pub tier_refresh: Duration,
    /// What reply-aware pacing measures the reply rate over (`REPLY_PACING_WINDOW_SECS`).
    pub reply_window: Duration,
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
            send_concurrency: DEFAULT_SEND_CONCURRENCY,
            window: Duration::from_secs(5),
            window_max: DEFAULT_WINDOW_MAX,
            tick: Duration::from_secs(1),
            stuck_sending: Duration::from_secs(120),
            dead_worker: Duration::from_secs(5),
            evidence: Evidence {
                margin: Duration::from_secs(15),
                settle_after: Duration::from_secs(25),
                outage_grace: Duration::from_secs(20),
            },
            reconcile_window: Duration::from_secs(600),
            lost_work: Duration::from_secs(60),
            dead_letter_retention: Duration::from_secs(14 * 86_400),
            messaging_window: Duration::from_secs(domain::messaging_limit::DEFAULT_WINDOW_SECS),
            tier_refresh: Duration::from_secs(3_600),
            reply_window: Duration::from_secs(600),
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
}

/// Starts what `settings` asks for and runs until `stop`.
pub async fn run(pipeline: Arc<Pipeline>, stop: CancellationToken) {
    let s = &pipeline.settings;
    let mut tasks = JoinSet::new();
    // A worker whose Redis connection failed (Redis restarted) is back within
    // two seconds of Redis.
    let supervisor = Supervisor::new(Duration::from_millis(200), Duration::from_secs(2));
    let mut queues: Vec<QueueSettings> = Vec::new();
    if s.send {
        queues.push(s.queue::<SendJob>());
        let context = Arc::new(SendContext {
            // One per process: the more sends share it, the larger its batches.
            ledger: Ledger::batched(pipeline.pg.clone(), &s.instance),
            top_ups: Arc::new(TopUps::default()),
            slots: Arc::new(Semaphore::new(s.send_concurrency.max(1))),
        });
        // Each worker holds at most its share of JOBS_PER_SLOT × the slots.
        let per_worker = (s.send_concurrency * JOBS_PER_SLOT).div_ceil(SEND_WORKERS).max(1);
        for slot in 0..SEND_WORKERS {
            let (p, sup, stop, context) = (pipeline.clone(), supervisor.clone(), stop.clone(), context.clone());
            tasks.spawn(async move {
                let q = p.settings.queue::<SendJob>();
                let q = QueueSettings { batch_size: q.batch_size.min(per_worker), ..q };
                sup.run(&q.queue.clone(), stop.clone(), |restart| {
                    WorkerBuilder::new(worker_name(&q.queue, &p.settings.instance, slot, restart))
                        .backend(q.worker_storage::<SendJob>(p.redis.clone()))
                        .concurrency(per_worker)
                        .data(p.clone())
                        .data(context.clone())
                        .build(handle_send)
                        .run_until(until_cancelled(stop.clone()))
                })
                .await;
            });
        }
    }
    // One supervised apalis worker of a queue; `concurrency`, when given, caps its tasks at once.
    macro_rules! consumer {
        ($job:ty, $handler:expr $(, concurrency = $n:expr)?) => {{
            queues.push(s.queue::<$job>());
            let (p, sup, stop) = (pipeline.clone(), supervisor.clone(), stop.clone());
            tasks.spawn(async move {
                let q = p.settings.queue::<$job>();
                sup.run(&q.queue.clone(), stop.clone(), |restart| {
                    WorkerBuilder::new(worker_name(&q.queue, &p.settings.instance, 0, restart))
                        .backend(q.worker_storage::<$job>(p.redis.clone()))
                        $(.concurrency($n))?
                        .data(p.clone())
                        .build($handler)
                        .run_until(until_cancelled(stop.clone()))
                })
                .await;
            });
        }};
    }
    if s.launch {
        consumer!(LaunchJob, handle_launch);
    }
    if s.reply {
        consumer!(ReplyJob, handle_reply);
    }
    if s.report {
        let (pg, redis) = (pipeline.pg.clone(), pipeline.redis.clone());
        tasks.spawn(crate::report::relay(pg, redis, s.queue::<ReportJob>(), s.tick, stop.clone()));
        consumer!(ReportJob, handle_report, concurrency = crate::report::CONCURRENCY);
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
        tasks.spawn(scheduler::trim_dead_letters(pipeline.clone(), stop.clone()));
        tasks.spawn(limits::refresh_tiers(pipeline.clone(), stop.clone()));
        let (p, stop) = (pipeline.clone(), stop.clone());
        tasks.spawn(async move {
            let routes = [
                (LaunchJob::OUTBOX_KIND.to_owned(), p.settings.queue::<LaunchJob>()),
                (ReportJob::OUTBOX_KIND.to_owned(), p.settings.queue::<ReportJob>()),
            ];
            let mut relay = Relay::new(p.pg.clone(), p.redis.clone(), routes);
            let mut every = tokio::time::interval(p.settings.tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut outbox = scheduler::OutboxListener::default();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => {
                        if let Err(e) = p.tick(&mut relay).await {
                            tracing::warn!(error.cause_chain = %format!("{e:#}"), "scheduler tick failed");
                        }
                        outbox.connect(&p.pg).await;
                    }
                    () = outbox.notified() => {
                        if let Err(e) = relay.relay_all().await {
                            tracing::warn!(error.cause_chain = %format!("{e:#}"), "relaying the outbox failed");
                        }
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
