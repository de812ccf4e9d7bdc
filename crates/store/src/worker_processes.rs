//! The registry of worker processes: one row per process start, refreshed by
//! a heartbeat, so operators can see which workers are alive.

use sqlx::PgExecutor;

pub async fn register(db: impl PgExecutor<'_>, name: &str, host: &str, queues: &[String]) -> sqlx::Result<()> {
    sqlx::query!(
        r#"insert into worker_processes (name, host, queues) values ($1, $2, $3)
           on conflict (name) do update set last_seen_at = now(), stopped_at = null"#,
        name,
        host,
        queues
    )
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn heartbeat(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<()> {
    sqlx::query!("update worker_processes set last_seen_at = now() where name = $1", name).execute(db).await.map(|_| ())
}

pub async fn mark_stopped(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<()> {
    sqlx::query!("update worker_processes set stopped_at = now() where name = $1", name).execute(db).await.map(|_| ())
}
