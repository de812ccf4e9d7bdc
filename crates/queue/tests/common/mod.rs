//! Shared test helpers: a Redis connection, a unique queue namespace per
//! test, deadline polling instead of sleeps, and supervised counting workers.
#![allow(dead_code, clippy::unwrap_used)]

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use queue::{
    JobError, QueueSettings, SendJob, Supervisor,
    apalis::prelude::{Data, TaskBuilder, TaskSink, WorkerBuilder},
    until_cancelled, worker_name,
};
use redis::aio::ConnectionManager;
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:56379".into())
}

pub async fn redis() -> ConnectionManager {
    queue::connect(&redis_url()).await.expect("Redis at REDIS_URL (scripts/services up)")
}

/// A queue name no other test (or run) uses.
pub fn unique_queue(what: &str) -> String {
    format!("test-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// Settings for tests: hot-queue settings with a short orphan window.
pub fn test_settings(queue: &str) -> QueueSettings {
    QueueSettings { heartbeat: Duration::from_secs(1), missed_heartbeats: 3, ..QueueSettings::hot(queue) }
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `deadline`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < end, "timed out after {deadline:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pushes `n` send jobs in chunks of 1,000 (each lands in `{q}:scheduled`).
pub async fn push_sends(conn: &ConnectionManager, settings: &QueueSettings, n: usize) {
    let mut storage = settings.storage::<SendJob>(conn.clone());
    let jobs: Vec<_> = (0..n as i64).map(|i| SendJob::new(1, i, 0)).collect();
    for chunk in jobs.chunks(1_000) {
        let tasks = chunk.iter().map(|j| TaskBuilder::new(*j).build()).collect::<Vec<_>>();
        storage.push_all(futures::stream::iter(tasks)).await.unwrap();
    }
}

/// What the counting handler does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Succeed,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Hits {
    pub count: Arc<AtomicUsize>,
    pub first_at: Arc<std::sync::Mutex<Option<Instant>>>,
    pub behaviour: Behaviour,
}

impl Hits {
    pub fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

async fn handle(_job: SendJob, hits: Data<Hits>) -> Result<(), JobError> {
    hits.first_at.lock().unwrap().get_or_insert_with(Instant::now);
    hits.count.fetch_add(1, Ordering::SeqCst);
    match hits.behaviour {
        Behaviour::Succeed => Ok(()),
        Behaviour::Fail => Err(JobError::msg("the handler failed")),
    }
}

/// Supervised counting workers on `settings.queue`.
pub struct Workers {
    pub hits: Hits,
    pub supervisor: Supervisor,
    pub stop: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    pub fn start(conn: &ConnectionManager, settings: &QueueSettings, slots: usize, behaviour: Behaviour) -> Self {
        let hits = Hits { count: Arc::default(), first_at: Arc::default(), behaviour };
        let supervisor = Supervisor::new(Duration::from_millis(50), Duration::from_millis(500));
        let stop = CancellationToken::new();
        let handles = (0..slots)
            .map(|slot| {
                let (conn, settings, hits, supervisor, stop) =
                    (conn.clone(), settings.clone(), hits.clone(), supervisor.clone(), stop.clone());
                tokio::spawn(async move {
                    supervisor
                        .run(&settings.queue.clone(), stop.clone(), |restart| {
                            let name = worker_name(&settings.queue, "test-host-boot", slot, restart);
                            WorkerBuilder::new(name)
                                .backend(settings.worker_storage::<SendJob>(conn.clone()))
                                .data(hits.clone())
                                .build(handle)
                                .run_until(until_cancelled(stop.clone()))
                        })
                        .await
                })
            })
            .collect();
        Self { hits, supervisor, stop, handles }
    }

    pub async fn shutdown(self) {
        self.stop.cancel();
        for h in self.handles {
            tokio::time::timeout(Duration::from_secs(10), h).await.expect("workers stop").unwrap();
        }
    }
}

/// Every key of a test queue (SCAN, for assertions and cleanup).
pub async fn keys_of(conn: &mut ConnectionManager, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{queue}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .unwrap();
        out.extend(keys);
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

pub async fn cleanup(conn: &mut ConnectionManager, queue: &str) {
    for key in keys_of(conn, queue).await {
        let _: () = redis::AsyncCommands::del(conn, key).await.unwrap();
    }
}
