//! Creating, changing and deleting campaigns. Callers lock the row first
//! ([`lock`]) so an edit and a launch never interleave.

use sqlx::{PgConnection, PgExecutor};

use crate::OrgId;

/// Locks a campaign for the rest of the transaction and returns its stored
/// lifecycle step; `None` if the organization has no such campaign.
pub async fn lock(tx: &mut PgConnection, org: OrgId, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select lifecycle from campaigns where org_id = $1 and id = $2 for update", org.0, id)
        .fetch_optional(tx)
        .await
}

pub async fn insert(db: impl PgExecutor<'_>, org: OrgId, kind: &str, name: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        "insert into campaigns (org_id, kind, name) values ($1, $2, $3) returning id",
        org.0,
        kind,
        name
    )
    .fetch_one(db)
    .await
}

/// A partial update, already validated. `None` leaves a field alone;
/// `Some(None)` clears an optional one.
#[derive(Debug, Default)]
pub struct CampaignChanges {
    pub name: Option<String>,
    pub number_id: Option<Option<i64>>,
    /// Normalised tags, a flat JSON object of valued tags, and `all`/`any`.
    pub audience: Option<(Vec<String>, serde_json::Value, String)>,
    pub test_contact_ids: Option<Vec<i64>>,
    pub template_id: Option<Option<i64>>,
    pub bindings: Option<serde_json::Value>,
    pub header_media_id: Option<Option<i64>>,
    pub bot_flow_id: Option<Option<i64>>,
    pub pace_per_second: Option<Option<f64>>,
    pub delivery_policy: Option<String>,
    /// Delivery rules to set (`support_capacity`, `quiet_hours`), as one
    /// object merged into the stored ones.
    pub delivery_rules_set: Option<serde_json::Value>,
    /// Delivery rules to clear, by name.
    pub delivery_rules_cleared: Vec<String>,
}

pub async fn update(tx: &mut PgConnection, org: OrgId, id: i64, c: &CampaignChanges) -> sqlx::Result<()> {
    let (tags, valued_tags, audience_match) = match &c.audience {
        Some((t, v, m)) => (Some(t.as_slice()), Some(v), Some(m.as_str())),
        None => (None, None, None),
    };
    sqlx::query!(
        r#"update campaigns set
               name = coalesce($3, name),
               number_id = case when $4 then $5 else number_id end,
               audience_tags = coalesce($6, audience_tags),
               audience_valued_tags = coalesce($7, audience_valued_tags),
               audience_match = coalesce($8, audience_match),
               test_contact_ids = coalesce($9, test_contact_ids),
               template_id = case when $10 then $11 else template_id end,
               bindings = coalesce($12, bindings),
               header_media_id = case when $13 then $14 else header_media_id end,
               bot_flow_id = case when $15 then $16 else bot_flow_id end,
               pace_per_second = case when $17 then $18 else pace_per_second end,
               delivery_policy = coalesce($19, delivery_policy),
               delivery_rules = (delivery_rules - $21::text[]) || coalesce($20, '{}'::jsonb),
               updated_at = now()
           where org_id = $1 and id = $2"#,
        org.0,
        id,
        c.name.as_deref(),
        c.number_id.is_some(),
        c.number_id.flatten(),
        tags,
        valued_tags,
        audience_match,
        c.test_contact_ids.as_deref(),
        c.template_id.is_some(),
        c.template_id.flatten(),
        c.bindings.as_ref(),
        c.header_media_id.is_some(),
        c.header_media_id.flatten(),
        c.bot_flow_id.is_some(),
        c.bot_flow_id.flatten(),
        c.pace_per_second.is_some(),
        c.pace_per_second.flatten(),
        c.delivery_policy.as_deref(),
        c.delivery_rules_set.as_ref(),
        &c.delivery_rules_cleared,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Deletes a campaign for good (its ledger and counters go with it).
pub async fn delete(tx: &mut PgConnection, org: OrgId, id: i64) -> sqlx::Result<()> {
    sqlx::query!("delete from campaigns where org_id = $1 and id = $2", org.0, id).execute(tx).await?;
    Ok(())
}

/// What the ids a campaign edit points at turned out to be.
#[derive(Debug, Default)]
pub struct ReferenceCheck {
    pub number: bool,
    pub template: Option<TemplateChoice>,
    pub header_media: bool,
    pub bot_flow: bool,
}

/// A chosen template's name, language and whether it can be sent now.
#[derive(Debug)]
pub struct TemplateChoice {
    pub name: String,
    pub language: String,
    pub status: String,
    pub missing: bool,
}

/// Looks up, within the organization, each id that is given.
pub async fn check_references(
    db: impl PgExecutor<'_>,
    org: OrgId,
    number_id: Option<i64>,
    template_id: Option<i64>,
    header_media_id: Option<i64>,
    bot_flow_id: Option<i64>,
) -> sqlx::Result<ReferenceCheck> {
    let row = sqlx::query!(
        r#"select exists (select 1 from wa_numbers where org_id = $1 and id = $2) as "number!",
                  exists (select 1 from media_assets where org_id = $1 and id = $4) as "media!",
                  exists (select 1 from bot_flows where org_id = $1 and id = $5) as "bot_flow!",
                  t.name as "template_name?", t.language as "template_language?", t.status as "template_status?",
                  (t.missing_since is not null) as "template_missing?"
           from (select 1) one
           left join templates t on t.org_id = $1 and t.id = $3"#,
        org.0,
        number_id,
        template_id,
        header_media_id,
        bot_flow_id,
    )
    .fetch_one(db)
    .await?;
    let template = match (row.template_name, row.template_language, row.template_status) {
        (Some(name), Some(language), Some(status)) => {
            Some(TemplateChoice { name, language, status, missing: row.template_missing.unwrap_or(false) })
        }
        _ => None,
    };
    Ok(ReferenceCheck { number: row.number, template, header_media: row.media, bot_flow: row.bot_flow })
}

/// The contact ids of `phones` (E.164) in the organization, and the phones
/// that are not contacts.
pub async fn resolve_test_phones(
    db: impl PgExecutor<'_>,
    org: OrgId,
    phones: &[String],
) -> sqlx::Result<(Vec<i64>, Vec<String>)> {
    let rows = sqlx::query!("select id, phone from contacts where org_id = $1 and phone = any($2)", org.0, phones)
        .fetch_all(db)
        .await?;
    let missing = phones.iter().filter(|p| !rows.iter().any(|r| &r.phone == *p)).cloned().collect();
    Ok((rows.into_iter().map(|r| r.id).collect(), missing))
}

/// A new Draft of the organization with the campaign's settings (kind,
/// number, audience (a fixed one too), test phones, template and bindings, header media, bot
/// flow, pace, delivery policy and rules) and none of its history; `None` when the
/// campaign is not the organization's.
pub async fn clone_as_draft(db: impl PgExecutor<'_>, org: OrgId, id: i64, name: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"insert into campaigns (org_id, kind, name, number_id, audience_tags, audience_valued_tags, audience_match,
                                  audience_contact_ids, retry_of, test_contact_ids, template_id, bindings,
                                  header_media_id, bot_flow_id, pace_per_second, pace_per_hour, delivery_policy,
                                  delivery_rules)
           select org_id, kind, $3, number_id, audience_tags, audience_valued_tags, audience_match,
                  audience_contact_ids, retry_of, test_contact_ids, template_id, bindings,
                  header_media_id, bot_flow_id,
                  pace_per_second, pace_per_hour, delivery_policy, delivery_rules
           from campaigns where org_id = $1 and id = $2
           returning id"#,
        org.0,
        id,
        name
    )
    .fetch_optional(db)
    .await
}

