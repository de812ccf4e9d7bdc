//! Dead letters of an apalis queue (`queue::dead`) against the real Redis:
//! a failing job is dead once and listed with what an operator needs; a
//! replay makes a consumer run it again; a delete leaves no key of it.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use common::*;
use queue::{
    JobError, QueueSettings, SendJob,
    apalis::prelude::{Data, TaskBuilder, TaskSink, WorkerBuilder},
    dead, queue_gauges, until_cancelled, worker_name,
};
use redis::{AsyncCommands, aio::ConnectionManager};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A consumer that fails while `failing` is set, counting runs.
#[derive(Debug, Clone, Default)]
struct Switch {
    failing: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
    succeeded: Arc<AtomicUsize>,
}

async fn handle(_job: SendJob, switch: Data<Switch>) -> Result<(), JobError> {
    switch.runs.fetch_add(1, Ordering::SeqCst);
    if switch.failing.load(Ordering::SeqCst) {
        return Err(JobError::msg("the bot said no"));
    }
    switch.succeeded.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

fn consume(conn: &ConnectionManager, settings: &QueueSettings, switch: &Switch) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let worker = WorkerBuilder::new(worker_name(&settings.queue, "dead-test", 0, 0))
        .backend(settings.worker_storage::<SendJob>(conn.clone()))
        .data(switch.clone())
        .build(handle)
        .run_until(until_cancelled(stop.clone()));
    let handle = tokio::spawn(async move {
        let _ = worker.await;
    });
    (stop, handle)
}

async fn push(conn: &ConnectionManager, settings: &QueueSettings, job: SendJob, key: Option<&str>) {
    let mut storage = settings.storage::<SendJob>(conn.clone());
    let task = match key {
        Some(k) => TaskBuilder::new(job).idempotency_key(k).build(),
        None => TaskBuilder::new(job).build(),
    };
    storage.push_task(task).await.unwrap();
}

async fn dead_count(conn: &ConnectionManager, queue: &str) -> u64 {
    dead::count(&mut conn.clone(), queue).await.unwrap()
}

