//! The job outbox: jobs written in the same transaction as the state change
//! that needs them, pushed to Redis by the relay (`queue::relay`).

use sqlx::PgExecutor;

/// A job not yet pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxJob {
    pub id: i64,
    /// The job kind (`launch`, ...), mapped to a Redis queue by the relay.
    pub queue: String,
    /// The idempotency key the job is pushed with.
    pub dedupe_key: String,
    pub payload: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl OutboxJob {
    /// The apalis idempotency key of this row: its `dedupe_key` and its
    /// creation time, so repeated pushes of the row dedupe, while a key left
    /// in Redis by another database's row of the same id (a restored or
    /// recreated database; keys live a day) cannot swallow it.
    pub fn idempotency_key(&self) -> String {
        format!("{}@{}", self.dedupe_key, self.created_at.timestamp_micros())
    }
}

/// Up to `limit` unpushed jobs of the given kinds, oldest first. Two relays
/// may read the same rows: the push is idempotent by `dedupe_key`.
pub async fn unpushed(db: impl PgExecutor<'_>, kinds: &[String], limit: i64) -> sqlx::Result<Vec<OutboxJob>> {
    sqlx::query_as!(
        OutboxJob,
        r#"select id, queue, dedupe_key, payload, created_at from job_outbox
           where pushed_at is null and queue = any($1)
           order by id limit $2"#,
        kinds,
        limit
    )
    .fetch_all(db)
    .await
}

/// Marks jobs pushed; returns how many were not marked yet.
pub async fn mark_pushed(db: impl PgExecutor<'_>, ids: &[i64]) -> sqlx::Result<u64> {
    sqlx::query!("update job_outbox set pushed_at = now() where id = any($1) and pushed_at is null", ids)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

/// How many jobs wait to be pushed, and the age of the oldest in seconds (a
/// relay that cannot reach Redis shows here).
pub async fn backlog(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, Option<f64>)> {
    let row = sqlx::query!(
        r#"select count(*) as "count!", extract(epoch from now() - min(created_at))::float8 as oldest_secs
           from job_outbox where pushed_at is null"#
    )
    .fetch_one(db)
    .await?;
    Ok((row.count, row.oldest_secs))
}
