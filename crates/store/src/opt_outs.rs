//! Opt-outs, keyed by phone so they survive deleting and re-importing a
//! contact; every campaign's audience leaves them out (U6).

use sqlx::PgExecutor;

use crate::OrgId;

/// Records that `phone` opted out (idempotent: the first source and reason stay).
pub async fn record(db: impl PgExecutor<'_>, org: OrgId, phone: &str, source: &str, reason: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into opt_outs (org_id, phone, source, reason) values ($1, $2, $3, $4) on conflict do nothing",
        org.0,
        phone,
        source,
        reason
    )
    .execute(db)
    .await?;
    Ok(())
}
