//! Funnel steps: the bot flows' record that a campaign's recipient reached
//! step S of the conversation at time T (`funnel_steps`). The first time
//! recorded for (campaign, contact, step) is kept; the export's
//! `time_per_funnel_step` reads it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::OrgId;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FunnelStep {
    pub campaign_id: i64,
    pub contact_id: i64,
    pub step: String,
    /// When the contact first reached the step.
    pub reached_at: DateTime<Utc>,
}

/// The outcome of [`record`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now.
    New(FunnelStep),
    /// Recorded before: the existing row, unchanged.
    Existing(FunnelStep),
    /// The contact is not a recipient of the campaign (not in its ledger, or
    /// excluded from it), or the campaign is not the organization's.
    NotARecipient,
}

/// One step of a campaign's funnel: how many contacts reached it, first and last when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StepSummary {
    pub step: String,
    pub contacts: i64,
    pub first_reached_at: DateTime<Utc>,
    pub last_reached_at: DateTime<Utc>,
}

/// True when the campaign exists in the organization.
pub async fn campaign_exists(db: impl PgExecutor<'_>, org: OrgId, campaign_id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from campaigns where org_id = $1 and id = $2) as "e!""#,
        org.0,
        campaign_id
    )
    .fetch_one(db)
    .await
}

/// The organization's contact with this phone (E.164).
pub async fn contact_by_phone(db: impl PgExecutor<'_>, org: OrgId, phone: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!("select id from contacts where org_id = $1 and phone = $2", org.0, phone)
        .fetch_optional(db)
        .await
}

/// Records that `contact_id` reached `step` of the campaign at `reached_at`,
/// unless it was recorded before (then the first time stays).
pub async fn record(
    conn: &mut PgConnection,
    org: OrgId,
    campaign_id: i64,
    contact_id: i64,
    step: &str,
    reached_at: DateTime<Utc>,
) -> sqlx::Result<Recorded> {
    let inserted = sqlx::query_as!(
        FunnelStep,
        r#"insert into funnel_steps (campaign_id, contact_id, step, reached_at)
           select r.campaign_id, r.contact_id, $4, $5
           from recipients r
           join campaigns c on c.id = r.campaign_id and c.org_id = $1
           where r.campaign_id = $2 and r.contact_id = $3 and r.org_id = $1 and r.state <> 'excluded'
           on conflict (campaign_id, contact_id, step) do nothing
           returning campaign_id, contact_id, step, reached_at"#,
        org.0,
        campaign_id,
        contact_id,
        step,
        reached_at
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = inserted {
        return Ok(Recorded::New(row));
    }
    // Nothing inserted: either it was there (a concurrent first insert has
    // committed by now, since `on conflict` waited for it, and this new
    // statement sees it) or the contact is no recipient.
    let existing = sqlx::query_as!(
        FunnelStep,
        r#"select f.campaign_id, f.contact_id, f.step, f.reached_at
           from funnel_steps f
           join campaigns c on c.id = f.campaign_id and c.org_id = $1
           where f.campaign_id = $2 and f.contact_id = $3 and f.step = $4"#,
        org.0,
        campaign_id,
        contact_id,
        step
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(existing.map_or(Recorded::NotARecipient, Recorded::Existing))
}

/// Per step of the campaign: contacts that reached it and when, most reached first.
pub async fn summary(db: impl PgExecutor<'_>, org: OrgId, campaign_id: i64) -> sqlx::Result<Vec<StepSummary>> {
    sqlx::query_as!(
        StepSummary,
        r#"select f.step, count(*) as "contacts!", min(f.reached_at) as "first_reached_at!",
                  max(f.reached_at) as "last_reached_at!"
           from funnel_steps f
           join campaigns c on c.id = f.campaign_id and c.org_id = $1
           where f.campaign_id = $2
           group by f.step
           order by count(*) desc, min(f.reached_at), f.step"#,
        org.0,
        campaign_id
    )
    .fetch_all(db)
    .await
}
