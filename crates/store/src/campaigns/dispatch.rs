//! What the launch job and the scheduler tick do with the ledger after
//! planning: move recipients to the queue in small windows, start scheduled
//! campaigns when due (exactly once, however many schedulers run), and mark
//! campaigns whose every recipient reached an outcome.

use sqlx::{PgConnection, PgExecutor};

/// Moves up to `limit` planned recipients of an active, unpaused campaign to
/// `queued` and returns their keys (with the dispatch number each job must
/// carry), for the caller to push as send jobs. Concurrent callers take
/// disjoint rows (`skip locked`). A recipient queued here whose job is lost
/// is found again by the sweeper (it stays `queued` in Postgres, the system
/// of record). With quiet hours, `zones` names the time zones whose window
/// is open: only their recipients are queued.
pub async fn queue_next(
    db: impl PgExecutor<'_>,
    campaign_id: i64,
    limit: i64,
    zones: Option<&[String]>,
) -> sqlx::Result<Vec<crate::recipients::JobKey>> {
    let rows = sqlx::query!(
        r#"with picked as materialized (
               -- Materialized: evaluated once, so the limit holds (as a joined
               -- subquery it could be rescanned per row and take more). No
               -- order: the (campaign_id, state) index gives the first n
               -- planned rows without reading the rest.
               select contact_id from recipients
               where campaign_id = $1 and state = 'planned'
                 and ($3::text[] is null or time_zone = any($3))
                 and exists (select 1 from campaigns where id = $1 and lifecycle = 'active' and paused_at is null)
               limit $2
               for update skip locked
           )
           update recipients r set state = 'queued', queued_at = now(), dispatch = r.dispatch + 1, updated_at = now()
           from picked p
           where r.campaign_id = $1 and r.contact_id = p.contact_id
           returning r.contact_id, r.dispatch"#,
        campaign_id,
        limit,
        zones as Option<&[String]>
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| crate::recipients::JobKey::new(campaign_id, r.contact_id, Some(r.dispatch))).collect())
}

/// Recipients of a campaign waiting in the queue or being sent: the
/// fan-out keeps this near `pace × a few seconds`.
///
/// Read from the campaign's live counters (kept by the ledger's triggers in
/// the same transactions as the rows, so exactly the committed count): a
/// `count(*)` of the rows walks every dead index entry a fast campaign
/// leaves behind in those two states until vacuum, 10 ms and more per call.
pub async fn in_flight(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(value), 0)::bigint as "n!" from campaign_counters
           where campaign_id = $1 and metric in ('state:queued', 'state:sending')"#,
        campaign_id
    )
    .fetch_one(db)
    .await
}

/// Starts every scheduled campaign whose time has come: Active, with its
/// launch job in the outbox, in one statement. With several schedulers
/// running it at once, the row locks let each campaign start exactly once
/// (a second updater re-checks `lifecycle` and skips it). Returns their ids.
/// The schedule's pace (`pace_per_hour`) is kept for the launch job.
pub async fn launch_due(tx: &mut PgConnection) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"with due as (
               update campaigns set lifecycle = 'active', launched_at = now(), updated_at = now()
               where lifecycle = 'scheduled' and scheduled_at <= now()
               returning id
           ),
           recorded as (
               insert into job_outbox (queue, dedupe_key, payload)
               select 'launch', 'launch:' || id, jsonb_build_object('campaign_id', id) from due
               on conflict (dedupe_key) do nothing
           )
           select id as "id!" from due order by id"#
    )
    .fetch_all(tx)
    .await
}

/// Marks planned, active campaigns whose every recipient has an outcome
/// (nothing planned, queued, being sent or in doubt) as fully sent; returns
/// them. A test campaign is finished then too, releasing its contacts: its
/// few sends are done, and the real launch must not find them engaged.
pub async fn mark_fully_sent(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"with done as (
               update campaigns cp set fully_sent_at = now(), updated_at = now(),
                      lifecycle = case when cp.kind = 'test' then 'finished' else cp.lifecycle end,
                      finished_at = case when cp.kind = 'test' then now() else cp.finished_at end
               where cp.lifecycle = 'active' and cp.planned_at is not null and cp.fully_sent_at is null
                 and not exists (select 1 from recipients r
                                 where r.campaign_id = cp.id
                                   and r.state in ('planned', 'queued', 'sending', 'in_doubt'))
               returning cp.id, cp.kind
           ),
           released as (
               delete from engagements e using done d where e.campaign_id = d.id and d.kind = 'test'
           )
           select id as "id!" from done order by id"#
    )
    .fetch_all(db)
    .await
}

/// Active, planned, unpaused campaigns that still have recipients to send:
/// the ones the scheduler tick fans out.
pub async fn sending(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"select id from campaigns
           where lifecycle = 'active' and planned_at is not null and paused_at is null and fully_sent_at is null
           order by id"#
    )
    .fetch_all(db)
    .await
}

/// Active campaigns launched longer than `older_than` ago and still not
/// planned: their launch job was lost (Redis flushed) or failed. Each is
/// returned at most once per `older_than` (its `updated_at` is stamped), so
/// a slow plan does not get a pile of launch jobs.
pub async fn stuck_launches(db: impl PgExecutor<'_>, older_than: std::time::Duration) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"update campaigns set updated_at = now()
           where lifecycle = 'active' and planned_at is null
             and launched_at < now() - make_interval(secs => $1) and updated_at < now() - make_interval(secs => $1)
           returning id"#,
        older_than.as_secs_f64()
    )
    .fetch_all(db)
    .await
}
