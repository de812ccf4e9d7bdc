//! Who an audience (tags and valued tags, matched all or any) reaches, before
//! a campaign is saved: the console's live count and the sample contact its
//! template preview is rendered for. The match is the one planning uses
//! (`campaign_audience` in the migrations); exclusions are the forecast's job.

use std::collections::BTreeMap;

use sqlx::{PgExecutor, types::Json};

use crate::{OrgId, contacts::Contact};

/// An audience as the operator is choosing it.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub tags: Vec<String>,
    pub valued_tags: BTreeMap<String, String>,
    /// `all` (every tag and valued tag) or `any` (at least one).
    pub match_any: bool,
}

impl Audience {
    /// An audience of stored parts: the tags, the valued tags as a JSON
    /// object (`{"plan": "gold"}`) and the match mode.
    pub fn from_parts(tags: Vec<String>, valued_tags: &serde_json::Value, match_mode: &str) -> Self {
        let valued_tags = valued_tags
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        Self { tags, valued_tags, match_any: match_mode == "any" }
    }

    /// No tag and no valued tag: it matches no contact (as planning has it).
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.valued_tags.is_empty()
    }

    /// The valued tags one by one, as `any` matches them.
    fn pairs(&self) -> Vec<Json<BTreeMap<String, String>>> {
        self.valued_tags.iter().map(|(k, v)| Json(BTreeMap::from([(k.clone(), v.clone())]))).collect()
    }
}

/// How many of the organization's contacts the audience matches.
pub async fn count(db: impl PgExecutor<'_>, org: OrgId, a: &Audience) -> sqlx::Result<i64> {
    let pairs = a.pairs();
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from contacts c
           where c.org_id = $1 and case
               when $2 then c.tags && $3::text[] or c.valued_tags @> any($5::jsonb[])
               else c.tags @> $3::text[] and c.valued_tags @> $4::jsonb
           end"#,
        org.0,
        a.match_any,
        &a.tags,
        Json(&a.valued_tags) as _,
        &pairs as _,
    )
    .fetch_one(db)
    .await
}

/// The first contacts (by id) the audience matches, for a preview.
pub async fn sample(db: impl PgExecutor<'_>, org: OrgId, a: &Audience, limit: i64) -> sqlx::Result<Vec<Contact>> {
    let pairs = a.pairs();
    sqlx::query_as!(
        Contact,
        r#"select c.id, c.phone, c.wa_id, c.name, c.tags,
                  c.valued_tags as "valued_tags: Json<BTreeMap<String, String>>", c.time_zone,
                  (select opened_at from inbox_cases i where i.contact_id = c.id and i.closed_at is null)
                      as inbox_case_opened_at,
                  exists(select 1 from opt_outs o where o.org_id = c.org_id and o.phone = c.phone) as "opted_out!",
                  c.created_at, c.updated_at
           from contacts c
           where c.org_id = $1 and case
               when $2 then c.tags && $3::text[] or c.valued_tags @> any($5::jsonb[])
               else c.tags @> $3::text[] and c.valued_tags @> $4::jsonb
           end
           order by c.id
           limit $6"#,
        org.0,
        a.match_any,
        &a.tags,
        Json(&a.valued_tags) as _,
        &pairs as _,
        limit
    )
    .fetch_all(db)
    .await
}

/// The valued-tag keys the organization's contacts carry (at most 200, sorted),
/// for the wizard's binding choices.
pub async fn valued_tag_keys(db: impl PgExecutor<'_>, org: OrgId) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select k as "k!" from (select distinct jsonb_object_keys(valued_tags) as k from contacts where org_id = $1) keys
           order by k limit 200"#,
        org.0
    )
    .fetch_all(db)
    .await
}

/// The first contact (by id) a saved campaign's audience reaches, whatever
/// it is made of (a "Retry failed" campaign's fixed list too).
pub async fn first_of_campaign(db: impl PgExecutor<'_>, campaign_id: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"select contact_id as "id!" from campaign_audience($1) order by contact_id limit 1"#,
        campaign_id
    )
    .fetch_optional(db)
    .await
}
