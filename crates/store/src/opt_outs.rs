//! Opt-outs, keyed by phone so they survive deleting and re-importing a
//! contact; every campaign's audience leaves them out.

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

/// One opt-out to record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OptOut {
    pub org_id: i64,
    pub phone: String,
    pub source: &'static str,
    pub reason: String,
}

/// Records many opt-outs in one statement, in key order (concurrent callers
/// then wait on each other's rows in one order); existing ones are kept.
pub async fn record_many(db: impl PgExecutor<'_>, opt_outs: &[OptOut]) -> sqlx::Result<()> {
    if opt_outs.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&OptOut> = opt_outs.iter().collect();
    sorted.sort_unstable_by(|a, b| (a.org_id, &a.phone).cmp(&(b.org_id, &b.phone)));
    sorted.dedup_by(|a, b| (a.org_id, &a.phone) == (b.org_id, &b.phone));
    sqlx::query!(
        r#"insert into opt_outs (org_id, phone, source, reason)
           select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
           on conflict do nothing"#,
        &sorted.iter().map(|o| o.org_id).collect::<Vec<_>>(),
        &sorted.iter().map(|o| o.phone.clone()).collect::<Vec<_>>(),
        &sorted.iter().map(|o| o.source.to_owned()).collect::<Vec<_>>(),
        &sorted.iter().map(|o| o.reason.clone()).collect::<Vec<_>>()
    )
    .execute(db)
    .await?;
    Ok(())
}
