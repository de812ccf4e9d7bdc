//! One regression test per apalis-redis 1.0 workaround (docs/queues.md).
//! Real Redis at REDIS_URL; every test has its own queue names.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use queue::{
    SendJob,
    apalis::prelude::{TaskBuilder, TaskSink},
    gauges::queue_gauges,
    janitor, promoter,
};
use redis::AsyncCommands;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Defect: fetch_next.lua promotes every due id with one unpack, which fails
/// from ~8,000 ids, and every push lands in the scheduled set, so a backlog
/// built while no consumer runs wedged the queue. With the promoter and the
/// supervisor, 20,000 drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_tasks_pushed_without_consumers_all_drain() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("wedge"));
    push_sends(&conn, &settings, 20_000).await;
    let before = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!(before.scheduled, 20_000, "every push lands in the scheduled set: the wedge's precondition");

    let stop = CancellationToken::new();
    let promoter = tokio::spawn(promoter::run(conn.clone(), vec![settings.queue.clone()], stop.clone()));
    let workers = Workers::start(&conn, &settings, 2, Behaviour::Succeed);
    wait_until("all 20,000 tasks handled", Duration::from_secs(40), || async { workers.hits.get() >= 20_000 }).await;
    assert_eq!(workers.hits.get(), 20_000);
    workers.shutdown().await;
    stop.cancel();
    promoter.await.unwrap();
    let after = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!((after.active, after.scheduled, after.dead), (0, 0, 0));
    cleanup(&mut conn, &settings.queue).await;
}

/// The promoter moves at most a slice per call, so one call never unpacks
/// more than the limit however many are due.
#[tokio::test]
async fn the_promoter_moves_due_tasks_in_slices() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("slices"));
    push_sends(&conn, &settings, 2_500).await;
    assert_eq!(promoter::promote_slice(&mut conn, &settings.queue, 1_000).await.unwrap(), 1_000);
    assert_eq!(promoter::promote_due(&mut conn, &settings.queue).await.unwrap(), 1_500);
    let g = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!((g.active, g.scheduled), (2_500, 0));
    cleanup(&mut conn, &settings.queue).await;
}

/// Defect: with no idempotency TTL apalis runs `EXPIRE key 0`, deleting the
/// claim at once, so the same key pushed twice gave two tasks.
#[tokio::test]
async fn the_same_idempotency_key_pushed_twice_is_one_task() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("idem"));
    let mut storage = settings.storage::<SendJob>(conn.clone());
    let job = SendJob::new(7, 9, 0);
    for _ in 0..2 {
        storage.push_task(TaskBuilder::new(job).idempotency_key(job.dedupe_key()).build()).await.unwrap();
    }
    let g = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!(g.active + g.scheduled, 1, "one task for one key");
    let ttl: i64 = conn.ttl(format!("{}:idempotency:{}", settings.queue, job.dedupe_key())).await.unwrap();
    assert!(ttl > 0, "the claim lives with a TTL, got {ttl}");
    cleanup(&mut conn, &settings.queue).await;
}

/// Defect: an idle worker only looked again at its next heartbeat (30 s).
/// With the poll interval a new task is picked up within ~300 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_picks_up_a_new_task_within_300_ms() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("pickup"));
    let workers = Workers::start(&conn, &settings, 1, Behaviour::Succeed);
    let workers_key = format!("{}:workers", settings.queue);
    wait_until("the worker registered", Duration::from_secs(5), || {
        let mut conn = conn.clone();
        let key = workers_key.clone();
        async move { conn.zcard::<_, u64>(key).await.unwrap() == 1 }
    })
    .await;
    // Let it go idle: several empty fetches.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pushed = Instant::now();
    push_sends(&conn, &settings, 1).await;
    wait_until("the task ran", Duration::from_secs(5), || async { workers.hits.get() == 1 }).await;
    let latency = workers.hits.first_at.lock().unwrap().unwrap() - pushed;
    assert!(latency < Duration::from_millis(300), "picked up after {latency:?}");
    workers.shutdown().await;
    cleanup(&mut conn, &settings.queue).await;
}

