//! The lifecycle steps after editing. Each runs inside
//! the caller's transaction after [`super::lock`] and the caller's checks.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::OrgId;

/// Makes the campaign Active and records its launch job in the outbox, in
/// the same transaction: once committed the launch cannot be lost (the relay
/// pushes it to Redis whenever Redis is up) and cannot happen twice (the
/// outbox key is unique per campaign).
pub async fn launch(tx: &mut PgConnection, org: OrgId, id: i64, pace_per_second: f64) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update campaigns set lifecycle = 'active', launched_at = now(), pace_per_second = $3,
                  scheduled_at = null, pace_per_hour = null, updated_at = now()
           where org_id = $1 and id = $2"#,
        org.0,
        id,
        pace_per_second
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"insert into job_outbox (queue, dedupe_key, payload)
           values ('launch', 'launch:' || $1::bigint, jsonb_build_object('campaign_id', $1::bigint))
           on conflict (dedupe_key) do nothing"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Schedules (or reschedules) the launch at `at`, paced in contacts per hour.
/// The scheduler tick launches it when due.
pub async fn schedule(
    tx: &mut PgConnection,
    org: OrgId,
    id: i64,
    at: DateTime<Utc>,
    contacts_per_hour: i32,
) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update campaigns set lifecycle = 'scheduled', scheduled_at = $3, pace_per_hour = $4, updated_at = now()
           where org_id = $1 and id = $2"#,
        org.0,
        id,
        at,
        contacts_per_hour
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Cancels a schedule: the campaign is editable (Draft or Ready) again.
pub async fn unschedule(tx: &mut PgConnection, org: OrgId, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update campaigns set lifecycle = 'editable', scheduled_at = null, pace_per_hour = null, updated_at = now()
           where org_id = $1 and id = $2"#,
        org.0,
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// What finishing a campaign changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishOutcome {
    /// Contacts released for future campaigns.
    pub released: u64,
    /// Recipients not yet sent to, now excluded with reason `campaign_finished`.
    pub stopped: u64,
}

/// Finishes an Active campaign: releases its contacts and stops what was
/// not sent yet. A send already in flight keeps its own outcome.
pub async fn finish(tx: &mut PgConnection, org: OrgId, id: i64) -> sqlx::Result<FinishOutcome> {
    sqlx::query!(
        r#"update campaigns set lifecycle = 'finished', finished_at = now(), updated_at = now()
           where org_id = $1 and id = $2"#,
        org.0,
        id
    )
    .execute(&mut *tx)
    .await?;
    let released = sqlx::query!("delete from engagements where campaign_id = $1", id).execute(&mut *tx).await?;
    let stopped = sqlx::query!(
        r#"update recipients set state = 'excluded', reason_code = 'campaign_finished',
                  reason = 'the campaign was finished before this contact was sent to', updated_at = now()
           where campaign_id = $1 and state in ('planned', 'queued')"#,
        id
    )
    .execute(tx)
    .await?;
    Ok(FinishOutcome { released: released.rows_affected(), stopped: stopped.rows_affected() })
}

/// The `pause_code` of an operator's pause (the API, the console,
/// `campaignsctl`). The engine's own codes, such as `template_paused`, resume by
/// themselves; this one waits for a resume.
pub const OPERATOR_PAUSE: &str = "operator";

/// Pauses an active campaign with a readable reason (the sender cannot send:
/// a revoked token, a paused template…). Nothing is claimed or queued while
/// paused. `false` when it was not active or already paused.
pub async fn pause(db: impl sqlx::PgExecutor<'_>, campaign_id: i64, code: &str, reason: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        r#"update campaigns set paused_at = now(), pause_reason = $2, pause_code = $3, updated_at = now()
           where id = $1 and lifecycle = 'active' and paused_at is null"#,
        campaign_id,
        reason,
        code
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Resumes a paused campaign; the scheduler tick queues its recipients again.
pub async fn resume(tx: &mut PgConnection, org: OrgId, id: i64) -> sqlx::Result<()> {
    sqlx::query!(
        r#"update campaigns set paused_at = null, pause_reason = null, pause_code = null, updated_at = now()
           where org_id = $1 and id = $2"#,
        org.0,
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}