async fn wait_dead(conn: &ConnectionManager, queue: &str, n: u64) {
    wait_until(&format!("{n} dead"), Duration::from_secs(10), || async { dead_count(conn, queue).await == n }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_dead_once_and_listed_with_its_payload_error_attempts_and_time() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("dead-list"));
    let switch = Switch::default();
    switch.failing.store(true, Ordering::SeqCst);
    let (stop, worker) = consume(&conn, &settings, &switch);
    let before = chrono::Utc::now().timestamp();
    push(&conn, &settings, SendJob::new(7, 42, 0), None).await;
    wait_dead(&conn, &settings.queue, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(switch.runs.load(Ordering::SeqCst), 1, "run once, never retried");
    assert_eq!(dead_count(&conn, &settings.queue).await, 1, "in the dead set once");

    let page = dead::list(&mut conn, &settings.queue, None, 10).await.unwrap();
    assert_eq!(page.next_cursor, None);
    let [task] = page.tasks.as_slice() else { panic!("one dead task: {page:?}") };
    assert_eq!(task.payload, serde_json::json!({"campaign_id": 7, "contact_id": 42, "dispatch": 0, "failures": 0}));
    assert_eq!(task.last_error.as_deref(), Some("the bot said no"));
    assert_eq!(task.attempts, 1);
    let died = task.died_at.expect("a time");
    assert!((before..=before + 10).contains(&died), "died at {died}, pushed at {before}");
    assert_eq!(dead::find(&mut conn, &settings.queue, &task.id).await.unwrap().as_ref(), Some(task));
    assert_eq!(dead::find(&mut conn, &settings.queue, "01NOTDEAD").await.unwrap(), None);

    stop.cancel();
    worker.await.unwrap();
    cleanup(&mut conn, &settings.queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_job_runs_again_and_succeeds() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("dead-replay"));
    let switch = Switch::default();
    switch.failing.store(true, Ordering::SeqCst);
    let (stop, worker) = consume(&conn, &settings, &switch);
    push(&conn, &settings, SendJob::new(1, 1, 0), None).await;
    wait_dead(&conn, &settings.queue, 1).await;
    let id = dead::ids(&mut conn, &settings.queue).await.unwrap().remove(0);

    switch.failing.store(false, Ordering::SeqCst);
    assert!(dead::replay(&mut conn, &settings.queue, &id).await.unwrap());
    wait_until("the replayed job succeeded", Duration::from_secs(10), || async {
        switch.succeeded.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(switch.runs.load(Ordering::SeqCst), 2);
    assert_eq!(dead_count(&conn, &settings.queue).await, 0);
    let done: bool = conn.sismember(format!("{}:done", settings.queue), &id).await.unwrap();
    assert!(done, "the same task finished");
    let attempts: String = conn.hget(format!("{}:meta:{id}", settings.queue), "attempts").await.unwrap();
    assert_eq!(attempts, "1", "attempts were reset before the rerun");
    assert!(!dead::replay(&mut conn, &settings.queue, &id).await.unwrap(), "no longer dead: nothing to replay");

    stop.cancel();
    worker.await.unwrap();
    cleanup(&mut conn, &settings.queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_all_queues_every_dead_job_and_pages_walk_them_in_order() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("dead-all"));
    let switch = Switch::default();
    switch.failing.store(true, Ordering::SeqCst);
    let (stop, worker) = consume(&conn, &settings, &switch);
    for i in 0..5 {
        push(&conn, &settings, SendJob::new(1, i, 0), None).await;
    }
    wait_dead(&conn, &settings.queue, 5).await;
    stop.cancel();
    worker.await.unwrap();

    let first = dead::list(&mut conn, &settings.queue, None, 3).await.unwrap();
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = dead::list(&mut conn, &settings.queue, Some(&cursor), 3).await.unwrap();
    assert_eq!((first.tasks.len(), second.tasks.len(), second.next_cursor.as_deref()), (3, 2, None));
    let mut seen: Vec<_> = first.tasks.iter().chain(&second.tasks).map(|t| t.id.clone()).collect();
    assert!(seen.is_sorted());
    seen.dedup();
    assert_eq!(seen.len(), 5);

    assert_eq!(dead::replay_all(&mut conn, &settings.queue).await.unwrap(), 5);
    let g = queue_gauges(&mut conn, &settings.queue).await.unwrap();
    assert_eq!((g.dead, g.active), (0, 5), "all back in the active list");
    cleanup(&mut conn, &settings.queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_dead_job_removes_every_key_of_it() {
    let mut conn = redis().await;
    let settings = test_settings(&unique_queue("dead-delete"));
    let switch = Switch::default();
    switch.failing.store(true, Ordering::SeqCst);
    let (stop, worker) = consume(&conn, &settings, &switch);
    push(&conn, &settings, SendJob::new(3, 9, 0), Some("send:3:9")).await;
    wait_dead(&conn, &settings.queue, 1).await;
    stop.cancel();
    worker.await.unwrap();
    let id = dead::ids(&mut conn, &settings.queue).await.unwrap().remove(0);
    let key = format!("{}:idempotency:send:3:9", settings.queue);
    let claim: Option<String> = conn.get(&key).await.unwrap();
    assert_eq!(claim.as_deref(), Some(id.as_str()), "the idempotency key names the task");

    assert!(dead::delete(&mut conn, &settings.queue, &id).await.unwrap());
    let left: Vec<String> = keys_of(&mut conn, &settings.queue).await;
    assert!(left.iter().all(|k| !k.contains(&id)), "no key names the task: {left:?}");
    let data: Option<String> = conn.hget(format!("{}:data", settings.queue), &id).await.unwrap();
    assert_eq!(data, None);
    let claim: Option<String> = conn.get(&key).await.unwrap();
    assert_eq!(claim, None, "the job can be pushed again");
    assert_eq!(dead_count(&conn, &settings.queue).await, 0);
    assert!(!dead::delete(&mut conn, &settings.queue, &id).await.unwrap(), "already gone");
    cleanup(&mut conn, &settings.queue).await;
}