/// A new test campaign of the organization with the campaign's number,
/// template, bindings, header media, bot flow and delivery policy, sent to
/// `contact_ids` (a "Send a test" of a real campaign or a test one).
pub async fn clone_as_test(
    db: impl PgExecutor<'_>,
    org: OrgId,
    id: i64,
    name: &str,
    contact_ids: &[i64],
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!(
        r#"insert into campaigns (org_id, kind, name, number_id, test_contact_ids, template_id, bindings,
                                  header_media_id, bot_flow_id, pace_per_second, delivery_policy)
           select org_id, 'test', $3, number_id, $4, template_id, bindings,
                  header_media_id, bot_flow_id, pace_per_second, delivery_policy
           from campaigns where org_id = $1 and id = $2
           returning id"#,
        org.0,
        id,
        name,
        contact_ids
    )
    .fetch_optional(db)
    .await
}

/// How many recipients of the campaign a "Retry failed" would target.
pub async fn retryable_failures(db: impl PgExecutor<'_>, org: OrgId, id: i64, codes: &[i32]) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from recipients r
           join contacts c on c.id = r.contact_id and c.org_id = r.org_id
           where r.campaign_id = $2 and r.org_id = $1 and r.state = 'failed'
             and (r.reason_code = 'outcome_unknown' or r.meta_error_code = any($3))"#,
        org.0,
        id,
        codes
    )
    .fetch_one(db)
    .await
}

/// "Retry failed": a new Draft of the organization with the campaign's
/// settings, targeting exactly its recipients worth retrying (as
/// [`retryable_failures`] counts them) and marked as retrying it. Returns
/// the new id and how many contacts it targets; `None` when the campaign is
/// not the organization's or has no such recipient.
pub async fn retry_failed(
    db: impl PgExecutor<'_>,
    org: OrgId,
    id: i64,
    name: &str,
    codes: &[i32],
) -> sqlx::Result<Option<(i64, i32)>> {
    let row = sqlx::query!(
        r#"with src as (select * from campaigns where org_id = $1 and id = $2),
           failed as (
               select array_agg(r.contact_id order by r.contact_id) as ids
               from recipients r
               join contacts c on c.id = r.contact_id and c.org_id = r.org_id
               where r.campaign_id = $2 and r.org_id = $1 and r.state = 'failed'
                 and (r.reason_code = 'outcome_unknown' or r.meta_error_code = any($4))
           )
           insert into campaigns (org_id, kind, name, number_id, audience_contact_ids, test_contact_ids, retry_of,
                                  template_id, bindings, header_media_id, bot_flow_id, pace_per_second,
                                  pace_per_hour, delivery_policy, delivery_rules)
           select s.org_id, s.kind, $3, s.number_id, case when s.kind = 'real' then f.ids end,
                  case when s.kind = 'test' then f.ids else '{}' end, s.id, s.template_id, s.bindings,
                  s.header_media_id, s.bot_flow_id, s.pace_per_second, s.pace_per_hour, s.delivery_policy,
                  s.delivery_rules
           from src s, failed f
           where f.ids is not null
           returning id, cardinality(coalesce(audience_contact_ids, test_contact_ids)) as "contacts!""#,
        org.0,
        id,
        name,
        codes
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.id, r.contacts)))
}
