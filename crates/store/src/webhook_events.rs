//! The durable webhook ingest queue (`webhook_events`): the API inserts each
//! signed raw batch before answering 200; status workers claim pending rows
//! in batches, apply them and delete them. A worker outage leaves its backlog
//! here, in Postgres, never in Redis.

use sqlx::PgExecutor;

/// Stores one raw webhook POST body; returns its id. `phone_number_id` is
/// the number whose app secret verified it (first); `waba_signers` says, per
/// WABA the batch is about, which number's secret verified it.
pub async fn insert(
    db: impl PgExecutor<'_>,
    phone_number_id: Option<&str>,
    waba_signers: &[(String, String)],
    payload: &[u8],
) -> sqlx::Result<i64> {
    let signers: serde_json::Map<String, serde_json::Value> =
        waba_signers.iter().map(|(waba, number)| (waba.clone(), number.clone().into())).collect();
    sqlx::query_scalar!(
        "insert into webhook_events (phone_number_id, waba_signers, payload) values ($1, $2, $3) returning id",
        phone_number_id,
        serde_json::Value::Object(signers),
        payload
    )
    .fetch_one(db)
    .await
}

/// Records that an API process could store webhooks in the current second
/// (each stamps every second): a second nobody stamped was an outage of the
/// webhook endpoint, after which the evidence about in-doubt sends waits for
/// Meta's retries (`recipients::Evidence`).
pub async fn record_ingest_second(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into webhook_ingest_seconds (second) values (date_trunc('second', now())) on conflict do nothing"
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets the ingest seconds older than `older_than`.
pub async fn prune_ingest_seconds(db: impl PgExecutor<'_>, older_than: std::time::Duration) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from webhook_ingest_seconds where second < now() - make_interval(secs => $1)",
        older_than.as_secs_f64()
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A claimed raw batch.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub payload: Vec<u8>,
    /// This claim's number (1 for the first).
    pub attempts: i32,
    /// When the API stored it: the ingest lag is measured from here.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// `{"<waba_id>": "<phone_number_id>"}`: whose app secret verified each
    /// WABA the batch is about.
    pub waba_signers: serde_json::Value,
}

impl Event {
    /// The phone number id whose secret verified `waba_id`, if the batch is about it.
    pub fn waba_signer(&self, waba_id: &str) -> Option<&str> {
        self.waba_signers.get(waba_id).and_then(serde_json::Value::as_str)
    }
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
           returning e.id, e.payload, e.attempts, e.received_at, e.waba_signers"#,
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

/// The status queue's gauges, as the Redis queues report theirs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueState {
    /// Waiting to be claimed (never claimed, or whose lease ran out).
    pub pending: i64,
    /// Seconds since the oldest of those was stored (0 when none).
    pub oldest_pending_secs: f64,
    /// Claimed under a live lease, never failed.
    pub in_flight: i64,
    /// Failed at least once and waiting for their next try.
    pub retrying: i64,
    /// Dead-lettered: kept with their error for an operator.
    pub dead: i64,
}

/// [`QueueState`] in one pass over the table (it holds only unapplied
/// events: applied ones are deleted).
pub async fn queue_state(db: impl PgExecutor<'_>) -> sqlx::Result<QueueState> {
    let row = sqlx::query!(
        r#"select
             count(*) filter (where failed_at is null and (claimed_until is null or claimed_until < now())) as "pending!",
             coalesce(extract(epoch from now() - min(received_at)
               filter (where failed_at is null and (claimed_until is null or claimed_until < now()))), 0)::float8
               as "oldest_secs!",
             count(*) filter (where failed_at is null and claimed_until >= now() and last_error is null) as "in_flight!",
             count(*) filter (where failed_at is null and claimed_until >= now() and last_error is not null)
               as "retrying!",
             count(*) filter (where failed_at is not null) as "dead!"
           from webhook_events where processed_at is null"#
    )
    .fetch_one(db)
    .await?;
    Ok(QueueState {
        pending: row.pending,
        oldest_pending_secs: row.oldest_secs,
        in_flight: row.in_flight,
        retrying: row.retrying,
        dead: row.dead,
    })
}

/// A dead-lettered event (`failed_at` set), kept with its error for an operator.
#[derive(Debug, Clone)]
pub struct FailedEvent {
    pub id: i64,
    pub phone_number_id: Option<String>,
    /// The raw batch, byte for byte as Meta sent it.
    pub payload: Vec<u8>,
    /// Claims so far.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub failed_at: chrono::DateTime<chrono::Utc>,
}

/// Dead-lettered events with ids above `after`, in id order: those about
/// `org`'s numbers, or every one when `org` is `None` (the operator CLI).
pub async fn failed(
    db: impl PgExecutor<'_>,
    org: Option<crate::OrgId>,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<FailedEvent>> {
    sqlx::query_as!(
        FailedEvent,
        r#"select e.id, e.phone_number_id, e.payload, e.attempts, e.last_error, e.received_at,
                  e.failed_at as "failed_at!"
           from webhook_events e
           where e.failed_at is not null and e.id > $2
             and ($1::bigint is null
                  or exists (select 1 from wa_numbers n where n.phone_number_id = e.phone_number_id and n.org_id = $1))
           order by e.id
           limit $3"#,
        org.map(|o| o.0),
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// How many events are dead-lettered (`org`'s, or all).
pub async fn count_failed(db: impl PgExecutor<'_>, org: Option<crate::OrgId>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from webhook_events e
           where e.failed_at is not null
             and ($1::bigint is null
                  or exists (select 1 from wa_numbers n where n.phone_number_id = e.phone_number_id and n.org_id = $1))"#,
        org.map(|o| o.0)
    )
    .fetch_one(db)
    .await
}

/// Puts dead-lettered events back in the queue (the event `id`, or all of
/// them): no longer failed, unclaimed, with a fresh attempt count, so the
/// next consumer claims them. Returns how many.
pub async fn replay_failed(db: impl PgExecutor<'_>, org: Option<crate::OrgId>, id: Option<i64>) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        r#"update webhook_events e set failed_at = null, claimed_until = null, attempts = 0
           where e.failed_at is not null and ($2::bigint is null or e.id = $2)
             and ($1::bigint is null
                  or exists (select 1 from wa_numbers n where n.phone_number_id = e.phone_number_id and n.org_id = $1))"#,
        org.map(|o| o.0),
        id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes a dead-lettered event for good; `false` when there is none.
pub async fn delete_failed(db: impl PgExecutor<'_>, org: Option<crate::OrgId>, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"delete from webhook_events e
           where e.failed_at is not null and e.id = $2
             and ($1::bigint is null
                  or exists (select 1 from wa_numbers n where n.phone_number_id = e.phone_number_id and n.org_id = $1))"#,
        org.map(|o| o.0),
        id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the events dead-lettered before `before` (the retention of dead
/// letters); returns how many.
pub async fn delete_failed_before(db: impl PgExecutor<'_>, before: chrono::DateTime<chrono::Utc>) -> sqlx::Result<u64> {
    let done = sqlx::query!("delete from webhook_events where failed_at is not null and failed_at < $1", before)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
