//! The dry run of a launch: who would be sent to and, for everyone
//! else, one reason — grouped in one set-based statement over the
//! `campaign_audience` function, which the launch job plans from too.

use sqlx::PgExecutor;

use crate::OrgId;

/// The contacts that share one outcome: `code` is `None` for "would be sent to".
#[derive(Debug, Clone)]
pub struct ForecastGroup {
    pub code: Option<String>,
    pub key: Option<String>,
    pub engaged_campaign_id: Option<i64>,
    pub engaged_campaign_name: Option<String>,
    pub count: i64,
    /// Up to five contact ids of an exclusion group, lowest first.
    pub sample: Vec<i64>,
}

pub async fn forecast(db: impl PgExecutor<'_>, org: OrgId, campaign_id: i64) -> sqlx::Result<Vec<ForecastGroup>> {
    sqlx::query_as!(
        ForecastGroup,
        r#"select f.reason_code as code, f.reason_key as key, f.engaged_campaign_id,
                  e.name as "engaged_campaign_name?", f.n as "count!", coalesce(f.sample, '{}') as "sample!"
           from (select reason_code, reason_key, engaged_campaign_id, count(*) as n,
                        (array_agg(contact_id order by contact_id) filter (where reason_code is not null))[1:5] as sample
                 from campaign_audience($1)
                 where exists (select 1 from campaigns where id = $1 and org_id = $2)
                 group by 1, 2, 3) f
           left join campaigns e on e.id = f.engaged_campaign_id
           order by f.n desc, f.reason_code"#,
        campaign_id,
        org.0
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SampleContact {
    pub id: i64,
    pub phone: String,
    pub name: Option<String>,
}

pub async fn sample_contacts(db: impl PgExecutor<'_>, org: OrgId, ids: &[i64]) -> sqlx::Result<Vec<SampleContact>> {
    sqlx::query_as!(
        SampleContact,
        "select id, phone, name from contacts where org_id = $1 and id = any($2) order by id",
        org.0,
        ids
    )
    .fetch_all(db)
    .await
}
