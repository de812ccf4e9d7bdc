//! The durable webhook ingest queue (`webhook_events`): the API inserts each
//! signed raw batch before answering 200; status workers claim pending rows
//! in batches, apply them and delete them. A worker outage leaves its backlog
//! here, in Postgres, never in Redis.

use sqlx::PgExecutor;

/// Stores one raw webhook POST body; returns its id.
pub async fn insert(db: impl PgExecutor<'_>, phone_number_id: Option<&str>, payload: &[u8]) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into webhook_events (phone_number_id, payload) values ($1, $2) returning id",
        phone_number_id,
        payload
    )
    .fetch_one(db)
    .await
}

/// A claimed raw batch.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub payload: Vec<u8>,
    /// This claim's number (1 for the first).
    pub attempts: i32,
}

/// Claims up to `limit` pending events, oldest first, for `lease`: another
/// worker skips them, and takes them again if the lease runs out (this
/// worker died). Never blocks on rows another worker holds.
pub async fn claim(db: impl PgExecutor<'_>, limit: i64, lease: std::time::Duration) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as!(
        Event,
        r#"update webhook_events e
           set attempts = e.attempts + 1, claimed_until = now() + make_interval(secs => $2)
           where e.id in (select id from webhook_events
                          where processed_at is null and failed_at is null
                            and (claimed_until is null or claimed_until < now())
                          order by id
                          limit $1
                          for update skip locked)
           returning e.id, e.payload, e.attempts"#,
        limit,
        lease.as_secs_f64()
    )
    .fetch_all(db)
    .await
}

/// Applied: the raw batch is no longer needed.
pub async fn finish(db: impl PgExecutor<'_>, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query!("delete from webhook_events where id = any($1)", ids).execute(db).await?;
    Ok(())
}

/// Applying failed: try again after `retry_in`, or dead-letter it (kept,
/// with the error, for an operator) when `dead` is set.
pub async fn fail(
    db: impl PgExecutor<'_>,
    id: i64,
    error: &str,
    retry_in: std::time::Duration,
    dead: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update webhook_events
           set last_error = $2, claimed_until = now() + make_interval(secs => $3),
               failed_at = case when $4 then now() end
           where id = $1"#,
        id,
        error,
        retry_in.as_secs_f64(),
        dead
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The ingest backlog: pending events and the age of the oldest, in seconds.
pub async fn backlog(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, f64)> {
    let row = sqlx::query!(
        r#"select count(*) as "pending!",
                  coalesce(extract(epoch from now() - min(received_at)), 0)::float8 as "oldest_secs!"
           from webhook_events where processed_at is null and failed_at is null"#
    )
    .fetch_one(db)
    .await?;
    Ok((row.pending, row.oldest_secs))
}
