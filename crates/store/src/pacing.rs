//! Reply-aware pacing's reads and writes: what a campaign's replies and open
//! inbox cases are now, and the pace the controller sets (with its history,
//! for the statistics).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// An active campaign with a support capacity, as the controller sees it.
#[derive(Debug, Clone)]
pub struct Paced {
    pub id: i64,
    pub org_id: i64,
    pub delivery_rules: serde_json::Value,
    pub pace_per_second: Option<f64>,
    pub pace_per_hour: Option<i32>,
    pub throughput_per_sec: i32,
    pub paced_per_second: Option<f64>,
    pub pacing_code: Option<String>,
}

/// Active, planned, unpaused campaigns with a support capacity still sending.
pub async fn paced_campaigns(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Paced>> {
    sqlx::query_as!(
        Paced,
        r#"select cp.id, cp.org_id, cp.delivery_rules, cp.pace_per_second, cp.pace_per_hour, n.throughput_per_sec,
                  cp.paced_per_second, cp.pacing_code
           from campaigns cp join wa_numbers n on n.id = cp.number_id
           where cp.lifecycle = 'active' and cp.planned_at is not null and cp.paused_at is null
             and cp.fully_sent_at is null and cp.delivery_rules ? 'support_capacity'
           order by cp.id"#
    )
    .fetch_all(db)
    .await
}

/// A campaign's replies and cases now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Contacts who replied within the measuring window.
    pub recent_repliers: i64,
    /// Messages Meta accepted (whatever their status since).
    pub sent: i64,
    /// Recipients who replied.
    pub replied: i64,
    /// Inbox cases of the campaign's contacts open now.
    pub open_cases: i64,
}

pub async fn observe(
    db: impl PgExecutor<'_>,
    campaign_id: i64,
    org_id: i64,
    window: Duration,
) -> sqlx::Result<Observation> {
    sqlx::query_as!(
        Observation,
        r#"select
               (select count(distinct contact_id) from inbound_messages
                where campaign_id = $1 and received_at > now() - make_interval(secs => $3)) as "recent_repliers!",
               (select coalesce(sum(value), 0)::bigint from campaign_counters
                where campaign_id = $1 and metric in ('state:accepted', 'state:sent', 'state:delivered', 'state:read'))
                   as "sent!",
               (select coalesce(sum(value), 0)::bigint from campaign_counters
                where campaign_id = $1 and metric = 'replied') as "replied!",
               (select count(*) from inbox_cases ic
                where ic.org_id = $2 and ic.closed_at is null
                  and exists (select 1 from recipients r where r.campaign_id = $1 and r.contact_id = ic.contact_id))
                   as "open_cases!""#,
        campaign_id,
        org_id,
        window.as_secs_f64()
    )
    .fetch_one(db)
    .await
}

/// What the controller decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    /// The pace to send at (the configured one when not slowed).
    pub pace_per_second: f64,
    /// Why it is below the configured pace; `None` at the configured pace.
    pub code: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Sets the campaign's pace; when `record` (the reason or the pace changed
/// enough to tell), adds it to the history.
pub async fn set(db: &crate::PgPool, campaign_id: i64, decision: &Decision<'_>, record: bool) -> sqlx::Result<()> {
    sqlx::query!(
        r#"with changed as (
               update campaigns set paced_per_second = $2, pacing_code = $3, pacing_reason = $4,
                      pacing_since = case when pacing_code is distinct from $3 then now() else pacing_since end
               where id = $1
               returning id
           )
           insert into campaign_pacing_events (campaign_id, code, reason, pace_per_second)
           select id, coalesce($3, 'configured_pace'), coalesce($4, 'back at the configured pace'), $2
           from changed where $5"#,
        campaign_id,
        decision.pace_per_second,
        decision.code,
        decision.reason,
        record
    )
    .execute(db)
    .await?;
    Ok(())
}

/// One change of pace, for the statistics.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PacingEvent {
    pub at: DateTime<Utc>,
    /// `reply_capacity`, `open_cases`, or `configured_pace` (back at full pace).
    pub code: String,
    pub reason: String,
    pub pace_per_second: f64,
}

/// The campaign's pace now and its last `limit` changes, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Pacing {
    pub paced_per_second: Option<f64>,
    pub code: Option<String>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub events: Vec<PacingEvent>,
}

pub async fn of_campaign(db: &crate::PgPool, campaign_id: i64, limit: i64) -> sqlx::Result<Pacing> {
    let now = sqlx::query!(
        "select paced_per_second, pacing_code, pacing_reason, pacing_since from campaigns where id = $1",
        campaign_id
    )
    .fetch_optional(db)
    .await?;
    let events = sqlx::query_as!(
        PacingEvent,
        r#"select at, code, reason, pace_per_second from campaign_pacing_events
           where campaign_id = $1 order by id desc limit $2"#,
        campaign_id,
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(match now {
        Some(r) => Pacing {
            paced_per_second: r.paced_per_second,
            code: r.pacing_code,
            reason: r.pacing_reason,
            since: r.pacing_since,
            events,
        },
        None => Pacing { paced_per_second: None, code: None, reason: None, since: None, events },
    })
}
