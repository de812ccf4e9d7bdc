//! Dead letters made the way production makes them: jobs pushed to an app's
//! queue and run by a real consumer whose handler fails.

use std::time::Duration;

use queue::{
    DeadQueue, Job, JobError, QueueSettings,
    apalis::prelude::{TaskBuilder, TaskSink, WorkerBuilder},
    queue_gauges, until_cancelled,
};

use crate::{TestApp, eventually, redis_url};

async fn fail<J: Job>(_job: J) -> Result<(), JobError> {
    Err(JobError::msg("the handler said no"))
}

/// Pushes `jobs` to the app's `queue` and lets a consumer whose handler
/// fails run them: each ends in the dead set, once.
pub async fn make_dead<J: Job + Clone>(app: &TestApp, queue: DeadQueue, jobs: &[J]) {
    let name = app.state.dead_letters.as_ref().expect("the app's queues").redis_queue(queue).expect("a Redis queue");
    let settings = QueueSettings { queue: name.clone(), ..QueueSettings::for_job::<J>() };
    let conn = queue::connect(&redis_url()).await.expect("Redis");
    let before = queue_gauges(&mut conn.clone(), &name).await.expect("gauges").dead;
    let mut storage = settings.storage::<J>(conn.clone());
    for job in jobs {
        storage.push_task(TaskBuilder::new(job.clone()).build()).await.expect("push");
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = WorkerBuilder::new(format!("{name}@e2e-{}", std::process::id()))
        .backend(settings.worker_storage::<J>(conn.clone()))
        .build(fail::<J>)
        .run_until(until_cancelled(stop.clone()));
    let running = tokio::spawn(worker);
    eventually(Duration::from_secs(10), "the jobs are dead", || {
        let (mut conn, name) = (conn.clone(), name.clone());
        async move {
            let dead = queue_gauges(&mut conn, &name).await.expect("gauges").dead;
            (dead == before + jobs.len() as u64).then_some(())
        }
    })
    .await;
    stop.cancel();
    let _ = running.await;
}
