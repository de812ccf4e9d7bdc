//! Storage settings that avoid apalis-redis 1.0's verified defects
//! (../shared/reference/apalis-redis-1.0.md; docs/queues.md has the table).

use std::time::Duration;

use apalis::prelude::{BackendExt, IntervalStrategy, PollWith};
use apalis_redis::{Config, RedisStorage};
use redis::{
    RedisResult,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use crate::Job;

/// How long a Redis command may take before it fails. redis-rs's default is
/// 500 ms, which under load turned into fatal worker errors (apalis-redis#76);
/// a slow Redis should slow the worker down, not kill it.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the one connection a process shares (it is cheap to clone). Ours,
/// not `apalis_redis::connect`, for the response timeout and reconnection.
///
/// apalis-redis 1.0 depends on `redis ^1.7.1`, the same major version as the
/// workspace's `redis = "1"`, so Cargo builds one `redis` crate and this
/// `ConnectionManager` is exactly the type `RedisStorage::new` takes.
pub async fn connect(url: &str) -> RedisResult<ConnectionManager> {
    connect_client(redis::Client::open(url)?).await
}

/// [`connect`] with a client built elsewhere: the processes pass
/// `process::ConnectionArgs::redis_client()`, which carries TLS
/// (`rediss://`, `REDIS_CA_FILE`) and the ACL user of `REDIS_URL`.
pub async fn connect_client(client: redis::Client) -> RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(6)
        .set_max_delay(Duration::from_secs(2));
    client.get_connection_manager_with_config(config).await
}

/// The apalis-redis knobs we set for one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// The Redis queue name (no `:`).
    pub queue: String,
    /// Tasks per `fetch_next.lua` call.
    pub batch_size: usize,
    /// How often a worker heartbeats (and recovers dead peers' tasks).
    pub heartbeat: Duration,
    /// Heartbeats a worker may miss before peers take its in-flight tasks.
    /// `Config::default()` has 10 (5 minutes), not the documented 2.
    pub missed_heartbeats: usize,
    /// How long an idempotency key dedupes. `None` would make apalis send
    /// `EXPIRE key 0`, which deletes the claim at once: keys never dedupe.
    pub idempotency_ttl: Duration,
    /// How often an idle worker looks for work. Without a poll strategy a
    /// worker that found the queue empty waits for its next heartbeat.
    pub poll_interval: Duration,
    /// Per-task leases in the meta hash. On, every lease runs an `LREM` over
    /// the whole active list: cost proportional to the backlog, per task.
    pub lock_tasks: bool,
}

impl QueueSettings {
    /// A high-volume queue (send, status, reply): no leases, and a short
    /// dedupe window, since every key costs Redis memory until it expires.
    pub fn hot(queue: &str) -> Self {
        Self {
            queue: queue.to_owned(),
            batch_size: 100,
            // A killed worker's tasks are back in the queue within ~4 s.
            heartbeat: Duration::from_secs(2),
            missed_heartbeats: 2,
            // Every send leaves a key until it expires: at 1,000 sends/s two
            // minutes is ~120k keys (~12 MB); enough to absorb a duplicated
            // push from the launch job and the tick racing. Re-pushes of lost
            // work go without a key (the ledger claim dedupes them).
            idempotency_ttl: Duration::from_secs(120),
            poll_interval: Duration::from_millis(50),
            lock_tasks: false,
        }
    }

    /// A low-volume queue (launch, report): small batches, keys kept a day.
    pub fn low_volume(queue: &str) -> Self {
        Self { batch_size: 4, idempotency_ttl: Duration::from_secs(86_400), ..Self::hot(queue) }
    }

    /// Settings for a job type's queue.
    pub fn for_job<J: Job>() -> Self {
        Self::for_queue(J::QUEUE)
    }

    /// Settings for one of our queues: hot for sends, low-volume otherwise.
    pub fn for_queue(queue: &str) -> Self {
        if queue == crate::SendJob::QUEUE { Self::hot(queue) } else { Self::low_volume(queue) }
    }

    /// The window after which a silent worker's tasks go back to the queue.
    pub fn orphan_window(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats as u32
    }

    /// The apalis-redis `Config`.
    pub fn config(&self) -> Config {
        assert!(!self.queue.contains(':'), "queue names must not contain ':' ({})", self.queue);
        assert!(
            self.idempotency_ttl >= Duration::from_secs(1),
            "apalis sends the TTL in whole seconds; 0 deletes the key"
        );
        Config::default()
            .queue(&self.queue)
            .batch_size(self.batch_size)
            .heartbeat_interval(self.heartbeat)
            .missed_heartbeats(self.missed_heartbeats)
            .idempotency_ttl(Some(self.idempotency_ttl))
            .lock_tasks(self.lock_tasks)
            // Nothing subscribes: we poll. Publishing per task costs ~20 %.
            .emit_events(false)
            // Never off on Redis: without results ids never leave the
            // in-flight set and run again when the worker's entry expires.
            .persist_results(true)
    }

    /// A storage for pushing (a clone used only to push never registers as
    /// a worker).
    pub fn storage<Args>(&self, conn: ConnectionManager) -> RedisStorage<Args> {
        RedisStorage::new(conn).with_config(self.config())
    }

    /// A storage for a worker: polls every [`Self::poll_interval`] while idle.
    pub fn worker_storage<Args>(&self, conn: ConnectionManager) -> PollWith<RedisStorage<Args>, IntervalStrategy> {
        self.storage(conn).poll_with_interval(self.poll_interval)
    }
}

/// A worker name unique to this process start and restart, e.g.
/// `campaigns.send@host-01HX….w0.r2`. Two processes sharing a name keep each
/// other's heartbeat fresh (a crashed peer's tasks are never recovered), and
/// re-registering a name seen within the orphan window fails.
pub fn worker_name(queue: &str, instance: &str, slot: usize, restart: u64) -> String {
    format!("{queue}@{instance}.w{slot}.r{restart}")
}
