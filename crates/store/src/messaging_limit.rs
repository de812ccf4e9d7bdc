//! The messaging-limit budget: the distinct phones each organization reached
//! through each business portfolio in the moving window
//! (docs/delivery-limits.md). The fan-out queues a recipient only while the
//! portfolio has room, and records the phone as reached when it does.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::recipients::JobKey;

/// A portfolio's use of its limit, now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Distinct phones reached in the window.
    pub used: i64,
    pub limit: i64,
    /// When the next phone leaves the window (the oldest reach, plus the window).
    pub next_capacity_at: Option<DateTime<Utc>>,
    /// Meta refused a send for the limit: nothing is queued before this.
    pub held_until: Option<DateTime<Utc>>,
}

impl Budget {
    /// New phones that may be reached now.
    pub fn remaining(&self) -> i64 {
        if self.held_until.is_some() { 0 } else { (self.limit - self.used).max(0) }
    }

    /// When sending can go on once the budget is spent: the hold's end, or
    /// the next phone leaving the window.
    pub fn resumes_at(&self) -> Option<DateTime<Utc>> {
        self.held_until.or(self.next_capacity_at)
    }
}

/// Serializes the fan-outs of one organization's portfolio (every campaign
/// on any of its numbers), for the rest of the transaction, so two campaigns
/// never spend the same room.
pub async fn lock(tx: &mut PgConnection, org_id: i64, portfolio_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtext('portfolio_reach'), hashtext($1::bigint::text || ':' || $2))",
        org_id,
        portfolio_id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The portfolio's budget under `limit` distinct phones per `window`.
pub async fn budget(
    db: impl PgExecutor<'_>,
    org_id: i64,
    portfolio_id: &str,
    limit: i64,
    window: Duration,
) -> sqlx::Result<Budget> {
    let row = sqlx::query!(
        r#"select count(*) as "used!", min(reached_at) as oldest,
                  (select held_until from portfolio_holds
                   where org_id = $1 and portfolio_id = $2 and held_until > now()) as held_until
           from portfolio_reach
           where org_id = $1 and portfolio_id = $2 and reached_at > now() - make_interval(secs => $3)"#,
        org_id,
        portfolio_id,
        window.as_secs_f64()
    )
    .fetch_one(db)
    .await?;
    let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
    Ok(Budget { used: row.used, limit, next_capacity_at: row.oldest.map(|t| t + window), held_until: row.held_until })
}

/// What [`queue_within`] picks from.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    pub campaign_id: i64,
    pub org_id: i64,
    pub portfolio_id: &'a str,
    /// The most rows to queue.
    pub rows: i64,
    /// The most phones not reached in the window to queue ([`Budget::remaining`]).
    pub new_phones: i64,
    pub window: Duration,
    /// Quiet hours: only recipients in these time zones; `None`: any.
    pub zones: Option<&'a [String]>,
}

/// [`crate::campaigns::queue_next`] within the portfolio's budget: a phone
/// reached in the window costs nothing, every other one spends one of
/// `new_phones`; each queued phone's reach is recorded as now. Call under
/// [`lock`], in the transaction that read the budget.
pub async fn queue_within(tx: &mut PgConnection, pick: Pick<'_>) -> sqlx::Result<Vec<JobKey>> {
    let rows = sqlx::query!(
        r#"with candidates as materialized (
               select r.contact_id, r.phone from recipients r
               where r.campaign_id = $1 and r.state = 'planned'
                 and ($7::text[] is null or r.time_zone = any($7))
                 and exists (select 1 from campaigns where id = $1 and lifecycle = 'active' and paused_at is null)
               limit $2
               for update skip locked
           ),
           ranked as materialized (
               select c.contact_id, c.phone, pr.phone is not null as reached,
                      count(*) filter (where pr.phone is null) over (order by c.contact_id) as new_n
               from candidates c
               left join portfolio_reach pr
                   on pr.org_id = $4 and pr.portfolio_id = $5 and pr.phone = c.phone
                  and pr.reached_at > now() - make_interval(secs => $6)
           ),
           picked as materialized (
               select contact_id, phone from ranked where reached or new_n <= $3
           ),
           reach as (
               insert into portfolio_reach (org_id, portfolio_id, phone, reached_at)
               select $4, $5, phone, now() from picked
               on conflict (org_id, portfolio_id, phone) do update set reached_at = excluded.reached_at
           )
           update recipients r set state = 'queued', queued_at = now(), dispatch = r.dispatch + 1, updated_at = now()
           from picked p
           where r.campaign_id = $1 and r.contact_id = p.contact_id
           returning r.contact_id, r.dispatch"#,
        pick.campaign_id,
        pick.rows,
        pick.new_phones,
        pick.org_id,
        pick.portfolio_id,
        pick.window.as_secs_f64(),
        pick.zones as Option<&[String]>
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|r| JobKey::new(pick.campaign_id, r.contact_id, Some(r.dispatch))).collect())
}

/// Meta refused a send of the portfolio for its messaging limit: hold the
/// portfolio's sends until `until` (a later hold wins).
pub async fn hold(
    db: impl PgExecutor<'_>,
    org_id: i64,
    portfolio_id: &str,
    until: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"insert into portfolio_holds (org_id, portfolio_id, held_until, reason) values ($1, $2, $3, $4)
           on conflict (org_id, portfolio_id) do update
               set held_until = greatest(portfolio_holds.held_until, excluded.held_until), reason = excluded.reason"#,
        org_id,
        portfolio_id,
        until,
        reason
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets reaches older than the window and holds that ended, at most
/// `batch` reaches at a time; returns how many reaches.
pub async fn prune(db: &crate::PgPool, window: Duration, batch: i64) -> sqlx::Result<u64> {
    sqlx::query!("delete from portfolio_holds where held_until < now()").execute(db).await?;
    let done = sqlx::query!(
        r#"delete from portfolio_reach where ctid = any (array(
               select ctid from portfolio_reach where reached_at < now() - make_interval(secs => $1) limit $2))"#,
        window.as_secs_f64(),
        batch
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// What a campaign's delivery limits read: its number's portfolio and tier,
/// and its planned recipients' time zones (quiet hours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignLimits {
    pub org_id: i64,
    pub portfolio_id: String,
    pub messaging_tier: Option<String>,
    pub recipient_zones: Option<Vec<String>>,
}

pub async fn of_campaign(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<Option<CampaignLimits>> {
    sqlx::query_as!(
        CampaignLimits,
        r#"select cp.org_id, n.portfolio_id, n.messaging_tier,
                  cp.recipient_zones
           from campaigns cp join wa_numbers n on n.id = cp.number_id
           where cp.id = $1"#,
        campaign_id
    )
    .fetch_optional(db)
    .await
}

/// How many of the contacts a campaign would send to now are in each time
/// zone (the contact's own, else its phone's country's), for the forecast.
pub async fn audience_zones(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = sqlx::query!(
        r#"select coalesce(c.time_zone, phone_time_zone(a.phone)) as "zone!", count(*) as "n!"
           from campaign_audience($1) a left join contacts c on c.id = a.contact_id
           where a.reason_code is null or a.reason_code = 'open_inbox_case'
           group by 1 order by 2 desc, 1"#,
        campaign_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.zone, r.n)).collect())
}
