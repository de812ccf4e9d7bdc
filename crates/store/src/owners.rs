//! Which organization owns what a queued job names. Jobs carry ids only
//! (`campaign_id`, `report_id`), and the Redis queues are shared by the
//! whole deployment, so an organization's view of a queue (its dead
//! letters) is filtered through these look-ups.

use sqlx::PgExecutor;

use crate::OrgId;

/// Of `ids`, the campaigns that belong to `org`.
pub async fn campaigns_of(db: impl PgExecutor<'_>, org: OrgId, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!("select id from campaigns where org_id = $1 and id = any($2)", org.0, ids).fetch_all(db).await
}

/// Of `ids`, the reports that belong to `org`.
pub async fn reports_of(db: impl PgExecutor<'_>, org: OrgId, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!("select id from reports where org_id = $1 and id = any($2)", org.0, ids).fetch_all(db).await
}

/// The organization a campaign belongs to; `None` when there is no such campaign.
pub async fn campaign_org(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<Option<OrgId>> {
    let org = sqlx::query_scalar!("select org_id from campaigns where id = $1", campaign_id).fetch_optional(db).await?;
    Ok(org.map(OrgId))
}

/// The organizations of `campaigns` and `reports` (by position; `None` for
/// one that is gone), in one round trip each.
pub async fn orgs_of(
    db: &crate::PgPool,
    campaigns: &[Option<i64>],
    reports: &[Option<i64>],
) -> sqlx::Result<(Vec<Option<i64>>, Vec<Option<i64>>)> {
    let by_campaign = sqlx::query!(
        r#"select c.org_id from unnest($1::bigint[]) with ordinality as u(id, i)
           left join campaigns c on c.id = u.id order by u.i"#,
        campaigns as &[Option<i64>]
    )
    .fetch_all(db)
    .await?;
    let by_report = sqlx::query!(
        r#"select r.org_id from unnest($1::bigint[]) with ordinality as u(id, i)
           left join reports r on r.id = u.id order by u.i"#,
        reports as &[Option<i64>]
    )
    .fetch_all(db)
    .await?;
    Ok((by_campaign.into_iter().map(|r| r.org_id).collect(), by_report.into_iter().map(|r| r.org_id).collect()))
}