/// Defect: any backend error kills an apalis worker for good. A worker whose
/// Redis commands fail (here the active list is replaced by a string, so
/// every fetch fails with WRONGTYPE) is restarted with back-off under a new
/// name and drains once Redis is healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_backend_fails_is_restarted_and_drains() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("restart"));
    let active = format!("{}:active", settings.queue);
    let _: () = conn.set(&active, "not a list").await.unwrap();

    let workers = Workers::start(&conn, &settings, 1, Behaviour::Succeed);
    wait_until("two restarts", Duration::from_secs(10), || async { workers.supervisor.restarts() >= 2 }).await;

    let _: () = conn.del(&active).await.unwrap();
    push_sends(&conn, &settings, 50).await;
    wait_until("all 50 handled after the restarts", Duration::from_secs(10), || async { workers.hits.get() >= 50 })
        .await;
    let names: Vec<String> = conn.zrange(format!("{}:workers", settings.queue), 0, -1).await.unwrap();
    assert!(names.iter().all(|n| !n.ends_with(".r0")) || names.len() > 1, "restarts use new names: {names:?}");
    workers.shutdown().await;
    cleanup(&mut conn, &settings.queue).await;
}

/// Defect: failed tasks are retried by apalis-redis's Lua 25 times. Our
/// handlers' errors abort: the task is dead-lettered once, nothing is
/// scheduled again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_runs_once_and_is_dead_lettered() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("retry"));
    let workers = Workers::start(&conn, &settings, 1, Behaviour::Fail);
    push_sends(&conn, &settings, 3).await;
    wait_until("three tasks dead-lettered", Duration::from_secs(10), || {
        let mut conn = conn.clone();
        let q = settings.queue.clone();
        async move { queue_gauges(&mut conn, &q).await.unwrap().dead == 3 }
    })
    .await;
    let g = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!((g.scheduled, g.active), (0, 0), "no retry scheduled by apalis");
    assert_eq!(workers.hits.get(), 3, "each task ran once");
    let dead: Vec<String> = conn.smembers(format!("{}:dead", settings.queue)).await.unwrap();
    let status: String = conn.hget(format!("{}:meta:{}", settings.queue, dead[0]), "status").await.unwrap();
    assert_eq!(status, "Killed");
    workers.shutdown().await;
    cleanup(&mut conn, &settings.queue).await;
}

/// Defect: apalis-redis keeps every finished task's payload, meta hash and
/// done-set entry forever. After the janitor, the queue's keys are back to a
/// handful however many tasks ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_janitor_brings_the_key_count_back_down() {
    const N: usize = 1_000;
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("janitor"));
    let workers = Workers::start(&conn, &settings, 1, Behaviour::Succeed);
    push_sends(&conn, &settings, N).await;
    let done = format!("{}:done", settings.queue);
    wait_until("all done", Duration::from_secs(20), || {
        let mut conn = conn.clone();
        let done = done.clone();
        async move { conn.scard::<_, usize>(done).await.unwrap() == N }
    })
    .await;
    workers.shutdown().await;
    let before = keys_of(&mut conn, &settings.queue).await.len();
    assert!(before > N, "one meta hash per finished task: {before} keys");

    // A worker that is gone (no longer in `{q}:workers`) left its metadata.
    let ghost = format!("{}:workers:metadata:ghost", settings.queue);
    let _: () = conn.hset(&ghost, "backend_name", "x").await.unwrap();

    let swept = janitor::sweep(&mut conn, &settings).await.unwrap();
    assert_eq!(swept.done, N);
    assert_eq!(swept.worker_metadata, 1, "the gone worker's metadata hash");
    let after = keys_of(&mut conn, &settings.queue).await;
    // The stopped worker's entry and metadata stay until a peer's heartbeat
    // drops it after the orphan window (apalis's poll_close removes the wrong
    // member); the signal list may remain.
    assert!(after.len() <= 3, "only a few queue keys remain: {after:?}");
    let data_len: usize = conn.hlen(format!("{}:data", settings.queue)).await.unwrap();
    assert_eq!(data_len, 0);
    cleanup(&mut conn, &settings.queue).await;
}

/// An idempotency key left without a TTL gets one from the janitor.
#[tokio::test]
async fn the_janitor_gives_idempotency_keys_without_a_ttl_one() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("idemttl"));
    let key = format!("{}:idempotency:k1", settings.queue);
    let _: () = conn.set(&key, "task").await.unwrap();
    let swept = janitor::sweep(&mut conn, &settings).await.unwrap();
    assert_eq!(swept.idempotency_ttls_set, 1);
    let ttl: i64 = conn.ttl(&key).await.unwrap();
    assert!(ttl > 0);
    cleanup(&mut conn, &settings.queue).await;
}
